"""The shipped runbooks, run for real: the CLI in a subprocess, the lab on loopback.

Each test has its own state directory, so its lab world starts in the 2018 state.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

import pytest

from cutover.errors import RunExit


def run_id_of(stdout: str) -> str:
    first = stdout.splitlines()[0]
    assert first.startswith("run "), first
    return first.split()[1].rstrip(":")


def journal_kinds(state: Path, run_id: str) -> list[tuple[str, str | None]]:
    with contextlib.closing(sqlite3.connect(state / "journal.db")) as db:
        return list(
            db.execute("SELECT kind, stage FROM events WHERE run_id = ? ORDER BY id", (run_id,))
        )


@pytest.mark.slow
def test_the_careful_cutover_completes_in_the_2018_lab(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    proc = cli("run", "runbooks/pypi-files.yml", "--env", "lab", "--yes", "--state-dir", state)
    assert proc.returncode == RunExit.OK, proc.stdout + proc.stderr
    run_id = run_id_of(proc.stdout)
    assert f"run {run_id}: completed (exit 0)" in proc.stdout
    kinds = journal_kinds(state, run_id)
    passed = [stage for kind, stage in kinds if kind == "stage_passed"]
    assert passed == [
        "preflight",
        "fix-signing-scope",
        "ramp-1",
        "ramp-10",
        "ramp-50",
        "ramp-100",
        "permanent",
    ]
    assert [k for k, _ in kinds].count("intent") == [k for k, _ in kinds].count("applied") == 7
    # the lab's world moved on, and the next command sees it (one world across commands)
    status = cli(
        "check",
        "checks/pypi-files.yml",
        "--env",
        "lab",
        "--set",
        "via-legacy-flipped",
        "--format",
        "nagios",
        "--state-dir",
        state,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.startswith("CUTOVER OK - 202/202 probes passed")


@pytest.mark.slow
def test_without_the_fix_the_first_ramp_loops_and_is_rolled_back(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    proc = cli(
        "run", "runbooks/pypi-files.yml", "--yes", "--var", "skip_fix=true", "--state-dir", state
    )
    assert proc.returncode == RunExit.ROLLED_BACK, proc.stdout + proc.stderr
    run_id = run_id_of(proc.stdout)
    assert "stage fix-signing-scope: skipped (disabled)" in proc.stdout
    assert "STAGE FAILED: redirect_loop seen (zero tolerance)" in proc.stdout
    # the chain, its URLs' middles elided (docs/cli.md#the-terminal)
    assert re.search(
        r"^ +302 http://files\.pythonhosted\.org/(packages/)?…/\S+$", proc.stdout, re.M
    )
    assert f"run {run_id}: rolled_back (exit 1)" in proc.stdout
    kinds = journal_kinds(state, run_id)
    assert ("stage_failed", "ramp-1") in kinds
    assert [k for k, _ in kinds][-7:] == [
        "rollback_started",
        "rolled_back",
        "rollback_purged",  # rollback.purge: files, then legacy
        "rollback_purged",
        "probe_round",
        "guard",
        "rollback_verified",
    ]
    show = cli("show", run_id, "--state-dir", state)
    assert show.returncode == 0
    assert "guard FAIL: redirect_loop seen (zero tolerance)" in show.stdout
    assert "redirect_loop (loop of 2 hop(s)" in show.stdout
    assert show.stdout.rstrip().endswith("nothing is left applied")
    lab = cli(
        "check",
        "checks/pypi-files.yml",
        "--env",
        "lab",
        "--set",
        "files-miss",
        "--format",
        "nagios",
        "--state-dir",
        state,
    )
    assert lab.returncode == 0, lab.stdout  # the legacy configuration is back


def test_the_2018_replay_is_stopped_within_one_probe_round(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    proc = cli("run", "runbooks/pypi-2018-replay.yml", "--state-dir", state)
    assert proc.returncode == RunExit.ROLLED_BACK, proc.stdout + proc.stderr
    run_id = run_id_of(proc.stdout)
    kinds = journal_kinds(state, run_id)
    rounds_before_failure = [k for k, s in kinds if k == "probe_round" and s == "flip-everything"]
    assert rounds_before_failure == ["probe_round"]
    assert ("rollback_verified", None) in kinds
    history = cli("history", "--state-dir", state)
    assert f"{run_id}" in history.stdout and "rolled_back" in history.stdout


@pytest.mark.slow
def test_no_rollback_leaves_the_2018_flip_live_and_names_the_command(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`run --no-rollback`: the failed guard ends the run needing attention (exit 3) with
    the exact command, the changes stay live (the loop is still there), the choice is in
    the run's journaled options, and `cutover rollback RUN` undoes it and verifies."""
    state = tmp_path / "state"
    proc = cli("run", "runbooks/pypi-2018-replay.yml", "--no-rollback", "--state-dir", state)
    assert proc.returncode == RunExit.NEEDS_ATTENTION, proc.stdout + proc.stderr
    run_id = run_id_of(proc.stdout)
    assert f"run {run_id}: needs_attention (exit 3)" in proc.stdout
    assert f"automatic rollback is off: run `cutover rollback {run_id}`" in proc.stdout
    assert "flip-everything/legacy redirect 301 for every path" in proc.stdout  # still applied
    kinds = journal_kinds(state, run_id)
    assert ("rollback_skipped", None) in kinds
    assert not [k for k, _ in kinds if k.startswith("rollback_") and k != "rollback_skipped"]
    with contextlib.closing(sqlite3.connect(state / "journal.db")) as db:
        (options,) = db.execute("SELECT options FROM runs WHERE id = ?", (run_id,)).fetchone()
    assert '"no_rollback": true' in options
    misses = ("check", "checks/pypi-files.yml", "--env", "lab", "--set", "files-miss")
    looping = cli(*misses, "--format", "nagios", "--state-dir", state)
    assert looping.returncode == 2 and "redirect_loop" in looping.stdout, looping.stdout
    undone = cli("rollback", run_id, "--state-dir", state)
    assert undone.returncode == RunExit.OK, undone.stdout + undone.stderr
    assert "rolled back, verified by probes" in undone.stdout
    assert cli(*misses, "--format", "nagios", "--state-dir", state).returncode == 0
