"""Locks on what a run changes (its *targets*), host-wide, whatever the state directory.

Each action kind names the thing a step changes (:meth:`cutover.actions.base.Action.target_id`:
an nginx file's real path, an http setting's URL, a Fastly service at its API URL, a
shell backend's ``lock_key``); :mod:`cutover.lock_targets` collects those of a runbook. A
run (and a ``resume`` or ``rollback``) takes a lock on every one of them before
preflight and releases them at the end, so two runs that share any target never
overlap, whatever directory they start in and whatever state directory they use.

The store here, :class:`HostLocks`, is one directory per host (:func:`lock_dir`):
``$CUTOVER_LOCK_DIR``, else ``/run/lock/cutover``, else ``/tmp/cutover-locks``, created
world-writable with the sticky bit, like ``/tmp``, so every user's runs meet there. Each
target is one file, named by a hash of the target; the lock is ``flock`` on it (the
kernel releases it when its holder dies, even by SIGKILL), and the file's content is the
holder record (run id, command, runbook, environment, state directory, user, host, pid,
start time). Files are mode 0666, so another user can take a free lock; the record is
emptied on release, so a record found when acquiring is a holder that died.

Targets are taken in sorted order, without waiting, all or nothing: of two runs sharing
targets, the first to take the smallest shared one runs and the other is refused with
the holder's details and the command to see its run. :class:`LockStore` is the interface
a second store implements: :class:`cutover.pg_store.PostgresLocks`, advisory locks in a
PostgreSQL database shared by several hosts. A run with such a store takes its targets in
both (:func:`acquire_all`: the host's first), so it excludes the runs of every host that
share the database and every run of this host, whatever its store.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cutover.errors import InputError, LockHeldError
from cutover.process import alive_here

LOCK_DIR_ENV = "CUTOVER_LOCK_DIR"
#: Host-wide places tried in order when $CUTOVER_LOCK_DIR is not set.
SHARED_LOCK_DIRS = (Path("/run/lock/cutover"), Path("/tmp/cutover-locks"))
_READ_ATTEMPTS = 5  #: a record being rewritten is read again, briefly
RECORD_WAIT_S = 2.0  #: how long a refused run waits for the holder's record to appear


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock: enough to find the run and its process."""

    run_id: str
    command: str
    runbook: str
    environment: str
    state: str  #: the holder's state directory (absolute)
    user: str
    host: str
    pid: int
    started_at: str

    def describe(self) -> str:
        return (
            f"run {self.run_id} ({self.command} of {self.runbook} on {self.environment}) by"
            f" {self.user}@{self.host}, pid {self.pid}, since {self.started_at}"
        )

    def show_command(self) -> str:
        return f"cutover show {self.run_id} --state {self.state}"

    @property
    def alive(self) -> bool | None:
        """True/False when the holder is on this host; None when it cannot be told."""
        return alive_here(self.host, self.pid)


@dataclass
class Stale:
    """A dead holder's record, found on the targets just locked."""

    holder: Holder
    targets: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"the previous holder of {', '.join(self.targets)} died: {self.holder.describe()}"


class HeldLocks(ABC):
    """The locks of one run; :meth:`release` gives them all back."""

    stale: list[Stale]

    @abstractmethod
    def release(self, keep_stale: bool = False) -> None:
        """Give every lock back; ``keep_stale``: put the dead holders' records back (the
        run was refused because of them, and the next one must see them too)."""

    def add_stale(self, holder: Holder, targets: Iterable[str]) -> None:
        """Note a dead holder of ``targets`` (one :class:`Stale` per holder)."""
        for item in self.stale:
            if item.holder == holder:
                item.targets.extend(t for t in targets if t not in item.targets)
                return
        self.stale.append(Stale(holder, list(targets)))

    def __enter__(self) -> HeldLocks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class LockStore(ABC):
    """Where target locks live. All or nothing; a refusal is :class:`LockHeldError`."""

    @abstractmethod
    def acquire(self, targets: Iterable[str], holder: Holder) -> HeldLocks:
        """Lock every target for ``holder``, or none (naming the holder in the way)."""

    @abstractmethod
    def force_unlock(self, targets: Iterable[str]) -> list[Holder]:
        """Remove dead holders' records of these targets; refused for a live holder."""

    @abstractmethod
    def holders(self) -> list[Holder]:
        """Every holder record in the store (live, or dead and not yet cleared)."""


class _AllHeld(HeldLocks):
    """The locks of one run in several stores, released in reverse order."""

    def __init__(self) -> None:
        self.parts: list[HeldLocks] = []
        self.stale = []

    def release(self, keep_stale: bool = False) -> None:
        while self.parts:
            self.parts.pop().release(keep_stale)


def acquire_all(stores: Iterable[LockStore], targets: Iterable[str], holder: Holder) -> HeldLocks:
    """Every target in every store, or nothing; dead holders found in any are reported
    once (the same dead run in two stores is one :class:`Stale`)."""
    wanted = sorted(set(targets))
    held = _AllHeld()
    try:
        for store in stores:
            part = store.acquire(wanted, holder)
            held.parts.append(part)
            for item in part.stale:
                held.add_stale(item.holder, item.targets)
    except BaseException:
        held.release()
        raise
    return held


def lock_dir() -> Path:
    """The host-wide lock directory, created (mode 1777) if needed."""
    named = os.environ.get(LOCK_DIR_ENV)
    if named:
        return _prepared(Path(named))
    problems: list[str] = []
    for candidate in SHARED_LOCK_DIRS:
        try:
            return _prepared(candidate)
        except InputError as exc:
            problems.append(exc.message)
    raise InputError(
        "no usable host-wide lock directory: " + "; ".join(problems),
        hint=f"set {LOCK_DIR_ENV} to a directory every operator of this host can write",
    )


def _prepared(path: Path) -> Path:
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                path.mkdir()
                path.chmod(0o1777)  # shared like /tmp: anyone may add, none may remove
        info = path.lstat()
    except OSError as exc:
        raise InputError(f"lock directory {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise InputError(f"lock directory {path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"lock directory {path} is not writable by this user")
    return path


class HostLocks(LockStore):
    """Target locks as ``flock``-ed files in one directory of this host."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else lock_dir()

    def path_of(self, target: str) -> Path:
        digest = hashlib.sha256(target.encode("utf-8")).hexdigest()[:32]
        return self.directory / f"{digest}.lock"

    def acquire(self, targets: Iterable[str], holder: Holder) -> HeldLocks:
        held = _HostHeld()
        try:
            for target in sorted(set(targets)):
                fd = self._open(target)
                if not _try_lock(fd):
                    os.close(fd)
                    raise self._refusal(target)
                held.fds.append(fd)
                previous = _read_record(fd)
                if previous is not None:
                    held.note_stale(previous, target, os.pread(fd, 65536, 0))
                _write_record(fd, {"target": target, **asdict(holder)})
        except BaseException:
            held.release()
            raise
        return held

    def force_unlock(self, targets: Iterable[str]) -> list[Holder]:
        removed: list[Holder] = []
        for target in sorted(set(targets)):
            path = self.path_of(target)
            if not path.exists():
                continue
            fd = self._open(target)
            try:
                if not _try_lock(fd):
                    holder = self.holder(target)
                    who = holder.describe() if holder else f"the holder of {target}"
                    pid = f"`kill {holder.pid}`" if holder else "its process"
                    raise LockHeldError(
                        f"will not force the lock of {who}: that process is alive on this host",
                        hint=f"stop it first (Ctrl-C in its terminal, or {pid}: it rolls"
                        " back); --force-unlock only clears the record of a holder that is gone",
                    )
                previous = _read_record(fd)
                if previous is not None and previous not in removed:
                    removed.append(previous)
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)  # closing releases the flock
        return removed

    def holder(self, target: str) -> Holder | None:
        try:
            fd = os.open(self.path_of(target), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            return _read_record(fd)
        finally:
            os.close(fd)

    def holders(self) -> list[Holder]:
        found: list[Holder] = []
        for path in sorted(self.directory.glob("*.lock")):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                record = _read_record(fd)
            finally:
                os.close(fd)
            if record is not None and record not in found:
                found.append(record)
        return found

    def _refusal(self, target: str) -> LockHeldError:
        # a holder writes its record just after taking the lock: a refusal that lands in
        # between waits (a bounded moment) for it, so it can name who holds the target
        holder = self.holder(target)
        deadline = time.monotonic() + RECORD_WAIT_S
        while holder is None and time.monotonic() < deadline:
            time.sleep(0.02)
            holder = self.holder(target)
        if holder is None:
            return LockHeldError(
                f"{target} is locked by another process (no holder record)",
                hint=f"wait for it to finish; its lock file is {self.path_of(target)}",
            )
        return locked_by(target, holder)

    def _open(self, target: str) -> int:
        """Open (or create, mode 0666) the lock file of ``target`` for reading and writing.

        An existing file is opened without ``O_CREAT``: in a sticky world-writable
        directory, Linux's ``protected_regular`` refuses ``O_CREAT`` on another user's file.
        """
        path = self.path_of(target)
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
        for _ in range(3):
            try:
                return os.open(path, flags)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise _unusable(path, exc) from None
            try:
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue  # another process created it just now: open it
            except OSError as exc:
                raise _unusable(path, exc) from None
            os.fchmod(fd, 0o666)  # whatever the umask: other users must be able to lock it
            return fd
        raise _unusable(path, OSError(errno.EAGAIN, "created and removed repeatedly"))


def locked_by(target: str, holder: Holder) -> LockHeldError:
    """The refusal of a run because ``holder`` holds ``target`` (any store)."""
    from cutover.process import hostname

    stop = f"`kill {holder.pid}`" if holder.host == hostname() else f"on {holder.host}"
    return LockHeldError(
        f"{target} is locked by {holder.describe()}",
        hint=f"see its run: `{holder.show_command()}`; wait for it to finish, or stop it"
        f" (Ctrl-C in its terminal, or {stop}: it rolls back)",
    )


class _HostHeld(HeldLocks):
    def __init__(self) -> None:
        self.fds: list[int] = []
        self.stale = []
        self._records: dict[int, bytes] = {}  #: fd → the dead holder's record

    def note_stale(self, holder: Holder, target: str, record: bytes) -> None:
        self._records[self.fds[-1]] = record
        self.add_stale(holder, [target])

    def release(self, keep_stale: bool = False) -> None:
        while self.fds:
            fd = self.fds.pop()
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # an empty record: released cleanly
                if keep_stale and fd in self._records:
                    os.pwrite(fd, self._records[fd], 0)
            os.close(fd)  # closing releases the flock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_record(fd: int) -> Holder | None:
    """The holder record in a lock file; None when empty (released) or unreadable."""
    for attempt in range(_READ_ATTEMPTS):
        raw = os.pread(fd, 65536, 0)
        if not raw.strip():
            return None
        try:
            data = json.loads(raw)
            data.pop("target", None)
            return Holder(**data)
        except (ValueError, TypeError):
            if attempt + 1 < _READ_ATTEMPTS:
                time.sleep(0.01)  # being rewritten by its holder right now
    return None


def _write_record(fd: int, record: dict[str, object]) -> None:
    data = json.dumps(record).encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _unusable(path: Path, exc: OSError) -> InputError:
    return InputError(
        f"cannot open the lock file {path}: {exc.strerror or exc}",
        hint=f"check the permissions of {path.parent}, or set {LOCK_DIR_ENV}",
    )
