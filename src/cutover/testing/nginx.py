"""A real nginx on loopback: a temp prefix, one worker, a server block of your own.

:func:`running_nginx` writes ``nginx.conf`` under a prefix directory, starts the master
(not daemonised: it is our child), waits until it answers, and on exit stops the master
(which stops its worker), checks that it exited cleanly and that its port is closed::

    with running_nginx(prefix, 'location / {{ return 200 "ok\\n"; }}') as nginx:
        httpx.get(nginx.url("/"))

The server block is a :meth:`str.format` template with ``prefix`` and ``port`` (double
the braces of nginx syntax). ``error.log`` is kept at ``notice`` level, so reloads
(``signal 1 (SIGHUP) received``) can be counted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cutover.testing.net import free_port, port_closed, wait_for

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
PORT_ATTEMPTS = 3  #: a free port can be taken between asking and binding

CONF = """\
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{http}
    server {{
        listen 127.0.0.1:{port};
{server}
    }}
}}
"""


def nginx_binary() -> str | None:
    """The nginx on PATH, else in /usr/sbin or /usr/local/sbin; None when there is none."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


@dataclass(frozen=True)
class NginxServer:
    """A running nginx: its binary, prefix and port, and the commands that control it."""

    binary: str
    prefix: Path
    port: int

    @property
    def conf(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def base_command(self) -> list[str]:
        return [self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-e", "stderr"]

    @property
    def test_command(self) -> list[str]:
        """``nginx -t -q`` of this configuration (what an nginx step's ``test_command`` is)."""
        return [*self.base_command, "-t", "-q"]

    @property
    def reload_command(self) -> list[str]:
        return [*self.base_command, "-s", "reload"]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def reloads(self) -> int:
        """How many reloads the master has received so far."""
        return self.error_log().count("signal 1 (SIGHUP) received")


def write_conf(prefix: Path, port: int, server: str, http: str = "", connections: int = 64) -> None:
    """``prefix/nginx.conf`` with ``server`` (and ``http``) formatted with prefix and port."""
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    fields = {"prefix": prefix, "port": port}
    text = CONF.format(
        prefix=prefix,
        port=port,
        connections=connections,
        http=_indent(http.format(**fields), 4),
        server=_indent(server.format(**fields), 8),
    )
    (prefix / "nginx.conf").write_text(text, encoding="utf-8")


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line if line else line for line in text.splitlines())


@contextmanager
def running_nginx(
    prefix: Path,
    server: str,
    *,
    http: str = "",
    connections: int = 64,
    ready: Callable[[NginxServer], bool] | None = None,
    before_start: Callable[[NginxServer], None] | None = None,
) -> Iterator[NginxServer]:
    """A real nginx serving ``server`` on a free loopback port, until the block ends.

    ``before_start`` runs once the port is chosen (write the files nginx includes);
    ``ready`` is polled until true (default: the port accepts connections). Raises
    :class:`RuntimeError` when there is no nginx binary.
    """
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("no nginx binary on PATH or in /usr/sbin (apt-get install nginx-light)")
    prefix.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        nginx = NginxServer(binary, prefix, free_port())
        write_conf(prefix, nginx.port, server, http, connections)
        if before_start is not None:
            before_start(nginx)
        master = subprocess.Popen(
            nginx.base_command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for("nginx answering", partial(_answers, master, nginx, ready), START_TIMEOUT_S)
        except _Exited:
            _stop(master, nginx)
            if attempt == PORT_ATTEMPTS:
                raise
            continue
        except BaseException:
            _stop(master, nginx)
            raise
        try:
            yield nginx
        finally:
            _stop(master, nginx, check=True)
        return


class _Exited(RuntimeError):
    """nginx exited while starting (for example: its port was taken meanwhile)."""


def _answers(
    master: subprocess.Popen[bytes], nginx: NginxServer, ready: Callable[[NginxServer], bool] | None
) -> bool:
    if master.poll() is not None:
        err = master.stderr.read() if master.stderr is not None else b""
        raise _Exited(f"nginx exited {master.returncode}: {err.decode()[-2000:]}")
    if port_closed(f"127.0.0.1:{nginx.port}"):
        return False
    return True if ready is None else ready(nginx)


def _stop(master: subprocess.Popen[bytes], nginx: NginxServer, *, check: bool = False) -> None:
    """Stop the one master we started (it stops its worker); with ``check``, fail unless
    it exited cleanly and its port is closed."""
    if master.poll() is None:
        master.terminate()
    try:
        _, err = master.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        master.kill()
        _, err = master.communicate(timeout=STOP_TIMEOUT_S)
    if not check:
        return
    if master.returncode not in (0, -signal.SIGTERM):
        raise AssertionError(f"nginx exited {master.returncode}: {err.decode()[-2000:]}")
    if not port_closed(f"127.0.0.1:{nginx.port}"):
        raise AssertionError(f"nginx port {nginx.port} still open after nginx stopped")
