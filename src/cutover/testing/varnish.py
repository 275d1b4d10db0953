"""A real varnishd on loopback, and origins for it to route between.

:func:`running_varnish` starts ``varnishd`` in the foreground (our child) with a working
directory, a boot VCL and a random secret file in a temp directory, the HTTP listener and
the management CLI (``-T``) on free loopback ports, no jail (``-j none``: it runs as the
user who started it, so a private temp directory works), and a small malloc store; it
waits until both ports answer, and on exit stops it and checks the port closed::

    with running_origin("legacy") as legacy, running_varnish(tmp, vcl) as varnish:
        httpx.get(varnish.url("/"))

:func:`running_origin` is a loopback HTTP server that answers every GET with its name
(``legacy\\n``) and ``Cache-Control: no-store``, so what a probe sees through Varnish is
always what the active VCL routes to, never a cached answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cutover.testing.net import free_port, serving
from cutover.testing.proxy_process import (
    Exited,
    ListensOnLoopback,
    find_binary,
    running_process,
)

PORT_ATTEMPTS = 3
STORAGE = "malloc,32m"


def varnishd_binary() -> str | None:
    """The varnishd on PATH or in /usr/sbin; None when there is none."""
    return find_binary("varnishd")


@dataclass(frozen=True)
class VarnishServer(ListensOnLoopback):
    binary: str
    directory: Path
    port: int
    admin_port: int

    @property
    def admin(self) -> str:
        """The management CLI's ``HOST:PORT`` (a varnish backend's ``admin``)."""
        return f"127.0.0.1:{self.admin_port}"

    @property
    def secret_file(self) -> Path:
        return self.directory / "secret"



@contextmanager
def running_varnish(directory: Path, vcl: str) -> Iterator[VarnishServer]:
    """A real varnishd booted with ``vcl`` on free loopback ports, until the block ends."""
    binary = varnishd_binary()
    if binary is None:
        raise RuntimeError("no varnishd on PATH or in /usr/sbin (apt-get install varnish)")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "boot.vcl").write_text(vcl, encoding="utf-8")
    secret = directory / "secret"
    secret.touch(mode=0o600)
    secret.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    for attempt in range(1, PORT_ATTEMPTS + 1):
        server = VarnishServer(binary, directory, free_port(), free_port())
        argv = [
            binary, "-F", "-j", "none",
            "-n", str(directory / "work"),
            "-a", f"127.0.0.1:{server.port}",
            "-T", server.admin,
            "-S", str(secret),
            "-f", str(directory / "boot.vcl"),
            "-s", STORAGE,
        ]  # fmt: skip
        try:
            with running_process("varnishd", argv, server.port, directory / "varnishd.log"):
                yield server
            return
        except Exited:
            if attempt == PORT_ATTEMPTS:
                raise


class _Origin(BaseHTTPRequestHandler):
    server: _OriginServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = f"{self.server.name}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class _OriginServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _Origin)
        self.name = name

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@contextmanager
def running_origin(name: str) -> Iterator[_OriginServer]:
    """A loopback HTTP server answering every GET with ``NAME\\n`` (``.port``)."""
    with serving(_OriginServer(name)) as server:
        yield server
