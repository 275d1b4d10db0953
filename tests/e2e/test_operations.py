"""Operating a run: gates without a terminal, Ctrl-C once and twice, plan, status."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cutover.errors import RunExit
from cutover.testing.lab_runbooks import LAB_FASTLY_HEAD

ROOT = Path(__file__).resolve().parents[2]

SLOW_RUNBOOK = (
    "name: slow\n"
    + LAB_FASTLY_HEAD
    + """\
  sh: {{kind: shell}}
probes:
  files-hit: {{include: {checks}}}
stages:
  - name: flip
    steps:
      - {{name: redirect 302, backend: cdn, service: legacy, dictionary: redirects,
         set: {{mode: "302", percent: 1}}}}
      - {{name: slow undo, backend: sh, command: ["true"], undo: [sh, -c, "{undo}"]}}
    settle: 60s
    probes: [files-hit]
guard: {{interval: 0}}  # the rollback's verification: rounds back to back in the lab
rollback:
  verify: [files-hit]
  settle: 0s  # the long settle only holds the run open
"""
)


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1"}


def start(runbook: Path, state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cutover", "run", str(runbook), "--state-dir", str(state)],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_event(state: Path, kind: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with contextlib.closing(sqlite3.connect(state / "journal.db")) as db:
                if db.execute("SELECT 1 FROM events WHERE kind = ?", (kind,)).fetchone():
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no {kind!r} event within {timeout}s")


def write_runbook(tmp_path: Path, undo: str = "true") -> Path:
    path = tmp_path / "slow.yml"
    checks = tmp_path / "pypi-files.yml"  # includes stay inside the runbook's folder
    checks.write_bytes((ROOT / "checks" / "pypi-files.yml").read_bytes())
    path.write_text(SLOW_RUNBOOK.format(checks=checks, undo=undo), "utf-8")
    return path


def test_a_gate_without_a_terminal_or_yes_is_refused_before_anything_changes(
    cli,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    state = tmp_path / "state"
    proc = cli("run", "runbooks/pypi-files.yml", "--state-dir", state)
    assert proc.returncode == RunExit.INVALID
    assert proc.stderr.splitlines()[0] == (
        "error: stage 'permanent' has `gate: confirm`, and there is no terminal to ask on"
    )
    assert "pass --yes to approve gates for automation" in proc.stderr
    assert cli("history", "--state-dir", state).stdout.splitlines()[1:] == []


@pytest.mark.slow
def test_one_interrupt_rolls_back_cleanly(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    proc = start(write_runbook(tmp_path), state)
    try:
        wait_for_event(state, "applied")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == RunExit.STOPPED, out + err
    assert "stopping: rolling back what was applied" in err
    assert "stopped (exit 4)" in out
    assert "rolled back: redirect 302" in out
    plan = cli("plan", tmp_path / "slow.yml", "--state-dir", state)
    assert "~ legacy dictionary redirects[mode]: 'off' → '302'" in plan.stdout


@pytest.mark.slow
def test_a_second_interrupt_stops_at_once_and_says_what_is_applied(
    cli,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    state = tmp_path / "state"
    fast = tmp_path / "fast"  # the undo is slow until this file exists
    proc = start(write_runbook(tmp_path, f"test -f {fast} || sleep 50"), state)
    try:
        wait_for_event(state, "applied")
        proc.send_signal(signal.SIGINT)
        wait_for_event(state, "rollback_started")
        time.sleep(0.3)  # the slow undo is running
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == RunExit.NEEDS_ATTENTION, out + err
    assert "stopped at once (second interrupt)" in out
    assert "    - flip/redirect 302 (applied)" in out
    status = cli("status", "--state-dir", state)
    assert "needs_attention" in status.stdout
    assert "still applied: flip/redirect 302 (applied)" in status.stdout
    fast.touch()
    finish = cli("rollback", "last", "--state-dir", state, timeout=180)
    assert finish.returncode == RunExit.OK, finish.stdout + finish.stderr


@pytest.mark.slow
def test_plan_shows_live_cumulative_diffs_and_writes_nothing(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    first = cli("plan", "runbooks/pypi-files.yml", "--state-dir", state)
    assert first.returncode == RunExit.OK, first.stderr
    lines = first.stdout.splitlines()
    # the snippet's VCL as a unified diff (its type and priority do not change)
    at = lines.index("        ~ files snippet s3-signing content:")
    assert lines[at + 1 : at + 3] == ["          --- live", "          +++ runbook"]
    assert not any(line.startswith("        ~ files snippet s3-signing: ") for line in lines)
    assert "        ~ legacy dictionary redirects[percent]: '100' → '1'" in lines
    assert "        ~ legacy dictionary redirects[percent]: '1' → '10'" in lines  # cumulative
    assert "        ~ legacy dictionary redirects[mode]: '302' → '301'" in lines
    again = cli("plan", "runbooks/pypi-files.yml", "--state-dir", state)
    assert again.stdout == first.stdout


@pytest.mark.slow
def test_json_log_format_prints_one_json_object_per_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    proc = cli(
        "--log-format",
        "json",
        "run",
        "runbooks/pypi-2018-replay.yml",
        "--state-dir",
        tmp_path / "state",
    )
    assert proc.returncode == RunExit.ROLLED_BACK, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    # every event says when it happened (ISO 8601, UTC, milliseconds), in order
    stamps = [event.pop("at") for event in events]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", s) for s in stamps)
    assert stamps == sorted(stamps)
    assert events[0]["event"] == "run" and events[0]["runbook"] == "pypi-2018-replay"
    kinds = [e["event"] for e in events]
    assert kinds[1] == "run_started"
    assert "stage_failed" in kinds and "rollback_verified" in kinds
    assert events[-1] == {
        "event": "outcome",
        "run_id": events[0]["run_id"],
        "status": "rolled_back",
        "exit_code": 1,
        "still_applied": [],
        "message": "stage 'flip-everything': redirect_loop seen (zero tolerance); rolled back,"
        " verified by probes",
    }
    failed = next(e for e in events if e["event"] == "probe_round" and e["failed"])
    assert failed["failures"][0]["reason"] == "redirect_loop"


@pytest.mark.slow
def test_the_live_view_on_a_terminal(tmp_path: Path) -> None:
    """On a TTY: the rich live panel, and the plain lines above it."""
    from cutover.testing.cli import on_terminal

    code, screen = on_terminal(
        "run", "runbooks/pypi-2018-replay.yml", "--state-dir", tmp_path / "state", cwd=ROOT
    )
    assert code == RunExit.ROLLED_BACK, screen
    assert "cutover · pypi-2018-replay" in screen  # the panel's title
    assert "probes" in screen and "guard" in screen
    assert "ROLLING BACK: stage 'flip-everything'" in screen
    assert "rolled_back (exit 1)" in screen
    # the one failure list, as `show` prints it: 5 chains, then how many more
    assert re.search(r"… and \d+ more failed probes in this round", screen)
    assert "\x1b[31m" not in screen  # NO_COLOR is set: no red
