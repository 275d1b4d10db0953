"""The team store is private: roles, where the URL comes from, and TLS settings.

A real PostgreSQL (``postgres_server``, trust authentication: roles are told apart by name,
not by password). The journal's tables are given to a role of their own with the SQL of
docs/reliability.md; a member of that role runs and reads, a role without a grant can
neither read the tables directly nor through cutover (a clear error, not a traceback). The
URL may be named by a secret reference or come from libpq's environment, and
``sslmode`` in it is honoured (``require`` against a server without TLS is refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from cutover.errors import InputError, RunExit
from cutover.journal import Journal
from cutover.journal_store import StoreUnavailable
from cutover.state_location import Store, store_of

#: docs/reliability.md, "The team store": the journal's tables belong to ``cutover_journal``
#: (roles are the server's, shared by the session's tests: each test's have its suffix)
GIVE_TO_ROLE = """
CREATE ROLE cutover_journal{s} NOLOGIN;
ALTER TABLE meta OWNER TO cutover_journal{s};
ALTER TABLE runs OWNER TO cutover_journal{s};
ALTER TABLE events OWNER TO cutover_journal{s};
ALTER TABLE leases OWNER TO cutover_journal{s};
GRANT cutover_journal{s} TO alice{s}
"""


def as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))


@pytest.fixture
def team(pg_url: str, tmp_path: Path) -> tuple[str, str]:
    """A journal with one run, its tables given to ``cutover_journal``; ``alice`` a member,
    ``mallory`` a login without any grant. The URL and the roles' suffix."""
    with Journal.open(Store(tmp_path, url=pg_url)) as journal:
        journal.start_run("r1", "demo", "demo.yml", "lab", {})
    suffix = "_" + urlsplit(pg_url).path.lstrip("/")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for role in ("alice", "mallory"):
            conn.execute(f"CREATE ROLE {role}{suffix} LOGIN".encode())
        for statement in filter(str.strip, GIVE_TO_ROLE.format(s=suffix).split(";")):
            conn.execute(statement.encode())
    return pg_url, suffix


def test_a_role_without_a_grant_cannot_read_runs(
    team: tuple[str, str], tmp_path: Path, cli: Any
) -> None:
    mallory = as_role(team[0], "mallory" + team[1])
    with psycopg.connect(mallory) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT id FROM runs").fetchall()
    with pytest.raises(InputError) as refused:
        Journal.open(Store(tmp_path, url=mallory))
    assert refused.value.message == (
        f"state {mallory}: this role may not use the journal: permission denied for table meta"
    )
    ran = cli("history", "--state", mallory)
    assert ran.returncode == RunExit.INVALID, ran.stderr
    assert ran.stderr.startswith(f"error: {refused.value.message}\n"), ran.stderr
    assert "Traceback" not in ran.stderr


def test_a_member_of_the_journal_role_runs_and_reads(team: tuple[str, str], tmp_path: Path) -> None:
    alice = as_role(team[0], "alice" + team[1])
    with Journal.open(Store(tmp_path, url=alice)) as journal:
        journal.start_run("r2", "demo", "demo.yml", "lab", {})
        journal.event("r2", "run_started")
        assert [r.id for r in journal.runs()] == ["r2", "r1"]


def test_the_url_may_be_a_secret_and_is_never_shown(
    pg_url: str, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = urlsplit(pg_url)
    with_password = urlunsplit(
        parts._replace(netloc=f"cutover:pw-{tmp_path.name}@{parts.hostname}:{parts.port}")
    )
    monkeypatch.setenv("TEAM_STORE", with_password)
    store = store_of("secret:env:TEAM_STORE")
    assert (store.url, str(store)) == (with_password, "secret:env:TEAM_STORE")
    ran = cli("state", "migrate", "--state", "secret:env:TEAM_STORE", env={"TEAM_STORE": pg_url})
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().endswith("up to date") or "migrated" in ran.stdout, ran.stdout
    assert pg_url not in ran.stdout + ran.stderr
    unset = cli("history", "--state", "secret:env:NO_SUCH_STORE")
    assert unset.returncode == RunExit.INVALID
    assert "secret env:NO_SUCH_STORE: environment variable NO_SUCH_STORE is not set" in (
        unset.stderr
    )


def test_libpq_environment_fills_in_the_url(pg_url: str, cli: Any) -> None:
    parts = urlsplit(pg_url)
    env = {"PGHOST": str(parts.hostname), "PGPORT": str(parts.port), "PGUSER": "cutover"}
    ran = cli("state", "migrate", "--state", f"postgresql:///{parts.path.lstrip('/')}", env=env)
    assert ran.returncode == 0, ran.stderr


@pytest.mark.parametrize(
    ("sslmode", "opens"),
    [("disable", True), ("prefer", True), ("require", False), ("verify-full", False)],
)
def test_sslmode_in_the_url_is_honoured(
    pg_url: str, tmp_path: Path, sslmode: str, opens: bool
) -> None:
    """The test server has no TLS: a mode that demands it is refused, before any write."""
    url = f"{pg_url}?sslmode={sslmode}&sslrootcert={tmp_path / 'ca.pem'}"
    if opens:
        Journal.open(Store(tmp_path, url=url)).close()
        return
    with pytest.raises(StoreUnavailable) as refused:
        Journal.open(Store(tmp_path, url=url))
    assert "is unreachable: " in refused.value.message
    assert any(
        words in refused.value.message
        for words in ("server does not support SSL", "root certificate file", "ca.pem")
    ), refused.value.message
