"""Shared fixtures: the repository root, a way to run the real CLI in a subprocess
(:func:`cutover.testing.run_cutover`, from the repository root by default), and host-wide
places (locks, default state) kept inside the test session."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.testing import run_cutover

ROOT = Path(__file__).resolve().parents[1]

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def cli() -> CliRunner:
    """Run ``python -m cutover ARGS`` in a subprocess (the real entry point)."""

    def run(
        *args: str | Path,
        cwd: Path = ROOT,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        # the test's own default state directory (``_own_state``), unless it unset it
        own = {k: os.environ[k] for k in ("CUTOVER_STATE_DIR",) if k in os.environ}
        return run_cutover(*args, cwd=cwd, env={**own, **(env or {})}, input=input, timeout=timeout)

    return run


@pytest.fixture(autouse=True, scope="session")
def _host_wide_places(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never touch the real home, the repository's ``.cutover`` or /run/lock.

    The lock directory is one per pytest session (processes of one test meet there, as
    on a host); the per-user default state goes to a temporary XDG_STATE_HOME.
    """
    base = tmp_path_factory.mktemp("host")
    saved = {k: os.environ.get(k) for k in _HOST_ENV}
    os.environ["CUTOVER_LOCK_DIR"] = str(base / "locks")
    os.environ["XDG_STATE_HOME"] = str(base / "xdg-state")
    os.environ.pop("CUTOVER_STATE", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_HOST_ENV = ("CUTOVER_LOCK_DIR", "XDG_STATE_HOME", "CUTOVER_STATE")


@pytest.fixture(autouse=True)
def _own_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's default state directory is its own (a test may unset it)."""
    monkeypatch.setenv("CUTOVER_STATE_DIR", str(tmp_path / "default-state"))


# --- a real PostgreSQL (cutover.testing.postgres) ---------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One PostgreSQL server for the session, from the distribution's binaries.

    Skipped when the binaries (or psycopg) are missing on a developer machine; a failure
    instead when ``$CI`` or ``$CUTOVER_REQUIRE_POSTGRES=1`` is set (``.ci/run`` sets it).
    """
    from cutover.testing import postgres as pg_server

    missing = pg_server.postgres_missing()
    if missing is not None:
        if pg_server.required():
            pytest.fail(f"PostgreSQL is required here ({pg_server.REQUIRE_ENV}/CI): {missing}")
        pytest.skip(missing)
    with pg_server.postgres() as server:
        yield server


@pytest.fixture
def pg_url(postgres_server: Any) -> str:
    """The URL of a fresh, empty database on the session's server (one per test)."""
    return str(postgres_server.fresh_database(f"test_{next(_databases)}"))


_databases = itertools.count(1)


# --- a real Prometheus (cutover.testing.prometheus) -------------------------------------

StartPrometheus = Callable[..., Any]


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[StartPrometheus]:
    """Start a real Prometheus scraping the jobs you give: ``prometheus(jobs,
    scrape_interval=1.0)`` returns the running server (stopped, cleanly, after the test).

    Skipped when the binary is missing on a developer machine; a failure instead when
    ``$CI`` or ``$CUTOVER_REQUIRE_PROMETHEUS=1`` is set (``.ci/run`` sets it).
    """
    import contextlib

    from cutover.testing import prometheus as prom

    missing = prom.prometheus_missing()
    if missing is not None:
        if prom.required():
            pytest.fail(f"Prometheus is required here ({prom.REQUIRE_ENV}/CI): {missing}")
        pytest.skip(missing)
    servers = itertools.count(1)
    with contextlib.ExitStack() as stack:

        def start(jobs: list[dict[str, Any]], scrape_interval: float = 1.0) -> Any:
            directory = tmp_path / f"prometheus-{next(servers)}"
            running = prom.running_prometheus(directory, jobs, scrape_interval=scrape_interval)
            return stack.enter_context(running)

        yield start
