"""Steering a running run against the lab from another process: promote, abort, pause,
approve (each verb a real ``cutover`` subprocess, the run another), and the refusals."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cutover.errors import RunExit
from cutover.testing.cli import cli_env, cutover_argv, on_terminal, run_cutover
from cutover.testing.lab_runbooks import LAB_FASTLY_HEAD

ROOT = Path(__file__).resolve().parents[2]

RUNBOOK = (
    "name: steered\n"
    + LAB_FASTLY_HEAD
    + """\
probes:
  files-hit: {{include: {checks}}}
guard: {{interval: 0, min_samples: 5, budget: 600s{guard}}}
stages:
  - name: nudge
    steps:
      - {{name: percent 50, backend: cdn, service: legacy, dictionary: redirects,
         set: {{percent: "50"}}}}
    probes: [files-hit]
{nudge}
  - name: signed-off
{gated}
    steps:
      - {{name: percent 60, backend: cdn, service: legacy, dictionary: redirects,
         set: {{percent: "60"}}}}
    probes: [files-hit]
rollback:
  verify: [files-hit]
"""
)


def write(tmp_path: Path, *, nudge: str = "", gated: str = "", guard: str = "") -> Path:
    checks = tmp_path / "pypi-files.yml"
    checks.write_bytes((ROOT / "checks" / "pypi-files.yml").read_bytes())
    path = tmp_path / "steered.yml"
    text = RUNBOOK.format(checks=checks, nudge=nudge, gated=gated, guard=guard)
    path.write_text(text, "utf-8")
    return path


def start(runbook: Path, state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cutover_argv("run", runbook, "--state", state),
        cwd=ROOT,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def rows(state: Path, kind: str) -> list[tuple[str | None, dict[str, Any]]]:
    with contextlib.closing(sqlite3.connect(state / "journal.db")) as db:
        found = db.execute("SELECT stage, data FROM events WHERE kind = ? ORDER BY id", (kind,))
        return [(stage, json.loads(data)) for stage, data in found.fetchall()]


def wait_for(state: Path, kind: str, count: int = 1, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.Error):
            if len(rows(state, kind)) >= count:
                return
        time.sleep(0.05)
    raise AssertionError(f"no {kind!r} event within {timeout}s")


def verb(state: Path, name: str, who: str) -> subprocess.CompletedProcess[str]:
    return run_cutover(name, "last", "--state", state, env={"CUTOVER_IDENTITY": who}, cwd=ROOT)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    return proc.returncode, out + err


def during_a_pause(
    tmp_path: Path, name: str, who: str
) -> tuple[Path, subprocess.CompletedProcess[str], int, str]:
    """Start a run whose first stage pauses 10 minutes; ``cutover NAME`` during the pause."""
    state = tmp_path / "state"
    proc = start(write(tmp_path, nudge="    pause: 10m"), state)
    wait_for(state, "pause_started")
    asked = verb(state, name, who)
    code, out = finish(proc)
    assert asked.returncode == 0, asked.stderr
    return state, asked, code, out


def test_promote_ends_a_pause_stage_and_the_run_completes(tmp_path: Path) -> None:
    state, asked, code, out = during_a_pause(tmp_path, "promote", "alice@ops")
    assert asked.stdout.startswith("promote of run ") and "requested by alice@ops" in asked.stdout
    assert code == RunExit.OK, out
    run_id = asked.stdout.split()[3]
    assert rows(state, "pause_started") == [
        (
            "nudge",
            {
                "by": "runbook",
                "seconds": 600.0,
                "message": f"pausing 600s: `cutover promote {run_id}` ends it early",
            },
        )
    ]
    assert rows(state, "pause_ended") == [
        (
            "nudge",
            {"by": "alice@ops", "how": "promoted", "message": "pause ended: promoted by alice@ops"},
        )
    ]
    assert "  pause ended: promoted by alice@ops\n" in out
    assert rows(state, "control_requested") == [("nudge", {"by": "alice@ops", "verb": "promote"})]


def test_abort_rolls_back_now_verified_and_the_run_exits_4(tmp_path: Path) -> None:
    state, _, code, out = during_a_pause(tmp_path, "abort", "bob@ops")
    assert code == RunExit.STOPPED, out
    assert "stopped (exit 4)" in out
    assert "aborted by bob@ops (cutover abort); rolled back, verified by probes" in out
    assert rows(state, "interrupted") == [(None, {"reason": "aborted by bob@ops (cutover abort)"})]
    assert [s for s, _ in rows(state, "rolled_back")] == ["nudge"]
    assert len(rows(state, "rollback_verified")) == 1
    assert rows(state, "pause_ended") == []  # the abort ended the pause: the run did not go on


@pytest.mark.slow
def test_pause_holds_a_probing_stage_until_promote_and_abort_cuts_an_interval_short(
    tmp_path: Path,
) -> None:
    """`cutover pause` during the wait between probe rounds, `promote` to go on; `abort`
    during a long interval takes effect without waiting the interval out."""
    state = tmp_path / "state"
    interval = 120.0
    runbook = write(
        tmp_path,
        guard=", min_duration: 300s",
        nudge=f"    guard: {{interval: {interval:g}s}}",
    )
    proc = start(runbook, state)
    wait_for(state, "probe_round")
    paused = verb(state, "pause", "carol@ops")
    wait_for(state, "pause_started")
    again = verb(state, "pause", "carol@ops")
    promoted = verb(state, "promote", "dave@ops")
    wait_for(state, "pause_ended")
    wait_for(state, "probe_round", 2)  # probing went on after the pause
    asked = time.monotonic()
    aborted = verb(state, "abort", "erin@ops")
    code, out = finish(proc)
    took = time.monotonic() - asked
    assert (paused.returncode, promoted.returncode, aborted.returncode) == (0, 0, 0)
    assert again.returncode == RunExit.INVALID
    assert "is already paused (or a pause is pending)" in again.stderr
    run_id = paused.stdout.split()[3]
    assert rows(state, "pause_started") == [
        (
            None,
            {
                "by": "carol@ops",
                "seconds": None,
                "message": f"paused by carol@ops: continue with `cutover promote {run_id}`",
            },
        )
    ]
    assert [d["by"] for _, d in rows(state, "pause_ended")] == ["dave@ops"]
    assert code == RunExit.STOPPED, out
    assert took < interval / 2  # the abort did not wait for the next round
    assert [d["verb"] for _, d in rows(state, "control_requested")] == [
        "pause",
        "promote",
        "abort",
    ]


@pytest.mark.slow
def test_a_gate_with_two_approvers_needs_two_distinct_people(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = start(write(tmp_path, gated="    gate: {approvers: 2}"), state)
    wait_for(state, "gate_waiting")
    first = verb(state, "approve", "alice@ops")
    twice = verb(state, "approve", "alice@ops")
    promote_twice = verb(state, "promote", "alice@ops")
    second = verb(state, "approve", "bob@ops")
    code, out = finish(proc)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "approval of the gate before stage 'signed-off'" in first.stdout
    for refused in (twice, promote_twice):
        assert refused.returncode == RunExit.INVALID
        assert "error: alice@ops already approved the gate before stage 'signed-off'" in (
            refused.stderr
        )
    assert code == RunExit.OK, out
    run_id = first.stdout.split()[-4]
    assert f"  gate: waiting for 2 approvals: `cutover approve {run_id}`\n" in out
    waiting = rows(state, "gate_waiting")
    assert waiting[0][0] == "signed-off"
    assert waiting[0][1]["approvers"] == 2 and waiting[0][1]["waiting_for"] == "approvals"
    assert rows(state, "gate_approved") == [("signed-off", {"by": ["alice@ops", "bob@ops"]})]


@pytest.mark.slow
def test_every_verb_on_a_finished_run_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code, out = finish(start(write(tmp_path), state))
    assert code == RunExit.OK, out
    for name in ("promote", "abort", "pause", "approve"):
        refused = verb(state, name, "alice@ops")
        assert refused.returncode == RunExit.INVALID, name
        assert refused.stderr.splitlines()[0].endswith(f"is completed: nothing to {name}")
    assert rows(state, "control_requested") == []


@pytest.mark.slow
def test_a_gate_declined_at_the_terminal_holds_then_resume_finishes(tmp_path: Path) -> None:
    """`on_decline: hold` on a real terminal: exit 3, status held, the steps stay live;
    `status` offers both commands; `resume --yes` asks the gate again and completes."""
    state = tmp_path / "state"
    runbook = write(tmp_path, gated="    gate: {confirm: true, on_decline: hold}")
    code, screen = on_terminal(
        "run",
        runbook,
        "--state",
        state,
        cwd=ROOT,
        env={"COLUMNS": "200", "CUTOVER_IDENTITY": "olivia@ops"},
        answers={b"Proceed with stage 'signed-off'?": b"n\n"},
    )
    assert code == RunExit.NEEDS_ATTENTION, screen
    run_id = screen.split("run ", 1)[1].split(":", 1)[0]
    assert f"run {run_id}: held (exit 3)" in screen
    assert f"continue with: cutover resume {run_id}" in screen
    assert "nudge/percent 50 (applied)" in screen
    assert rows(state, "gate_declined") == [("signed-off", {"by": "olivia@ops", "then": "hold"})]
    status = run_cutover("status", "--state", state, cwd=ROOT)
    assert f"{run_id}  steered on lab: held" in status.stdout
    assert "    still applied: nudge/percent 50 (applied)" in status.stdout
    assert f"    next: cutover resume {run_id}   or   cutover rollback {run_id}" in status.stdout
    finished = run_cutover("resume", run_id, "--yes", "--state", state, cwd=ROOT)
    assert finished.returncode == RunExit.OK, finished.stdout + finished.stderr
    assert f"run {run_id}: completed (exit 0)" in finished.stdout
    assert [s for s, _ in rows(state, "gate_approved")] == ["signed-off"]


@pytest.mark.slow
def test_a_remote_decline_applies_the_gates_on_decline(tmp_path: Path) -> None:
    """`cutover decline RUN` at a gate waiting for approvers: `hold` ends the run held
    (exit 3, the steps stay), `rollback` rolls every applied step back, verified (exit 4);
    each journaled with who declined. A second decline is refused."""
    results = {}
    for then in ("hold", "rollback"):
        state = tmp_path / then / "state"
        state.parent.mkdir()
        gated = f"    gate: {{approvers: 2, on_decline: {then}}}"
        proc = start(write(state.parent, gated=gated), state)
        wait_for(state, "gate_waiting")
        approved = verb(state, "approve", "alice@ops")
        declined = verb(state, "decline", "mallory@ops")
        again = verb(state, "decline", "trent@ops")
        code, out = finish(proc)
        assert (approved.returncode, declined.returncode) == (0, 0), declined.stderr
        assert declined.stdout.startswith("decline of the gate before stage 'signed-off' of run")
        assert again.returncode in (RunExit.INVALID,), again.stdout
        results[then] = (state, code, out)
        assert rows(state, "gate_declined") == [
            ("signed-off", {"by": "mallory@ops", "then": then, "how": "cutover decline"})
        ]
        assert rows(state, "gate_approved") == []
        assert [d["verb"] for _, d in rows(state, "control_requested")] == ["approve", "decline"]
    state, code, out = results["hold"]
    assert code == RunExit.NEEDS_ATTENTION, out
    run_id = out.split("run ", 1)[1].split(":", 1)[0]
    assert f"run {run_id}: held (exit 3)" in out
    assert "held at the gate before stage 'signed-off' (declined by mallory@ops)" in out
    assert "nudge/percent 50 (applied)" in out
    assert rows(state, "rolled_back") == []
    assert [d["by"] for _, d in rows(state, "gate_held")] == ["mallory@ops"]
    state, code, out = results["rollback"]
    assert code == RunExit.STOPPED, out
    assert rows(state, "interrupted") == [
        (None, {"reason": "gate before stage 'signed-off' declined by mallory@ops"})
    ]
    assert [s for s, _ in rows(state, "rolled_back")] == ["nudge"]
    assert len(rows(state, "rollback_verified")) == 1


@pytest.mark.slow
def test_decline_without_a_waiting_gate_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    """During a pause (nothing waits for approvals) and after the run: exit 2, no row."""
    state, _, code, out = during_a_pause(tmp_path, "promote", "alice@ops")
    assert code == RunExit.OK, out
    refused = verb(state, "decline", "mallory@ops")
    assert refused.returncode == RunExit.INVALID
    assert refused.stderr.splitlines()[0].endswith("is completed: nothing to decline")
    state = tmp_path / "paused" / "state"
    state.parent.mkdir()
    proc = start(write(state.parent, nudge="    pause: 10m"), state)
    wait_for(state, "pause_started")
    during = verb(state, "decline", "mallory@ops")
    verb(state, "abort", "alice@ops")
    finish(proc)
    assert during.returncode == RunExit.INVALID
    assert during.stderr.splitlines()[0].endswith("has no gate waiting (it is paused)")
    assert [d["verb"] for _, d in rows(state, "control_requested")] == ["abort"]


@pytest.mark.slow
def test_a_held_run_and_its_rollback_each_write_the_runbooks_report(tmp_path: Path) -> None:
    """`report: {path: reports/{run_id}.md}` (from the runbook's folder): written when the
    run is held by a remote decline, and again when `cutover rollback` (from elsewhere)
    finishes it; the final lines name the file each time."""
    state = tmp_path / "state"
    runbook = write(tmp_path, gated="    gate: {approvers: 1, on_decline: hold}")
    runbook.write_text(runbook.read_text("utf-8") + "report: {path: 'reports/{run_id}.md'}\n")
    proc = start(runbook, state)
    wait_for(state, "gate_waiting")
    assert verb(state, "decline", "mallory@ops").returncode == 0
    code, out = finish(proc)
    assert code == RunExit.NEEDS_ATTENTION, out
    run_id = out.split("run ", 1)[1].split(":", 1)[0]
    written = tmp_path / "reports" / f"{run_id}.md"
    assert f"\n  report:  {written}\n" in out
    held = written.read_text("utf-8").splitlines()
    assert held[0] == f"## cutover run {run_id}: steered on lab"
    assert held[2] == (
        "**held (exit 3)**: a human must act: held at a gate; every applied step stays in place"
    )
    rolled = run_cutover("rollback", run_id, "--state", state, cwd=tmp_path / "state")
    assert rolled.returncode == RunExit.OK, rolled.stdout + rolled.stderr
    assert f"\n  report:  {written}\n" in rolled.stdout
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [written.name]
    after = written.read_text("utf-8").splitlines()
    assert after[2] == (
        "**rolled_back (exit 0)**: rolled back on request (`cutover rollback`); the rollback"
        " was verified"
    )
