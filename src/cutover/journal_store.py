"""Where the journal's rows live: SQLite in a state directory, or a PostgreSQL database.

:class:`cutover.journal.Journal` writes and reads through a :class:`JournalStore`: one
transaction per :meth:`~JournalStore.write`, committed and durable on return, and
plain queries for reading. The SQL is shared (``?`` placeholders, ``RETURNING id``);
each store adapts it to its driver.

The schema is versioned: the ``meta`` table's ``schema_version`` row says which of the
store's migrations are applied, and opening a store applies the missing ones, in one
transaction (``cutover state migrate`` does the same on demand). A store whose schema is
newer than this cutover knows is refused: an older cutover must not write into it.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cutover.errors import CutoverError, InputError
from cutover.private_files import FILE_MODE, private_file, tighten


class StoreUnavailable(CutoverError):
    """The journal's store cannot be reached (a PostgreSQL server down, a lost connection).

    Exit 3: the run stops where it is, a human finishes it once the store is back.
    """


@dataclass(frozen=True)
class Migration:
    version: int
    what: str
    sql: str  #: statements separated by ``;``


@dataclass(frozen=True)
class Migrated:
    store: str
    before: int
    after: int

    def describe(self) -> str:
        if self.before == self.after:
            return f"journal schema of {self.store}: version {self.after}, up to date"
        return (
            f"journal schema of {self.store}: migrated from version {self.before} to {self.after}"
        )


def newest(migrations: Sequence[Migration]) -> int:
    return migrations[-1].version


class JournalStore(ABC):
    """One journal database. Safe for several threads of one process (one lock)."""

    #: what the store is, for messages (a URL without its password)
    where: str
    #: the local directory for this store's files (run logs; the lab's state)
    local_dir: Path
    #: what opening the store did to its schema
    migrated: Migrated

    def __init__(self) -> None:
        self.lock = threading.Lock()

    @abstractmethod
    def write(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run one statement in its own transaction, durable on return; the first column
        of its first row (``RETURNING id``), else 0."""

    @abstractmethod
    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query."""

    @abstractmethod
    def migrate(self, upto: int | None = None) -> Migrated:
        """Apply the missing migrations (up to ``upto``, for tests of older schemas)."""

    @abstractmethod
    def close(self) -> None: ...


def refuse_newer(where: str, found: int, known: int) -> None:
    if found > known:
        raise InputError(
            f"the journal in {where} has schema version {found}; this cutover knows up to {known}",
            hint="upgrade cutover on this machine (another operator migrated it)",
        )


#: The first schema, in both stores; ``{serial}``: an auto-increasing integer primary key.
RUNS_AND_EVENTS = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    runbook TEXT NOT NULL,
    runbook_path TEXT NOT NULL,
    environment TEXT NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    "user" TEXT NOT NULL,
    options TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id {serial},
    run_id TEXT NOT NULL REFERENCES runs(id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT,
    step INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, id)
"""

SQLITE_MIGRATIONS = (
    Migration(
        1, "runs and events", RUNS_AND_EVENTS.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT")
    ),
)


class SqliteStore(JournalStore):
    """``journal.db`` in a state directory: WAL mode, ``synchronous=FULL``; the directory
    0700, the file (and so its ``-wal`` and ``-shm``) 0600 (:mod:`cutover.private_files`)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.where = str(path.parent)
        self.local_dir = path.parent
        private_file(path)  # 0600 before SQLite opens it: its -wal and -shm copy the mode
        for companion in ("-wal", "-shm"):
            tighten(path.with_name(path.name + companion), FILE_MODE)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        try:
            self.migrated = self.migrate()
        except BaseException:
            self._db.close()
            raise

    def write(self, sql: str, params: tuple[Any, ...]) -> int:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(sql, params).fetchone()
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return int(row[0]) if row else 0

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return list(self._db.execute(sql, params).fetchall())

    def migrate(self, upto: int | None = None) -> Migrated:
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._version()
                refuse_newer(self.where, before, newest(SQLITE_MIGRATIONS))
                after = before
                for step in SQLITE_MIGRATIONS:
                    if before < step.version <= (upto or step.version):
                        for statement in filter(str.strip, step.sql.split(";")):
                            self._db.execute(statement)
                        after = step.version
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(after),),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Migrated(self.where, before, after)

    def _version(self) -> int:
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        if exists is None:
            return 0
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._db.close()
