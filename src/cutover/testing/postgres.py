"""A real PostgreSQL for tests and benchmarks: initdb + pg_ctl in a temporary directory.

The server binaries come from the distribution's packages (``apt-get install postgresql``
puts them in ``/usr/lib/postgresql/N/bin``; ``.ci/run`` installs them). The server
listens on 127.0.0.1 on a free port, its unix socket in its own directory, with trust
authentication for one test user. As root, initdb refuses to run: the server then runs
as an unprivileged user (``$CUTOVER_TEST_PG_USER``, else ``cutover-test`` if it exists,
else ``nobody``) through ``runuser``, its data directory owned by that user.

:func:`postgres_missing` says why no server can be started; tests skip on it, except when
``$CI`` or ``$CUTOVER_REQUIRE_POSTGRES=1`` is set, where they fail (see :func:`require`).

Shared by the tests (fixtures in ``tests/conftest.py``), ``benchmarks/state_store.py`` and
``benchmarks/crash_matrix.py --postgres``. Import it as ``cutover.testing.postgres`` (it is
not re-exported by ``cutover.testing``, so importing that stays light).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cutover.testing.net import free_port

REQUIRE_ENV = "CUTOVER_REQUIRE_POSTGRES"
USER_ENV = "CUTOVER_TEST_PG_USER"
START_TIMEOUT = 30.0
DATABASE = "cutover"
ROLE = "cutover"


def bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with ``initdb`` and ``pg_ctl``, else PATH's."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for candidate in reversed(found):
        if all(os.access(candidate / b, os.X_OK) for b in ("initdb", "pg_ctl")):
            return candidate
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def postgres_missing() -> str | None:
    """Why no PostgreSQL server can be started here, or None."""
    if bin_dir() is None:
        return "no PostgreSQL server binaries (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'cutover[postgres]')"
    return None


def required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get(REQUIRE_ENV) == "1"


def _server_user() -> str | None:
    """The unprivileged user the server runs as when we are root (None: ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in (os.environ.get(USER_ENV), "cutover-test", "nobody"):
        if name:
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)
                return name
    raise RuntimeError("running as root and no unprivileged user for PostgreSQL")


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory; ``url`` is its DSN.

    ``durable``: commits wait for the disk (``fsync=on``, the server's default), for
    benchmarks; tests run with ``fsync=off`` (a commit is still ordered and visible to
    every session before it returns, which is what they check)."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        binaries = bin_dir()
        if binaries is None:
            raise RuntimeError(postgres_missing() or "no PostgreSQL")
        self.bin = binaries
        self.user = _server_user()
        self.base = Path(tempfile.mkdtemp(prefix="cutover-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sockets"
        self.log = self.base / "server.log"
        self.port = 0
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        self.base.chmod(0o755)

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def _as_server_user(self, *argv: str | Path) -> list[str]:
        command = [str(a) for a in argv]
        return ["runuser", "-u", self.user, "--", *command] if self.user else command

    def _run(self, *argv: str | Path) -> None:
        subprocess.run(
            self._as_server_user(*argv),
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT * 2,
            cwd=self.base,
        )

    def init(self) -> None:
        self._run(self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", ROLE, "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        self._run("mkdir", "-p", self.sockets)

    def start(self) -> None:
        """Start (or restart) the server on a free port (the same one on a restart)."""
        for _ in range(3):
            self.port = self.port or free_port()
            options = (
                f"-h 127.0.0.1 -p {self.port} -k {self.sockets}"
                f" -c fsync={'on' if self.durable else 'off'}"
                " -c max_connections=60 -c shared_buffers=16MB"
            )
            try:
                self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-w",
                          "-t", str(int(START_TIMEOUT)), "-o", options, "start")  # fmt: skip
            except subprocess.CalledProcessError:
                if self.port_in_use_by_other():
                    self.port = 0
                    continue
                raise RuntimeError(f"PostgreSQL did not start: {self.read_log()}") from None
            break
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2, autocommit=True) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                    ).fetchone()
                    if exists is None:
                        conn.execute(f"CREATE DATABASE {DATABASE}")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    @property
    def admin_url(self) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/postgres"

    def port_in_use_by_other(self) -> bool:
        return "could not bind" in self.read_log() or "Address already in use" in self.read_log()

    def read_log(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m MODE`` (``immediate``: as if the server died)."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def fresh_database(self, name: str) -> str:
        """A new empty database on this server; its URL."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def postgres(durable: bool = False) -> Iterator[PostgresServer]:
    """A started server, stopped and removed on exit."""
    server = PostgresServer(durable)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.close()
