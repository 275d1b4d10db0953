"""A second run of a completed runbook changes nothing; a partly migrated world runs only
what differs; ``--again`` forces the full sequence.

Against a lab served in its own process (``runbooks/pypi-files.yml --env lab``) and a real
nginx (``runbooks/nginx-switch.yml``), through the real CLI. "Nothing written" is checked
on the world itself: the lab's whole state (every version, every dictionary item with its
``updated_at``) is identical, and nginx's error log counts no new reload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

import cutover.testing as h
from cutover.actions.fastly import snippet_summary
from cutover.errors import RunExit
from cutover.lab.scenarios import FIX_2018

from .conftest import harness

FIX = {"type": "miss", "priority": 100, "content": FIX_2018["s3-signing"]}
PYPI_FILES = Path(__file__).resolve().parents[2] / "runbooks" / "pypi-files.yml"
PYPI = ["run", PYPI_FILES, "--env", "lab", "--yes"]
VERSION_STEPS = [("fix-signing-scope", 0), ("fix-signing-scope", 1)]
DICTIONARY_STEPS = [(f"ramp-{n}", 0) for n in (1, 10, 50, 100)] + [("permanent", 0)]
ALREADY = "already at target: live state holds the runbook's final state"


def _run(state: Path, *args: Any) -> tuple[str, Any]:
    ran = h.run_cutover(*args, "--state-dir", state, timeout=240)
    assert ran.returncode == RunExit.OK, ran.stdout + ran.stderr
    return h.run_id_of(ran.stdout), ran


def _steps(state: Path, run_id: str, kind: str) -> list[tuple[str | None, int | None]]:
    return [(e.stage, e.step) for e in h.events(state, run_id) if e.kind == kind]


@pytest.mark.slow
def test_a_second_run_of_the_completed_pypi_cutover_writes_nothing(lab: Any, state: Path) -> None:
    _run(state, *PYPI)
    completed = lab.state()
    assert h.fingerprint(completed) == h.migrated(h.fingerprint(completed))

    run_id, second = _run(state, *PYPI)

    assert f"{ALREADY} (5 values); nothing to write" in second.stdout
    assert f"run {run_id}: completed (exit 0)" in second.stdout
    assert "(pass --again to run the full sequence anyway)" in second.stdout
    # nothing written: every version and every item (with its updated_at) as it was
    assert lab.state() == completed
    events = h.events(state, run_id)
    assert [e.kind for e in events] == ["run_started", "already_at_target"]
    assert sorted(events[1].data["targets"]) == sorted(
        [
            f"= fastly {lab.info['service_ids']['files']} snippet s3-signing:"
            f" {snippet_summary(FIX)!r} (unchanged)",
            f"= fastly {lab.info['service_ids']['legacy']} domain pypi-files.s3.amazonaws.com:"
            " false (unchanged)",
            *(
                f"= fastly {lab.info['service_ids']['legacy']} dictionary redirects[{key}]:"
                f" {value!r} (unchanged)"
                for key, value in (("mode", "301"), ("percent", "100"), ("prefixes", "/"))
            ),
        ]
    )
    row = h.run_row(state, run_id)
    assert (row["status"], row["exit_code"]) == ("completed", 0)


@pytest.mark.slow
def test_a_partly_migrated_lab_runs_only_the_steps_that_differ(lab: Any, state: Path) -> None:
    """The redirect was turned down to 50 % by hand: the version steps already hold (they
    are skipped, no version is cloned), the ramp runs again and ends at the final state."""
    _run(state, *PYPI)
    legacy = lab.info["service_ids"]["legacy"]
    service = next(s for s in lab.state()["services"] if s["name"] == "legacy")
    active = next(v for v in service["versions"] if v["active"])
    redirects = next(d["id"] for d in active["dictionaries"] if d["name"] == "redirects")
    with httpx.Client(base_url=lab.api_url, headers={"Fastly-Key": lab.token}) as api:
        api.patch(
            f"/service/{legacy}/dictionary/{redirects}/items",
            json={"items": [{"op": "upsert", "item_key": "percent", "item_value": "50"}]},
        ).raise_for_status()
    before = lab.state()

    run_id, second = _run(state, *PYPI)

    assert f"run {run_id}: completed (exit 0)" in second.stdout
    assert "not yet at target: 1 values differ; running" in second.stdout
    assert second.stdout.count("skipped (already at target)") == 2
    assert _steps(state, run_id, "skipped") == VERSION_STEPS
    assert _steps(state, run_id, "intent") == _steps(state, run_id, "applied") == DICTIONARY_STEPS
    skipped = [e.data for e in h.events(state, run_id) if e.kind == "skipped"]
    assert {d["reason"] for d in skipped} == {
        "already at target: live state holds what the step would write"
    }
    after = lab.state()
    assert h.locked_versions(after) == h.locked_versions(before)  # no version cloned
    assert h.draft_versions(after) == h.draft_versions(before)
    assert h.fingerprint(after) == h.migrated(h.fingerprint(after))


@pytest.mark.slow
def test_nginx_a_second_run_neither_rewrites_nor_reloads(nginx_world: Any) -> None:
    state = nginx_world.state_dir
    args = ["run", harness.NGINX_RUNBOOK, *nginx_world.run_args(()), "--yes"]
    _run(state, *args)
    completed, reloads = nginx_world.snapshot(), nginx_world.activity()
    mtime = nginx_world.managed.stat().st_mtime_ns

    run_id, second = _run(state, *args)

    assert f"{ALREADY} (1 values); nothing to write" in second.stdout
    assert [e.kind for e in h.events(state, run_id)] == ["run_started", "already_at_target"]
    assert nginx_world.snapshot() == completed
    assert nginx_world.activity() == reloads  # not reloaded
    assert nginx_world.managed.stat().st_mtime_ns == mtime  # not rewritten


SHELL_RUNBOOK = """\
version: 1
name: flags
environments: {local: {}}
backends:
  sh: {kind: shell, cwd: "%s"}
stages:
  - name: set
    steps:
      - {name: flag, backend: sh, command: [touch, flag], undo: [rm, -f, flag],
         check: [test, -e, flag]}
%s"""
UNCHECKED = """\
      - {name: log, backend: sh, command: [sh, -c, "echo x >> log"], undo: [rm, -f, log]}
"""


@pytest.mark.slow
def test_again_forces_the_full_sequence(tmp_path: Path) -> None:
    runbook = tmp_path / "flags.yml"
    runbook.write_text(SHELL_RUNBOOK % (tmp_path, ""), encoding="utf-8")
    state, args = tmp_path / "state", ["run", runbook, "--env", "local"]
    _run(state, *args)
    run_id, _ = _run(state, *args)
    assert [e.kind for e in h.events(state, run_id)] == ["run_started", "already_at_target"]

    run_id, again = _run(state, *args, "--again")

    assert f"run {run_id}: completed (exit 0)" in again.stdout
    assert _steps(state, run_id, "intent") == _steps(state, run_id, "applied") == [("set", 0)]
    assert '"again": true' in h.run_row(state, run_id)["options"]


def test_a_step_that_cannot_be_read_keeps_the_run_from_claiming_already_holds(
    tmp_path: Path,
) -> None:
    """A shell step with no check: its state cannot be read, so the second run says so
    and runs; the checked step is skipped, the unchecked one runs again."""
    runbook = tmp_path / "flags.yml"
    runbook.write_text(SHELL_RUNBOOK % (tmp_path, UNCHECKED), encoding="utf-8")
    state, args = tmp_path / "state", ["run", runbook, "--env", "local"]
    _run(state, *args)

    run_id, second = _run(state, *args)

    assert (
        "cannot tell whether the runbook's final state already holds: live state cannot be"
        " read for set/log (no check command); running"
    ) in second.stdout
    assert f"run {run_id}: completed (exit 0)" in second.stdout
    assert _steps(state, run_id, "skipped") == [("set", 0)]
    assert _steps(state, run_id, "applied") == [("set", 1)]
    assert (tmp_path / "log").read_text() == "x\nx\n"
