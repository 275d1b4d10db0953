"""A rollback the control plane refuses: exit 3, ``needs_attention``, and a later rollback.

Staged for real with ``runbooks/rollback-refused.yml``: its stage turns the legacy
redirect on for every path (in the 2018 lab that loops, so the guard fails on the first
probe round), then runs a shell step whose ``undo`` switches the lab's API to refusing
every call. The rollback undoes the newest step first, so the outage starts exactly
between the two undos, and the dictionary rollback meets it. The lab is served in its
own process; its admin API (``/lab/...``) is never subject to the faults, so the test
ends the outage as an operator would wait for one to end.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import cutover.testing as h
from cutover.errors import RunExit
from cutover.rollback import ROLLBACK_ATTEMPTS

RUNBOOK = Path(__file__).with_name("runbooks") / "rollback-refused.yml"
STEP = "flip/legacy redirect 302 for every path"


def run(state: Path, *extra: str, env: dict[str, str] | None = None) -> Any:
    return h.run_cutover(
        "run", RUNBOOK, "--env", "lab", "--yes", "--state-dir", state,
        "--var", f"python={sys.executable}", *extra, env=env, timeout=180,
    )  # fmt: skip


def redirect_mode(lab: Any) -> str:
    return str(h.fingerprint(lab.state())["legacy"]["dictionaries"]["redirects"]["mode"])


def status_lines(state: Path) -> list[str]:
    proc = h.run_cutover("status", "--state-dir", state)
    assert proc.returncode == 0, proc.stderr
    return list(proc.stdout.splitlines()[1:])  # after the "lab: served by …" line


@pytest.mark.parametrize(
    ("refusal", "error", "attempts"),
    [
        # transient: each call retried (retries: 2), the undo tried ROLLBACK_ATTEMPTS times
        pytest.param(503, "answered 503", ROLLBACK_ATTEMPTS, marks=pytest.mark.slow),
        # a refusal: never retried
        (403, "refused: 403 Service unavailable: lab fault injection", 1),
    ],
)
def test_a_refused_rollback_exits_3_and_a_later_rollback_finishes_it(
    lab: Any, state: Path, refusal: int, error: str, attempts: int
) -> None:
    initial = h.fingerprint(lab.state())
    legacy = lab.info["service_ids"]["legacy"]
    proc = run(state, "--var", f"refusal={refusal}")
    assert proc.returncode == RunExit.NEEDS_ATTENTION, proc.stdout + proc.stderr
    run_id = h.run_id_of(proc.stdout)
    report = proc.stdout.split("\n\n")[-1].splitlines()
    assert report[0] == f"run {run_id}: needs_attention (exit 3)"
    assert report[1].startswith(
        "  stage 'flip': redirect_loop seen (zero tolerance); the rollback failed:"
        f" {STEP}: fastly: GET /service/{legacy}/dictionary/"
    )
    assert report[1].endswith(f"/item/mode {error}")
    assert report[2:] == [
        f"  finish with: cutover rollback {run_id}",
        "  still applied (newest last):",
        f"    - {STEP} (rollback_failed)",
        f"  details: cutover show {run_id}",
        f"  report:  cutover report {run_id} -o run.html",
    ]
    retries = 2 if refusal >= 500 else 0
    # the actions' log lines go to the run's log file, not between the view's lines
    log = (state / "logs" / f"{run_id}.log").read_text(encoding="utf-8")
    assert log.count("control-plane call failed; retrying") == retries * attempts
    assert "control-plane call failed" not in proc.stderr

    events = h.events(state, run_id)
    assert [(e.kind, e.stage, e.step) for e in events][-4 - attempts :] == [
        ("stage_failed", "flip", None),
        ("rollback_started", None, None),
        ("rolled_back", "flip", 1),  # the shell undo: the outage begins
        *[("rollback_retry", "flip", 0)] * (attempts - 1),
        ("rollback_failed", "flip", 0),
        ("needs_attention", None, None),
    ]
    assert events[-1].data["still_applied"] == [f"{STEP} (rollback_failed)"]
    assert events[-2].data["error"].endswith(error)
    row = h.run_row(state, run_id)
    assert (row["status"], row["exit_code"]) == ("needs_attention", 3)
    assert redirect_mode(lab) == "302"  # still applied, as reported

    lines = status_lines(state)
    assert lines[0].startswith(f"{run_id}  rollback-refused on lab: needs_attention (pid ")
    assert lines[1:] == [
        f"    still applied: {STEP} (rollback_failed)",
        f"    next: cutover resume {run_id}   or   cutover rollback {run_id}",
    ]

    # no new run starts over it
    again = run(state)
    assert again.returncode == RunExit.INVALID
    assert f"run {run_id} (needs_attention, pid " in again.stderr
    assert f"may still have applied: {STEP}" in again.stderr
    assert h.run_ids(state) == [run_id]

    # while the control plane still refuses, the rollback still cannot finish: exit 3 again
    early = h.run_cutover("rollback", run_id, "--state-dir", state, timeout=180)
    assert early.returncode == RunExit.NEEDS_ATTENTION, early.stdout + early.stderr
    assert f"run {run_id}: needs_attention (exit 3)" in early.stdout
    assert f"  finish with: cutover rollback {run_id}" in early.stdout
    assert h.run_row(state, run_id)["status"] == "needs_attention"
    assert redirect_mode(lab) == "302"

    # the control plane recovers; the operator runs the printed command
    lab.clear_faults()
    done = h.run_cutover("rollback", run_id, "--state-dir", state, timeout=180)
    assert done.returncode == RunExit.OK, done.stdout + done.stderr
    assert f"run {run_id}: rolled_back (exit 0)" in done.stdout
    assert "requested by the operator; rolled back, verified by probes" in done.stdout
    assert h.fingerprint(lab.state()) == initial
    kinds = [(e.kind, e.stage, e.step) for e in h.events(state, run_id)]
    assert kinds[-5:] == [
        ("rollback_started", None, None),
        ("rolled_back", "flip", 0),
        ("probe_round", "rollback", None),
        ("guard", "rollback", None),
        ("rollback_verified", None, None),
    ]
    assert [k for k, _, _ in kinds].count("applied") == 2  # each step applied once, ever
    row = h.run_row(state, run_id)
    assert (row["status"], row["exit_code"]) == ("rolled_back", 0)
    assert status_lines(state) == ["no unfinished runs"]
    show = h.run_cutover("show", run_id, "--state-dir", state)
    assert show.stdout.rstrip().endswith("nothing is left applied")


@pytest.mark.slow
def test_after_a_crash_a_rollback_meeting_a_refusing_control_plane_needs_attention(
    lab: Any, state: Path
) -> None:
    """Killed right after the first step's ``intent``: the rollback must ask live state."""
    initial = h.fingerprint(lab.state())
    # journal writes: the run row, run_started, final_state_checked, stage_started, intent
    crashed = run(state, env={"CUTOVER_TEST_CRASH_AT": "5"})
    assert crashed.returncode == -9
    (run_id,) = h.run_ids(state)
    assert [(e.kind, e.step) for e in h.events(state, run_id)][-1] == ("intent", 0)

    lab.api_faults(error_rate=1.0, error_statuses=[503], seed=1)
    # resume cannot tell what is applied: it stops there, applying nothing
    resumed = h.run_cutover("resume", run_id, "--yes", "--state-dir", state, timeout=180)
    assert resumed.returncode == RunExit.NEEDS_ATTENTION, resumed.stdout + resumed.stderr
    assert "  cannot tell from live state what is applied: fastly: GET " in resumed.stdout
    assert f"  finish with: cutover rollback {run_id}" in resumed.stdout
    assert [e.kind for e in h.events(state, run_id)][-3:] == [
        "resumed", "reconcile_failed", "needs_attention",
    ]  # fmt: skip
    assert h.run_row(state, run_id)["status"] == "needs_attention"

    refused = h.run_cutover("rollback", run_id, "--state-dir", state, timeout=180)
    assert refused.returncode == RunExit.NEEDS_ATTENTION, refused.stdout + refused.stderr
    assert f"run {run_id}: needs_attention (exit 3)" in refused.stdout
    assert f"  finish with: cutover rollback {run_id}" in refused.stdout
    assert f"    - {STEP} (rollback_failed)" in refused.stdout
    kinds = [e.kind for e in h.events(state, run_id)]
    assert kinds[-3 - ROLLBACK_ATTEMPTS :] == [
        "reconcile_failed", "rollback_started", *["rollback_retry"] * (ROLLBACK_ATTEMPTS - 1),
        "rollback_failed", "needs_attention",
    ]  # fmt: skip
    assert h.run_row(state, run_id)["status"] == "needs_attention"

    lab.clear_faults()
    done = h.run_cutover("rollback", run_id, "--state-dir", state, timeout=180)
    assert done.returncode == RunExit.OK, done.stdout + done.stderr
    assert h.fingerprint(lab.state()) == initial
    assert h.run_row(state, run_id)["status"] == "rolled_back"
