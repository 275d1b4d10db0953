"""The journal: a durable record of every run and every event.

It lives in a :class:`~cutover.journal_store.JournalStore`: SQLite in the state directory
(``journal.db``, WAL mode, ``synchronous=FULL``) or a shared PostgreSQL database
(:mod:`cutover.pg_store`). Either way each event is one transaction, committed and on
disk before the next action happens. That ordering is the safety argument: an ``intent``
row holding the prior state is durable **before** an action writes, and ``applied`` is written only
after the action read its write back. After ``kill -9`` at any instant, the journal says
which steps may be applied and what they replaced.

Every text that goes in is passed through :func:`cutover.secrets.redact` first; a step's
prior state and record are sealed (:mod:`cutover.sealing`): a resolved secret in them
becomes a reference to it, a sensitive value a ciphertext, so that :meth:`Journal.steps`
gives a rollback the exact original back.

A test hook, for crash testing only: with ``CUTOVER_TEST_CRASH_AT=N`` in the
environment, the process kills itself with SIGKILL right after its N-th journal write
(1-based), so a test can stop cutover at every journal boundary. The same variable
also names crash points inside actions (:mod:`cutover.crash_points`).

Writes are counted here, above the store, so the count is the same for SQLite and
PostgreSQL.

If the store becomes unreachable in the middle of a run (a PostgreSQL server down),
every write and read raises :class:`~cutover.journal_store.StoreUnavailable`; what this
process itself wrote is still known (:meth:`Journal.still_applied` falls back to it), so
the run can say what may still be applied.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cutover.crash_points import CRASH_ENV
from cutover.events import EventKind, StepState, fold_steps, still_applied
from cutover.journal_store import JournalStore, SqliteStore, StoreUnavailable
from cutover.process import current_user, hostname
from cutover.sealing import Sealer, redact_outside_tokens
from cutover.secrets import redact, redact_data
from cutover.state_location import JOURNAL_FILE, Store

#: The event fields that hold a step's snapshots: sealed, not redacted (what rollback reads).
SNAPSHOT_FIELDS = frozenset({"prior", "record"})

#: Run statuses. ``running`` with a dead holder means the run was interrupted.
RUNNING = "running"
COMPLETED = "completed"
ROLLED_BACK = "rolled_back"
NEEDS_ATTENTION = "needs_attention"
STOPPED = "stopped"
FAILED = "failed"  #: a stage failed before any step was applied: nothing was changed
HELD = "held"  #: a gate was declined with `on_decline: hold`: applied steps stay in place
FINAL_STATUSES = frozenset({COMPLETED, ROLLED_BACK, STOPPED, FAILED})
INTERRUPTED = "interrupted"  #: shown (never stored) for a running run whose process is gone


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class RunRow:
    id: str
    runbook: str
    runbook_path: str
    environment: str
    status: str
    exit_code: int | None
    started_at: str
    ended_at: str | None
    host: str
    pid: int
    user: str
    options: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class EventRow:
    id: int
    run_id: str
    at: str
    kind: str  #: an :class:`EventKind` value (compare with its members)
    stage: str | None
    step: int | None
    data: dict[str, Any]


class Journal:
    """The run journal. Safe to use from several threads of one process."""

    def __init__(self, where: Path | JournalStore) -> None:
        self.store = where if isinstance(where, JournalStore) else SqliteStore(where)
        self._lock = self.store.lock
        self._writes = 0
        #: how snapshots are sealed: a runbook's (``seal_with``), else references only
        self.sealer = Sealer()
        self._opens = False
        self._mine: dict[str, list[EventRow]] = {}  #: events read or written, by run
        crash = os.environ.get(CRASH_ENV, "")
        self._crash_at = int(crash) if crash.isdigit() else 0

    @classmethod
    def open(cls, store: Store) -> Journal:
        """The journal of ``store``: its SQLite file, or its PostgreSQL database."""
        if store.url is None:
            return cls(store.directory / JOURNAL_FILE)
        from cutover.pg_store import PostgresStore

        return cls(PostgresStore(store.url, store.directory))

    def seal_with(self, sealer: Sealer) -> None:
        """Seal snapshots with ``sealer`` (a runbook's sensitive fields and key), and give
        :meth:`steps` the originals back (for a rollback; resolving secrets again)."""
        self.sealer = sealer
        self._opens = True

    @property
    def local_dir(self) -> Path:
        """This machine's directory for the store's files (run logs)."""
        return self.store.local_dir

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------------

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._lock:
            row_id = self.store.write(sql, params)
            self._writes += 1
            if self._crash_at and self._writes == self._crash_at:
                os.kill(os.getpid(), signal.SIGKILL)  # test hook: see module docstring
            return row_id

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.store.read(sql, params)

    @property
    def writes(self) -> int:
        """Journal writes made by this process (the crash hook counts these)."""
        return self._writes

    def start_run(
        self,
        run_id: str,
        runbook: str,
        runbook_path: str,
        environment: str,
        options: dict[str, Any],
    ) -> None:
        self._write(
            "INSERT INTO runs (id, runbook, runbook_path, environment, status, started_at,"
            ' host, pid, "user", options) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            (
                run_id,
                runbook,
                runbook_path,
                environment,
                RUNNING,
                now(),
                hostname(),
                os.getpid(),
                current_user(),
                redact(json.dumps(redact_data(options), sort_keys=True)),
            ),
        )
        self._mine.setdefault(run_id, [])

    def event(
        self,
        run_id: str,
        kind: EventKind,
        *,
        stage: str | None = None,
        step: int | None = None,
        **data: Any,
    ) -> int:
        """Append one event (one transaction, durable on return)."""
        kind = EventKind(kind)  # a kind outside the vocabulary is a bug, not a new row
        stored = {
            key: self.sealer.seal(value, stage, step, restorable=key in SNAPSHOT_FIELDS)
            for key, value in data.items()
        }
        text = redact_outside_tokens(json.dumps(stored, sort_keys=True, default=str))
        at = now()
        row_id = self._write(
            "INSERT INTO events (run_id, at, kind, stage, step, data) VALUES (?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (run_id, at, kind, stage, step, text),
        )
        if run_id in self._mine:
            event = EventRow(row_id, run_id, at, kind, stage, step, json.loads(text))
            self._mine[run_id].append(event)
        return row_id

    def set_status(self, run_id: str, status: str, exit_code: int | None = None) -> None:
        ended = None if status == RUNNING else now()
        self._write(
            "UPDATE runs SET status = ?, exit_code = ?, ended_at = ? WHERE id = ?",
            (status, exit_code, ended, run_id),
        )

    def adopt(self, run_id: str) -> None:
        """This process now drives ``run_id`` (resume/rollback after a crash)."""
        self._write(
            'UPDATE runs SET status = ?, host = ?, pid = ?, "user" = ?, ended_at = NULL'
            " WHERE id = ?",
            (RUNNING, hostname(), os.getpid(), current_user(), run_id),
        )

    # --- reading ------------------------------------------------------------------------------

    def runs(self, limit: int = 20) -> list[RunRow]:
        rows = self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started_at DESC, id DESC LIMIT ?", (limit,)
        )
        return [_run(r) for r in rows]

    def find_run(self, ref: str) -> RunRow | None:
        """A run by id or unique id prefix; ``last`` is the newest run."""
        if ref == "last":
            found = self.runs(1)
            return found[0] if found else None
        rows = self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ? OR id LIKE ? ORDER BY id",
            (ref, f"{ref}%"),
        )
        exact = [r for r in rows if r[0] == ref]
        if exact:
            return _run(exact[0])
        return _run(rows[0]) if len(rows) == 1 else None

    def unfinished(self, runbook: str, environment: str) -> list[RunRow]:
        rows = self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE runbook = ? AND environment = ?"
            " AND status IN (?, ?, ?) ORDER BY started_at",
            (runbook, environment, RUNNING, NEEDS_ATTENTION, HELD),
        )
        return [_run(r) for r in rows]

    def events(self, run_id: str) -> list[EventRow]:
        rows = self._read(
            "SELECT id, run_id, at, kind, stage, step, data FROM events WHERE run_id = ?"
            " ORDER BY id",
            (run_id,),
        )
        events = [EventRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]
        self._mine[run_id] = list(events)
        return events

    def events_after(self, run_id: str, after: int, kind: EventKind) -> list[EventRow]:
        """The run's events of ``kind`` newer than row ``after`` (the control channel's
        poll: one indexed query, whichever process or host wrote them)."""
        rows = self._read(
            "SELECT id, run_id, at, kind, stage, step, data FROM events"
            " WHERE run_id = ? AND id > ? AND kind = ? ORDER BY id",
            (run_id, after, kind),
        )
        return [EventRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    def last_event_id(self, run_id: str) -> int:
        """The id of the run's newest event (0 when it has none)."""
        rows = self._read("SELECT MAX(id) FROM events WHERE run_id = ?", (run_id,))
        return int(rows[0][0] or 0) if rows else 0

    def steps(self, run_id: str) -> list[StepState]:
        """Every step that got an intent, in the order first intended, with its status
        (with :meth:`seal_with`, its ``prior`` and ``record`` reopen to the originals)."""
        states = list(fold_steps(self.events(run_id)))
        if self._opens:
            for state in states:
                state.opener = self.sealer.open_snapshot
        return states

    def still_applied(self, run_id: str) -> list[str]:
        """``stage/step (status)`` of every step that may still be applied, oldest first.

        With the store unreachable, from the events this process read and wrote (it
        writes every ``intent`` before acting, so none of its changes is missing)."""
        try:
            events = self.events(run_id)
        except StoreUnavailable:
            if run_id not in self._mine:
                raise
            events = self._mine[run_id]
        return still_applied(events)


_RUN_COLUMNS = (
    "id, runbook, runbook_path, environment, status, exit_code, started_at, ended_at, host,"
    ' pid, "user", options'
)


def _run(row: tuple[Any, ...]) -> RunRow:
    return RunRow(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        json.loads(row[11]),
    )
