"""The team store: the journal, run records and target locks in one PostgreSQL database.

``--state postgresql://USER@HOST/DB`` (or ``$CUTOVER_STATE``) makes every operator who
names that database share one history and one set of locks, from any machine. The
driver is psycopg 3, an optional extra: ``pip install 'cutover[postgres]'``.

Journal: every write is one transaction on one connection, committed (and, with the
server's default ``synchronous_commit``, on disk) before the next action happens, the
same ordering argument as SQLite's. A connection that breaks is never silently
reopened in the middle of a run: the write fails with :class:`StoreUnavailable`, the run
stops where it is (exit 3, with the command to finish it once the server is back), and
no step is applied without its ``intent`` row.

Locks (:class:`PostgresLocks`): one session-level advisory lock per target, keyed by a
64-bit hash of the target, taken on a connection of its own that lives as long as the
run; the server releases them when that session ends, whatever happened to the holder.
Next to each lock, a *lease* row says who holds it (run id, command, runbook,
environment, store, user, host, pid, start time); it is deleted on release, so a lease
found when acquiring is a holder that died, as with the host-wide lock files.

The schema is created and migrated by cutover (:data:`PG_MIGRATIONS`), under a
transaction-level advisory lock, so two cutovers opening a new database at once do not
race.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import astuple
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cutover.errors import InputError, LockHeldError
from cutover.journal_store import (
    RUNS_AND_EVENTS,
    JournalStore,
    Migrated,
    Migration,
    StoreUnavailable,
    newest,
    refuse_newer,
)
from cutover.lock import HeldLocks, Holder, LockStore, locked_by
from cutover.private_files import private_dir
from cutover.state_location import redact_url

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT = 10  #: seconds to reach the server
_MIGRATION_LOCK = 0x63_75_74_6F_76_65_72  #: "cutover": the advisory lock of migrations

PG_MIGRATIONS = (
    Migration(1, "runs and events", RUNS_AND_EVENTS.format(serial="BIGSERIAL PRIMARY KEY")),
    Migration(
        2,
        "target lock leases",
        """
CREATE TABLE IF NOT EXISTS leases (
    target TEXT PRIMARY KEY,
    lock_key BIGINT NOT NULL,
    run_id TEXT NOT NULL,
    command TEXT NOT NULL,
    runbook TEXT NOT NULL,
    environment TEXT NOT NULL,
    state TEXT NOT NULL,
    "user" TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL
)
""",
    ),
)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise InputError(
            "a PostgreSQL state store needs psycopg, which is not installed",
            hint="pip install 'cutover[postgres]' (or use a state directory)",
        ) from None
    return psycopg


def connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection in autocommit mode (transactions are explicit), or a clear error."""
    driver = _psycopg()
    try:
        conn: psycopg.Connection[tuple[Any, ...]] = driver.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name="cutover"
        )
    except driver.OperationalError as exc:
        raise unavailable(url, exc) from None
    except driver.ProgrammingError as exc:  # a malformed URL
        raise InputError(
            f"state {redact_url(url)}: {_first_line(exc, url)}",
            hint="use postgresql://USER@HOST:PORT/DATABASE (a password in ~/.pgpass)",
        ) from None
    return conn


def unavailable(url: str, exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(
        f"the PostgreSQL state store {redact_url(url)} is unreachable: {_first_line(exc, url)}",
        hint="check that the server is up; nothing else is changed until it is",
    )


def _first_line(exc: BaseException, url: str) -> str:
    from cutover.secrets import redact

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return redact(text.replace(url, redact_url(url)))


class PostgresStore(JournalStore):
    """The journal in a PostgreSQL database (see the module docstring)."""

    def __init__(self, url: str, local_dir: Path) -> None:
        super().__init__()
        self.url = url
        self.where = redact_url(url)
        self.local_dir = local_dir
        self._conn = connect(url)
        private_dir(local_dir)  # this machine's files of the store: run logs, lab state
        try:
            self.migrated = self.migrate()
        except BaseException:
            self._conn.close()
            raise

    def _failed(self, exc: BaseException) -> StoreUnavailable:
        return unavailable(self.url, exc)

    def write(self, sql: str, params: tuple[Any, ...]) -> int:
        psycopg = _psycopg()
        try:
            with self._conn.transaction():
                cursor = self._conn.execute(_pg(sql), params)
                row = cursor.fetchone() if cursor.description else None
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise self._failed(exc) from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise not_granted(self.url, exc) from None
        return int(row[0]) if row else 0

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        psycopg = _psycopg()
        try:
            return list(self._conn.execute(_pg(sql), params).fetchall())
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise self._failed(exc) from None
        except psycopg.errors.InsufficientPrivilege as exc:
            raise not_granted(self.url, exc) from None

    def migrate(self, upto: int | None = None) -> Migrated:
        with self.lock:
            return migrate(self._conn, self.url, upto)

    def close(self) -> None:
        self._conn.close()


def migrate(
    conn: psycopg.Connection[tuple[Any, ...]], url: str, upto: int | None = None
) -> Migrated:
    """Apply the missing :data:`PG_MIGRATIONS` in one transaction, under an advisory lock
    (two cutovers opening a new database at once: one migrates, the other waits)."""
    driver = _psycopg()
    where = redact_url(url)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            before = _version(conn)
            refuse_newer(where, before, newest(PG_MIGRATIONS))
            after = before
            for step in PG_MIGRATIONS:
                if before < step.version <= (upto or step.version):
                    conn.execute(step.sql.encode("utf-8"))
                    after = step.version
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(after),),
            )
    except (driver.OperationalError, driver.InterfaceError) as exc:
        raise unavailable(url, exc) from None
    except driver.errors.InsufficientPrivilege as exc:
        raise not_granted(url, exc) from None
    return Migrated(where, before, after)


def not_granted(url: str, exc: BaseException) -> InputError:
    """The connecting role may not use the journal's tables (not their owner, no grant)."""
    return InputError(
        f"state {redact_url(url)}: this role may not use the journal: {_first_line(exc, url)}",
        hint="the journal's tables belong to a role of their own: ask its owner to"
        " `GRANT that_role TO you` (docs/reliability.md, the team store)",
    )


def _version(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
    found = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def _pg(sql: str) -> bytes:
    """Shared SQL (``?`` placeholders) in psycopg's spelling (``%s``)."""
    return sql.replace("%", "%%").replace("?", "%s").encode("utf-8")


# --- target locks ---------------------------------------------------------------------------

_HOLDER_COLUMNS = 'run_id, command, runbook, environment, state, "user", host, pid, started_at'


def lock_key(target: str) -> int:
    """A signed 64-bit key for ``pg_try_advisory_lock``, from a hash of the target."""
    digest = hashlib.sha256(target.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLocks(LockStore):
    """Target locks as session advisory locks plus lease rows (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = redact_url(url)
        self._migrated = False

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        conn = connect(self.url)
        if not self._migrated:
            try:
                migrate(conn, self.url)
            except BaseException:
                conn.close()
                raise
            self._migrated = True
        return conn

    def acquire(self, targets: Iterable[str], holder: Holder) -> HeldLocks:
        held = _PostgresHeld(self._connect(), self.url)
        try:
            for target in sorted(set(targets)):
                held.take(target, holder)
        except BaseException:
            held.release()
            raise
        return held

    def force_unlock(self, targets: Iterable[str]) -> list[Holder]:
        removed: list[Holder] = []
        with self._connect() as conn:
            for target in sorted(set(targets)):
                key = lock_key(target)
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if not row or not row[0]:
                    raise LockHeldError(
                        f"will not force the lock of {_describe(conn, target)}: its session is"
                        f" alive on {self.where}",
                        hint="stop that run first (Ctrl-C in its terminal: it rolls back);"
                        " --force-unlock only clears the record of a holder that is gone",
                    )
                try:
                    gone = _lease(conn, target)
                    if gone is not None and gone not in removed:
                        removed.append(gone)
                    conn.execute("DELETE FROM leases WHERE target = %s", (target,))
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return removed

    def holders(self) -> list[Holder]:
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_HOLDER_COLUMNS} FROM leases ORDER BY target").fetchall()
        found: list[Holder] = []
        for row in rows:
            holder = Holder(*row)
            if holder not in found:
                found.append(holder)
        return found


class _PostgresHeld(HeldLocks):
    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]], url: str) -> None:
        self.conn = conn
        self.url = url
        self.stale = []
        self._keys: list[int] = []
        self._previous: dict[str, Holder] = {}

    def take(self, target: str, holder: Holder) -> None:
        key = lock_key(target)
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not row or not row[0]:
            raise _refusal(self.conn, target, redact_url(self.url))
        self._keys.append(key)
        with self.conn.transaction():
            previous = _lease(self.conn, target)
            if previous is not None:
                self._previous[target] = previous
                self.add_stale(previous, [target])
            self.conn.execute(
                f"INSERT INTO leases (target, lock_key, {_HOLDER_COLUMNS})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (target) DO UPDATE SET lock_key = excluded.lock_key,"
                " run_id = excluded.run_id, command = excluded.command,"
                " runbook = excluded.runbook, environment = excluded.environment,"
                ' state = excluded.state, "user" = excluded."user", host = excluded.host,'
                " pid = excluded.pid, started_at = excluded.started_at",
                (target, key, *astuple(holder)),
            )

    def release(self, keep_stale: bool = False) -> None:
        if self.conn.closed:
            return
        try:
            with self.conn.transaction():
                for target in self._lease_targets():
                    previous = self._previous.get(target) if keep_stale else None
                    if previous is None:
                        self.conn.execute("DELETE FROM leases WHERE target = %s", (target,))
                    else:
                        self.conn.execute(
                            f"UPDATE leases SET ({_HOLDER_COLUMNS}) = "
                            "(%s, %s, %s, %s, %s, %s, %s, %s, %s) WHERE target = %s",
                            (*astuple(previous), target),
                        )
            self.conn.execute("SELECT pg_advisory_unlock_all()")
        except _psycopg().Error:
            pass  # the server is gone: it released the locks with the session
        finally:
            self.conn.close()

    def _lease_targets(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT target FROM leases WHERE lock_key = ANY(%s)", (self._keys,)
        ).fetchall()
        return [str(r[0]) for r in rows]


def _lease(conn: psycopg.Connection[tuple[Any, ...]], target: str) -> Holder | None:
    row = conn.execute(
        f"SELECT {_HOLDER_COLUMNS} FROM leases WHERE target = %s", (target,)
    ).fetchone()
    return Holder(*row) if row else None


def _describe(conn: psycopg.Connection[tuple[Any, ...]], target: str) -> str:
    holder = _lease(conn, target)
    return holder.describe() if holder else f"the holder of {target}"


def _refusal(conn: psycopg.Connection[tuple[Any, ...]], target: str, where: str) -> LockHeldError:
    holder = _lease(conn, target)
    if holder is None:
        return LockHeldError(
            f"{target} is locked in {where} by another session (no lease row yet)",
            hint="wait for it to finish, then try again",
        )
    return locked_by(target, holder)
