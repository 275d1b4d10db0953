"""One run at a time per (runbook, environment): an OS file lock plus a holder record.

The lock itself is ``filelock`` (``flock`` on POSIX): the kernel releases it when its
holder dies, even by SIGKILL, so a dead holder never blocks anyone. Beside it, a small
JSON record says who holds it (host, pid, user, start time, run id); a second run is
refused with those details. When the lock is free but a record remains, its holder died
without cleaning up: that is reported (the interrupted run is then handled by the
journal: ``cutover resume`` or ``cutover rollback``). ``--force-unlock`` removes the
record and the lock file, for a holder on another host of a shared state directory.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from cutover.errors import LockHeldError
from cutover.journal import current_user, now, pid_alive


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    user: str
    started_at: str
    run_id: str
    command: str

    def describe(self) -> str:
        return (
            f"run {self.run_id} ({self.command}) by {self.user}@{self.host}, pid {self.pid},"
            f" since {self.started_at}"
        )

    @property
    def alive(self) -> bool | None:
        """True/False when the holder is on this host; None when it cannot be told."""
        if self.host != socket.gethostname():
            return None
        return pid_alive(self.pid)


class RunLock:
    """The lock of one (runbook, environment) pair in a state directory."""

    def __init__(self, state_dir: Path, runbook: str, environment: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{runbook}--{environment}")
        directory = state_dir / "locks"
        directory.mkdir(parents=True, exist_ok=True)
        self.lock_path = directory / f"{safe}.lock"
        self.record_path = directory / f"{safe}.holder.json"
        self._lock = FileLock(self.lock_path, timeout=0)
        self.stale: Holder | None = None  #: a dead holder found when acquiring

    def holder(self) -> Holder | None:
        try:
            data = json.loads(self.record_path.read_text(encoding="utf-8"))
            return Holder(**data)
        except (OSError, ValueError, TypeError):
            return None

    def acquire(self, run_id: str, command: str) -> None:
        """Take the lock or raise :class:`LockHeldError` naming the holder."""
        try:
            self._lock.acquire()
        except Timeout:
            holder = self.holder()
            who = holder.describe() if holder else "another process (no holder record)"
            raise LockHeldError(
                f"this runbook and environment are locked by {who}",
                hint="wait for it to finish; if that holder is gone for good (e.g. on another"
                " host), use --force-unlock",
            ) from None
        previous = self.holder()
        if previous is not None and previous.alive is not True:
            self.stale = previous
        record = Holder(socket.gethostname(), os.getpid(), current_user(), now(), run_id, command)
        tmp = self.record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)), encoding="utf-8")
        tmp.replace(self.record_path)

    def release(self) -> None:
        if self._lock.is_locked:
            self.record_path.unlink(missing_ok=True)
            self._lock.release()

    def force_unlock(self) -> Holder | None:
        """Remove the holder record and the lock file; returns the removed holder.

        Refused while the holder is alive on this host and still holds the lock: removing
        the file under it would let a second run start beside the first.
        """
        holder = self.holder()
        if holder is not None and holder.alive is True and self._held_elsewhere():
            raise LockHeldError(
                f"will not force the lock of {holder.describe()}: that process is alive on"
                " this host",
                hint=f"stop it first (Ctrl-C in its terminal, or `kill {holder.pid}`: it rolls"
                " back); --force-unlock is for a holder that is gone, e.g. on another host",
            )
        self.record_path.unlink(missing_ok=True)
        self.lock_path.unlink(missing_ok=True)
        self._lock = FileLock(self.lock_path, timeout=0)
        return holder

    def _held_elsewhere(self) -> bool:
        try:
            self._lock.acquire()
        except Timeout:
            return True
        self._lock.release()
        return False

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
