"""A real HAProxy on loopback: a temp directory, a Runtime API socket, your frontend.

:func:`running_haproxy` writes ``haproxy.cfg`` in a directory (a ``global`` section with
the admin stats socket ``admin.sock`` in a short temp directory, ``defaults`` in HTTP
mode, then your sections), starts HAProxy in the foreground (our child), waits until it
answers, and on exit stops it and checks its port is closed::

    with running_haproxy(tmp, FRONTEND, before_start=write_map) as haproxy:
        httpx.get(haproxy.url("/"))

The sections are a :meth:`str.format` template with ``dir``, ``port`` and ``socket``
(double the braces of HAProxy syntax).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cutover.testing.net import free_port
from cutover.testing.proxy_process import (
    Exited,
    ListensOnLoopback,
    find_binary,
    running_process,
)

PORT_ATTEMPTS = 3  #: a free port can be taken between asking and binding

GLOBAL = """\
global
    stats socket {socket} mode 600 level admin
    stats timeout 10s
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
"""


def haproxy_binary() -> str | None:
    """The haproxy on PATH or in /usr/sbin; None when there is none."""
    return find_binary("haproxy")


@dataclass(frozen=True)
class HaproxyServer(ListensOnLoopback):
    binary: str
    directory: Path
    port: int
    #: the admin socket: in a short temp directory of its own (a unix socket's path is
    #: limited to about 100 bytes, and test directories are deep)
    socket: Path

    @property
    def config(self) -> Path:
        return self.directory / "haproxy.cfg"


@contextmanager
def running_haproxy(
    directory: Path,
    sections: str,
    *,
    before_start: Callable[[HaproxyServer], None] | None = None,
    ready: Callable[[HaproxyServer], bool] | None = None,
) -> Iterator[HaproxyServer]:
    """A real HAProxy serving ``sections`` on a free loopback port, until the block ends.

    ``before_start`` runs once the port is chosen (write the map files the configuration
    reads); ``ready`` is polled until true (default: the port accepts connections).
    """
    binary = haproxy_binary()
    if binary is None:
        raise RuntimeError("no haproxy binary on PATH or in /usr/sbin (apt-get install haproxy)")
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cutover-haproxy-") as short:
        yield from _attempts(binary, directory, Path(short) / "admin.sock", sections,
                             before_start, ready)  # fmt: skip


def _attempts(
    binary: str,
    directory: Path,
    socket: Path,
    sections: str,
    before_start: Callable[[HaproxyServer], None] | None,
    ready: Callable[[HaproxyServer], bool] | None,
) -> Iterator[HaproxyServer]:
    for attempt in range(1, PORT_ATTEMPTS + 1):
        server = HaproxyServer(binary, directory, free_port(), socket)
        fields = {"dir": directory, "port": server.port, "socket": server.socket}
        text = GLOBAL.format(**fields) + sections.format(**fields)
        server.config.write_text(text, encoding="utf-8")
        if before_start is not None:
            before_start(server)
        argv = [binary, "-db", "-f", str(server.config)]
        check = partial(_ready, server, ready)
        try:
            with running_process("haproxy", argv, server.port, directory / "haproxy.log", check):
                yield server
            return
        except Exited:
            if attempt == PORT_ATTEMPTS:
                raise


def _ready(server: HaproxyServer, ready: Callable[[HaproxyServer], bool] | None) -> bool:
    """The Runtime API socket exists (HAProxy may open its port first), and ``ready``."""
    return server.socket.exists() and (ready is None or ready(server))
