"""Loopback plumbing for tests: free ports, bounded waits, an HTTP server on a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import TypeVar

T = TypeVar("T")
S = TypeVar("S", bound=ThreadingHTTPServer)

POLL_S = 0.05


class WaitTimeout(AssertionError):
    """A :func:`wait_for` deadline passed (an assertion: the thing awaited never happened)."""


def free_port() -> int:
    """A loopback port with nothing listening on it (free when asked; bind it soon)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_closed(address: str) -> bool:
    """Does nothing accept connections at ``HOST:PORT``?"""
    host, _, port = address.rpartition(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) != 0


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns something truthy, and return that; or raise
    :class:`WaitTimeout` naming ``what`` after ``timeout`` seconds. ``probe`` may raise to
    give up early (a process it waits for has exited)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_S)


@contextmanager
def serving(server: S) -> Iterator[S]:
    """Serve ``server`` on a daemon thread; shut it down and close it on exit."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_S}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def server_url(server: ThreadingHTTPServer) -> str:
    """``http://127.0.0.1:PORT`` of a server bound to loopback."""
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"
