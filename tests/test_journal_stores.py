"""The journal's stores, SQLite and PostgreSQL: same semantics, versioned schema, locks.

PostgreSQL is a real server (the ``postgres_server`` fixture, cutover.testing.postgres),
one fresh database per test.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cutover.errors import InputError, LockHeldError, RunExit
from cutover.journal import Journal
from cutover.journal_store import StoreUnavailable
from cutover.lock import Holder, HostLocks, acquire_all
from cutover.pg_store import PG_MIGRATIONS, PostgresLocks, lock_key
from cutover.secrets import remember
from cutover.state_location import Store, choose_state, default_state_dir, redact_url, store_of

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return Store(tmp_path / "state")
    url = request.getfixturevalue("pg_url")
    return Store(tmp_path / "local", url=url)


def raw_rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    """Rows read straight from the database, not through cutover."""
    if store.url is None:
        import sqlite3

        with contextlib.closing(sqlite3.connect(store.directory / "journal.db")) as db:
            return list(db.execute(sql).fetchall())
    with psycopg.connect(store.url) as conn:
        return list(conn.execute(sql.encode()).fetchall())


def test_events_are_durable_and_folded_into_step_states(store: Store) -> None:
    with Journal.open(store) as journal:
        journal.start_run("r1", "demo", "/rb.yml", "lab", {"vars": []})
        first = journal.event("r1", "intent", stage="s", step=0, name="a", prior={"x": None})
        second = journal.event("r1", "applied", stage="s", step=0, name="a", record={"v": 2})
        journal.event("r1", "intent", stage="s", step=1, name="b", prior={"y": "1"})
    assert second == first + 1  # the row id, from RETURNING
    rows = raw_rows(store, "SELECT kind, stage, step FROM events ORDER BY id")
    assert rows == [("intent", "s", 0), ("applied", "s", 0), ("intent", "s", 1)]
    with Journal.open(store) as journal:
        states = [(s.name, s.status, s.prior, s.record) for s in journal.steps("r1")]
        assert states == [
            ("a", "applied", {"x": None}, {"v": 2}),
            ("b", "intent", {"y": "1"}, None),
        ]
        run = journal.find_run("r")
        assert run is not None and (run.id, run.status, run.pid) == ("r1", "running", os.getpid())
        assert journal.find_run("last") == run
        assert [r.id for r in journal.unfinished("demo", "lab")] == ["r1"]
        journal.set_status("r1", "rolled_back", RunExit.ROLLED_BACK)
        assert journal.unfinished("demo", "lab") == []
        assert journal.still_applied("r1") == ["s/a (applied)", "s/b (intent)"]


def test_secret_values_never_reach_the_store(store: Store) -> None:
    remember("s3cr3t-token-value-2")
    with Journal.open(store) as journal:
        journal.start_run("r1", "demo", "/rb.yml", "lab", {"vars": ["t=s3cr3t-token-value-2"]})
        journal.event("r1", "apply_failed", error="refused: Fastly-Key s3cr3t-token-value-2")
    texts = raw_rows(store, "SELECT options FROM runs") + raw_rows(store, "SELECT data FROM events")
    assert texts == [
        ('{"vars": ["t=[REDACTED]"]}',),
        ('{"error": "refused: Fastly-Key [REDACTED]"}',),
    ]


@pytest.mark.parametrize("crash_at", [1, 3, 6])
def test_the_crash_hook_counts_writes_the_same_way_in_every_store(
    store: Store, crash_at: int
) -> None:
    program = (
        "import sys; from cutover.journal import Journal; from cutover.state_location import"
        " Store; from pathlib import Path\n"
        "j = Journal.open(Store(Path(sys.argv[1]), sys.argv[2] or None))\n"
        "j.start_run('r1', 'demo', '/rb.yml', 'lab', {})\n"
        "for i in range(5): j.event('r1', 'probe_round', n=i)\n"
        "j.set_status('r1', 'completed', 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CUTOVER_TEST_CRASH_AT": str(crash_at)}
    proc = subprocess.run(
        [sys.executable, "-c", program, str(store.directory), store.url or ""],
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -9
    with Journal.open(store) as journal:
        # write 1 is the run row; writes 2… the events; write 7 the status
        assert [e.data["n"] for e in journal.events("r1")] == list(range(crash_at - 1))[:5]
        run = journal.find_run("r1")
        assert run is not None and run.status == "running"


# --- the schema: versioned, migrated by cutover ------------------------------------------------


def test_a_postgresql_store_is_migrated_from_an_older_schema(pg_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(PG_MIGRATIONS[0].sql.encode())
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        conn.execute(
            'INSERT INTO runs (id, runbook, runbook_path, environment, status, started_at, host,'
            ' pid, "user", options) VALUES'
            " ('old-run', 'demo', '/rb.yml', 'lab', 'completed', '2024-01-01', 'h', 1, 'u', '{}')"
        )
        assert conn.execute("SELECT to_regclass('leases')").fetchone() == (None,)
    store = Store(tmp_path, url=pg_url)
    with Journal.open(store) as journal:
        migrated = journal.store.migrated
        assert (migrated.before, migrated.after) == (1, 2)
        found = journal.find_run("old-run")
        assert found is not None and found.status == "completed"
    with Journal.open(store) as journal:
        assert journal.store.migrated.describe() == (
            f"journal schema of {pg_url}: version 2, up to date"
        )
    assert raw_rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [("2",)]
    assert raw_rows(store, "SELECT count(*) FROM leases") == [(0,)]


@pytest.mark.parametrize(
    ("kind", "before", "expected"),
    [
        ("postgresql", "empty", "migrated from version 0 to 2"),
        ("postgresql", "v1", "migrated from version 1 to 2"),
        ("postgresql", "current", "version 2, up to date"),
        ("sqlite", "empty", "migrated from version 0 to 1"),
        ("sqlite", "current", "version 1, up to date"),
    ],
)
def test_cutover_state_migrate_says_from_which_version_to_which(
    kind: str, before: str, expected: str, tmp_path: Path, cli: Any, request: pytest.FixtureRequest
) -> None:
    if kind == "postgresql":
        target = request.getfixturevalue("pg_url")
        if before != "empty":
            with psycopg.connect(target, autocommit=True) as conn:
                last = 1 if before == "v1" else 2
                for step in PG_MIGRATIONS[:last]:
                    conn.execute(step.sql.encode())
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', %s)", (str(last),)
                )
    else:
        target = str(tmp_path / "state")
        if before == "current":
            Journal(tmp_path / "state" / "journal.db").close()
    ran = cli("state", "migrate", "--state", target)
    assert (ran.returncode, ran.stderr) == (0, ""), ran.stderr
    assert ran.stdout == f"journal schema of {target}: {expected}\n"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_schema_newer_than_this_cutover_is_refused(
    kind: str, tmp_path: Path, cli: Any, request: pytest.FixtureRequest
) -> None:
    store = (
        Store(tmp_path / "state")
        if kind == "sqlite"
        else Store(tmp_path, url=request.getfixturevalue("pg_url"))
    )
    Journal.open(store).close()
    sql = "UPDATE meta SET value = '99' WHERE key = 'schema_version'"
    if store.url is None:
        import sqlite3

        db = sqlite3.connect(store.directory / "journal.db")
        with contextlib.closing(db), db:  # committed, then closed
            db.execute(sql)
    else:
        with psycopg.connect(store.url, autocommit=True) as conn:
            conn.execute(sql.encode())
    ran = cli("history", "--state", store.url or store.directory)
    assert ran.returncode == RunExit.INVALID
    assert ran.stderr.startswith(
        f"error: the journal in {store} has schema version 99; this cutover knows up to"
    )
    assert "upgrade cutover on this machine" in ran.stderr
    with pytest.raises(InputError):
        Journal.open(store)


# --- the URL: chosen like a directory, its password never shown ---------------------------------


@pytest.mark.parametrize(
    ("given", "is_url", "shown"),
    [
        ("postgresql://ops@db:5432/cutover", True, "postgresql://ops@db:5432/cutover"),
        ("postgres://ops:hunter22@db/cutover", True, "postgres://ops:[REDACTED]@db/cutover"),
        ("/srv/state", False, "/srv/state"),
        ("relative/postgresql:/x", False, "relative/postgresql:/x"),
    ],
)
def test_the_state_is_a_url_or_a_directory(given: str, is_url: bool, shown: str) -> None:
    store = store_of(given)
    assert store.url == (given if is_url else None)
    assert str(store) == shown
    if is_url:
        assert store.directory == default_state_dir()  # local files: the per-user place
    assert choose_state(given).store == store
    assert "hunter22" not in str(store) + store.ref


def test_an_unreachable_server_is_a_clear_error_without_the_password(
    tmp_path: Path, cli: Any
) -> None:
    from cutover.testing import free_port

    port = free_port()  # nothing listens there
    url = f"postgresql://ops:hunter22secret@127.0.0.1:{port}/cutover"
    ran = cli("history", "--state", url)
    assert ran.returncode == RunExit.NEEDS_ATTENTION
    assert ran.stderr.startswith(
        f"error: the PostgreSQL state store {redact_url(url)} is unreachable: "
    )
    assert "hunter22secret" not in ran.stdout + ran.stderr
    with pytest.raises(StoreUnavailable):
        Journal.open(Store(tmp_path, url=url))


# --- locks: advisory locks plus leases ----------------------------------------------------------


def holder(run_id: str, state: str, pid: int | None = None) -> Holder:
    return Holder(run_id, "run", "demo", "lab", state, "alice", "host-a", pid or os.getpid(), "t0")


def test_an_advisory_lock_excludes_every_other_session_and_names_its_holder(
    pg_url: str,
) -> None:
    locks = PostgresLocks(pg_url)
    first = locks.acquire(["t1", "t2"], holder("run-1", pg_url))
    try:
        with pytest.raises(LockHeldError) as refused:
            locks.acquire(["t0", "t2"], holder("run-2", pg_url))
        assert refused.value.message == (
            "t2 is locked by run run-1 (run of demo on lab) by alice@host-a,"
            f" pid {os.getpid()}, since t0"
        )
        assert f"`cutover show run-1 --state {pg_url}`" in (refused.value.hint or "")
        assert [h.run_id for h in locks.holders()] == ["run-1"]  # all or nothing: no t0
        with pytest.raises(LockHeldError, match="its session is alive"):
            locks.force_unlock(["t1"])
    finally:
        first.release()
    assert locks.holders() == []
    again = locks.acquire(["t2"], holder("run-2", pg_url))
    assert again.stale == []  # released cleanly: no dead holder
    again.release()


def test_a_dead_sessions_locks_are_free_and_its_lease_is_reported_stale(pg_url: str) -> None:
    program = (
        "import os, sys, signal; from cutover.lock import Holder;"
        " from cutover.pg_store import PostgresLocks\n"
        "PostgresLocks(sys.argv[1]).acquire(['t1'], Holder('dead-run', 'run', 'demo', 'lab',"
        " sys.argv[1], 'bob', 'host-b', os.getpid(), 't0'))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", program, pg_url], env=env, timeout=60, check=False)
    assert proc.returncode == -9
    locks = PostgresLocks(pg_url)
    held = locks.acquire(["t1"], holder("run-2", pg_url))  # the server freed the lock
    try:
        assert [(s.holder.run_id, s.targets) for s in held.stale] == [("dead-run", ["t1"])]
    finally:
        held.release(keep_stale=True)  # refused because of it: the next one sees it too
    assert [h.run_id for h in locks.holders()] == ["dead-run"]
    assert [h.run_id for h in locks.force_unlock(["t1"])] == ["dead-run"]
    assert locks.holders() == []


def test_host_locks_and_postgresql_locks_are_taken_together_or_not_at_all(
    pg_url: str, tmp_path: Path
) -> None:
    host = HostLocks(tmp_path / "locks")
    (tmp_path / "locks").mkdir()
    pg = PostgresLocks(pg_url)
    blocker = pg.acquire(["b"], holder("other-host-run", pg_url))
    try:
        with pytest.raises(LockHeldError, match=r"^b is locked by run other-host-run"):
            acquire_all([host, pg], ["a", "b"], holder("run-1", pg_url))
        assert host.holders() == []  # the host's locks were given back
    finally:
        blocker.release()
    both = acquire_all([host, pg], ["a", "b"], holder("run-1", pg_url))
    assert [h.run_id for h in host.holders()] == [h.run_id for h in pg.holders()] == ["run-1"]
    both.release()
    assert host.holders() == pg.holders() == []


def test_lock_keys_are_signed_64_bit_and_distinct() -> None:
    keys = {lock_key(f"nginx file /etc/nginx/conf.d/{n}.conf") for n in range(1000)}
    assert len(keys) == 1000
    assert all(-(2**63) <= k < 2**63 for k in keys)
