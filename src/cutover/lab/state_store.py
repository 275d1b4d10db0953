"""Where the lab's control-plane state lives: in memory, or shared through a file.

With a state file, several processes (``cutover plan``, ``run``, ``rollback``,
``check``), each running its own in-process lab, see one world, like a real CDN:

- at start the file is loaded if it exists (and must be from the same scenario),
  else the scenario's initial state is written to it;
- before serving a request the store checks the file's identity (inode, size,
  mtime) and reloads it if another process changed it;
- a mutation takes an exclusive lock (``<file>.lock``), reloads, applies the change
  and writes the file atomically (temp file in the same directory, fsync, rename,
  fsync of the directory).

Cache contents are never written: each process has its own caches.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

from cutover.errors import InputError
from cutover.fileio import atomic_write
from cutover.lab.scenarios import SCENARIOS, Scenario, resolve_scenario
from cutover.lab.state import LabState

_LOCK_TIMEOUT_S = 10.0


class LabStateError(InputError):
    """A lab state file is unreadable, or belongs to another scenario."""


def read_state_scenario(path: str | os.PathLike[str]) -> str | None:
    """The scenario a state file was made for, or None if the file does not exist."""
    file = Path(path)
    if not file.exists():
        return None
    return _load(file).scenario


def _load(file: Path) -> LabState:
    try:
        data: Any = json.loads(file.read_text(encoding="utf-8"))
        return LabState.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabStateError(
            f"cannot read lab state file {file}: {exc}",
            hint=f"reset it with: cutover lab reset --state-file {file}",
        ) from exc


def _write_atomically(file: Path, state: LabState) -> None:
    payload = json.dumps(state.to_json(), indent=1, sort_keys=True).encode()
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(file, payload, mode=0o600)


def reset_state_file(path: str | os.PathLike[str], scenario: str | None = None) -> str:
    """Write the initial state of ``scenario`` (default: the file's own, else pypi-2018).

    Returns the scenario name written. Safe while labs are running on the file: they
    reload it before their next request.
    """
    file = Path(path)
    if scenario is None:
        try:
            scenario = read_state_scenario(file) or "pypi-2018"
        except LabStateError:
            scenario = "pypi-2018"
    if scenario not in SCENARIOS:
        raise LabStateError(f"unknown lab scenario {scenario!r}")
    with _file_lock(file):
        _write_atomically(file, SCENARIOS[scenario].build())
    return scenario


def _file_lock(file: Path) -> FileLock:
    """The lock beside a state file (``FILE.lock``), private like the file."""
    return FileLock(str(file) + ".lock", timeout=_LOCK_TIMEOUT_S, mode=0o600)


def _identity(file: Path) -> tuple[int, int, int] | None:
    try:
        st = file.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class StateStore:
    """Holds the current :class:`LabState`; calls ``on_change`` whenever it is replaced."""

    def __init__(
        self,
        scenario: str | Scenario,
        state_file: str | os.PathLike[str] | None,
        on_change: Callable[[LabState], None],
    ) -> None:
        if isinstance(scenario, str) and scenario not in SCENARIOS:
            raise LabStateError(
                f"unknown lab scenario {scenario!r}",
                hint=f"known scenarios: {', '.join(sorted(SCENARIOS))}",
            )
        self.definition = resolve_scenario(scenario)
        self.scenario = self.definition.name
        self.file = Path(state_file) if state_file is not None else None
        self._on_change = on_change
        self._identity: tuple[int, int, int] | None = None
        if self.file is None:
            self.state = self.definition.build()
        else:
            with self._lock():
                if self.file.exists():
                    self.state = self._checked_load()
                else:
                    self.state = self.definition.build()
                    self._save()
        on_change(self.state)

    def _lock(self) -> FileLock:
        assert self.file is not None
        return _file_lock(self.file)

    def _checked_load(self) -> LabState:
        assert self.file is not None
        identity = _identity(self.file)
        state = _load(self.file)
        if state.scenario != self.scenario:
            raise LabStateError(
                f"lab state file {self.file} is from scenario {state.scenario!r}, "
                f"not {self.scenario!r}",
                hint=f"reset it with: cutover lab reset --state-file {self.file} "
                "(or use another file)",
            )
        self._identity = identity
        return state

    def _save(self) -> None:
        assert self.file is not None
        _write_atomically(self.file, self.state)
        self._identity = _identity(self.file)

    def refresh(self) -> None:
        """Reload the file if another process changed it (cheap when it did not)."""
        if self.file is None or _identity(self.file) == self._identity:
            return
        if not self.file.exists():  # deleted under us: keep serving the memory copy
            return
        with self._lock():
            self.state = self._checked_load()
        self._on_change(self.state)

    @contextlib.contextmanager
    def mutate(self) -> Iterator[LabState]:
        """Change the state: under the file lock, on a fresh copy, saved on success."""
        if self.file is None:
            draft = self.state.clone()
            yield draft
            self.state = draft
            self._on_change(self.state)
            return
        with self._lock():
            if _identity(self.file) != self._identity and self.file.exists():
                self.state = self._checked_load()
            draft = self.state.clone()
            yield draft
            self.state = draft
            self._save()
        self._on_change(self.state)

    def reset(self) -> None:
        """Back to the scenario's initial state (and the file too)."""
        with self.mutate() as draft:
            fresh = self.definition.build()
            draft.__dict__.update(fresh.__dict__)
