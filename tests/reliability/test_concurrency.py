"""One run at a time per target (here the lab's legacy service), a dead holder handled safely.

A real ``cutover run`` of ``runbooks/hold-open.yml`` (one applied step, then a ten-minute
settle) holds the lock; the tests wait for its holder record and its ``applied`` journal
row (polling, bounded), never for a fixed time. The lab is served in its own process, so
its state outlives a holder killed with SIGKILL.
"""

from __future__ import annotations

import getpass
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

import cutover.testing as h
from cutover.errors import RunExit
from cutover.lock import HostLocks

HOLD = Path(__file__).with_name("runbooks") / "hold-open.yml"
STEP = "change/retarget the inactive legacy redirect"


class Holder:
    """A ``cutover run`` of the hold-open runbook in its own session (killable as a group)."""

    def __init__(self, state: Path, out: Path) -> None:
        self.state = state
        self.out = out
        with out.open("wb") as sink:
            self.proc = subprocess.Popen(
                h.cutover_argv("run", HOLD, "--env", "lab", "--yes", "--state-dir", state),
                env=h.cli_env(),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def holding(self) -> dict[str, Any]:
        """Wait until the lock record names this run and its step is journaled ``applied``."""

        def ready() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"the holder exited early:\n{self.output()}")
            holder = lock_record(self.state)
            if holder is None or holder["run_id"] not in h.run_ids(self.state):
                return None
            kinds = [e.kind for e in h.events(self.state, holder["run_id"])]
            return dict(holder) if "applied" in kinds else None

        return dict(h.wait_for("the holder's lock and applied step", ready, 90))

    def kill(self) -> None:
        h.kill_group(self.proc, signal.SIGKILL)
        self.proc.wait(timeout=30)


@pytest.fixture
def holders(tmp_path: Path, state: Path) -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        if holder.proc.poll() is None:
            holder.kill()


def start(holders: list[Holder], state: Path, tmp_path: Path) -> Holder:
    holder = Holder(state, tmp_path / f"holder{len(holders)}.out")
    holders.append(holder)
    return holder


def lock_record(state: Path) -> dict[str, Any] | None:
    """The holder record (in the host-wide lock directory) of a run of ``state``."""
    records = [asdict(r) for r in HostLocks().holders() if r.state == str(state.resolve())]
    assert len(records) <= 1, records
    return records[0] if records else None


def describe(info: dict[str, Any]) -> str:
    return (
        f"run {info['run_id']} (run of hold-open on lab) by {info['user']}@{info['host']},"
        f" pid {info['pid']}, since {info['started_at']}"
    )


@pytest.mark.slow
def test_a_second_run_is_refused_with_the_holders_details(
    lab: Any, state: Path, tmp_path: Path, holders: list[Holder]
) -> None:
    initial = h.fingerprint(lab.state())
    holder = start(holders, state, tmp_path)
    info = holder.holding()
    run_id = info["run_id"]
    assert info["pid"] == holder.proc.pid
    assert info["host"] == socket.gethostname()
    assert info["user"] == getpass.getuser()
    assert info["command"] == "run"
    assert info["started_at"][:4].isdigit() and info["started_at"].endswith("+00:00")

    second = h.run_cutover("run", HOLD, "--env", "lab", "--yes", "--state-dir", state, timeout=120)
    assert second.returncode == RunExit.INVALID, second.stdout + second.stderr
    sid = lab.info["service_ids"]["legacy"]
    assert f"error: fastly service {sid} at {lab.api_url} is locked by {describe(info)}" in (
        second.stderr
    )  # the target first in sorted order, then the holder
    assert f"see its run: `cutover show {run_id} --state {state.resolve()}`" in second.stderr
    assert second.stdout == ""
    assert h.run_ids(state) == [run_id]  # the refused run wrote nothing

    # nor can another terminal roll the live run back behind its back
    rollback = h.run_cutover("rollback", run_id, "--state-dir", state, timeout=120)
    assert rollback.returncode == RunExit.INVALID
    assert f"locked by {describe(info)}" in rollback.stderr

    # --force-unlock does not take the lock from a holder alive on this host
    forced = h.run_cutover(
        "run", HOLD, "--env", "lab", "--yes", "--force-unlock", "--state-dir", state, timeout=120
    )
    assert forced.returncode == RunExit.INVALID, forced.stdout + forced.stderr
    assert (
        f"will not force the lock of {describe(info)}: that process is alive on this host"
        in forced.stderr
    )
    assert f"`kill {info['pid']}`" in forced.stderr
    assert h.run_ids(state) == [run_id]
    assert holder.proc.poll() is None and holder.holding() == info

    # the holder, asked to stop, rolls back cleanly and releases the lock
    holder.proc.send_signal(signal.SIGTERM)
    assert holder.proc.wait(timeout=120) == RunExit.STOPPED, holder.output()
    assert f"run {run_id}: stopped (exit 4)" in holder.output()
    assert h.fingerprint(lab.state()) == initial
    assert lock_record(state) is None
    assert h.run_cutover("status", "--state-dir", state).stdout.splitlines()[-1] == (
        "no unfinished runs"
    )


@pytest.mark.slow
def test_a_holder_killed_with_sigkill_is_detected_and_its_run_must_be_finished_first(
    lab: Any, state: Path, tmp_path: Path, holders: list[Holder]
) -> None:
    initial = h.fingerprint(lab.state())
    holder = start(holders, state, tmp_path)
    info = holder.holding()
    run_id, pid, host, user = info["run_id"], info["pid"], info["host"], info["user"]
    holder.kill()
    changed = h.fingerprint(lab.state())
    assert changed["legacy"]["dictionaries"]["redirects"]["target_host"] == (
        "files.pythonhosted.org"
    )
    assert lock_record(state) == info  # a stale record

    status = h.run_cutover("status", "--state-dir", state)
    assert status.returncode == 0
    lines = status.stdout.splitlines()
    assert lines[1].startswith(
        f"{run_id}  hold-open on lab: interrupted (pid {pid} on {host}, {user}, since "
    )
    assert lines[2:] == [
        f"    still applied: {STEP} (applied)",
        f"    next: cutover resume {run_id}   or   cutover rollback {run_id}",
    ]

    # a new run detects the dead holder, and does not start over its applied step
    again = h.run_cutover("run", HOLD, "--env", "lab", "--yes", "--state-dir", state, timeout=120)
    assert again.returncode == RunExit.INVALID, again.stdout + again.stderr
    sid = lab.info["service_ids"]["legacy"]
    assert f"fastly service {sid} at {lab.api_url}" in again.stderr
    assert f"died: {describe(info)}" in again.stderr
    assert (
        f"run {run_id} (running, pid {pid} on {host}) did not finish and may still have"
        f" applied: {STEP}" in again.stderr
    )
    assert f"finish it first: `cutover resume {run_id}` or `cutover rollback {run_id}`" in (
        again.stderr
    )
    assert again.stdout == ""
    assert h.run_ids(state) == [run_id]
    assert h.fingerprint(lab.state()) == changed  # nothing was touched

    # the operator finishes the interrupted run; then a new run starts
    rollback = h.run_cutover("rollback", run_id, "--state-dir", state, timeout=180)
    assert rollback.returncode == RunExit.OK, rollback.stdout + rollback.stderr
    assert f"run {run_id}: rolled_back (exit 0)" in rollback.stdout
    assert h.fingerprint(lab.state()) == initial
    kinds = [(e.kind, e.stage, e.step) for e in h.events(state, run_id)]
    assert kinds[-1] == ("rollback_verified", None, None)
    assert ("rolled_back", "change", 0) in kinds
    assert [k for k, _, _ in kinds].count("applied") == 1
    assert h.run_row(state, run_id)["status"] == "rolled_back"

    fresh = h.run_cutover(
        "run", HOLD, "--env", "lab", "--yes", "--var", "settle=0s", "--state-dir", state,
        timeout=180,
    )  # fmt: skip
    assert fresh.returncode == RunExit.OK, fresh.stdout + fresh.stderr
    new_id = h.run_id_of(fresh.stdout)
    assert f"run {new_id}: completed (exit 0)" in fresh.stdout
    assert h.run_ids(state) == [run_id, new_id]
    assert h.fingerprint(lab.state()) == changed


@pytest.mark.slow
def test_force_unlock_clears_a_dead_holders_lock_but_not_its_unfinished_run(
    lab: Any, state: Path, tmp_path: Path, holders: list[Holder]
) -> None:
    initial = h.fingerprint(lab.state())
    holder = start(holders, state, tmp_path)
    info = holder.holding()
    run_id = info["run_id"]
    holder.kill()

    forced = h.run_cutover(
        "run", HOLD, "--env", "lab", "--yes", "--force-unlock", "--state-dir", state, timeout=120
    )
    assert forced.returncode == RunExit.INVALID, forced.stdout + forced.stderr
    assert f"removed the lock of {describe(info)}" in forced.stderr
    assert "the previous holder of" not in forced.stderr  # its record is gone
    assert f"run {run_id} (running, pid {info['pid']} on {info['host']}) did not finish" in (
        forced.stderr
    )
    assert h.run_ids(state) == [run_id]
    assert lock_record(state) is None

    rollback = h.run_cutover(
        "rollback", run_id, "--force-unlock", "--state-dir", state, timeout=180
    )
    assert rollback.returncode == RunExit.OK, rollback.stdout + rollback.stderr
    assert "removed the lock" not in rollback.stderr  # nothing left to remove
    assert h.fingerprint(lab.state()) == initial
    assert h.run_row(state, run_id)["status"] == "rolled_back"
