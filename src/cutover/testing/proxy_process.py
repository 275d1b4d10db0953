"""A proxy process of our own on loopback: started bounded, stopped bounded, checked.

Shared by :mod:`cutover.testing.haproxy` and :mod:`cutover.testing.varnish` (nginx has its
own, older, in :mod:`cutover.testing.nginx`): the binary found on PATH or in the usual
``sbin`` directories, a child process in the foreground (never a daemon: it is ours to
stop), a bounded wait until it answers, and on exit a bounded stop that checks the
process ended and its port closed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from cutover.testing.net import port_closed, wait_for

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def find_binary(name: str) -> str | None:
    """``name`` on PATH, else in /usr/sbin or /usr/local/sbin; None when there is none."""
    return shutil.which(name) or next(
        (d + name for d in ("/usr/sbin/", "/usr/local/sbin/") if os.access(d + name, os.X_OK)),
        None,
    )


class ListensOnLoopback:
    """A server's ``origin`` and ``url()`` from its ``port`` on 127.0.0.1."""

    port: int

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path


def local_run_args(pairs: dict[str, str], extra_vars: Sequence[str], origin: str) -> list[str]:
    """``--env local`` and a ``--var`` per pair, then ``extra_vars`` (``{origin}`` filled)."""
    args = ["--env", "local"]
    for key, value in pairs.items():
        args += ["--var", f"{key}={value}"]
    for var in extra_vars:
        args += ["--var", var.format(origin=origin)]
    return args


def first_hop(client: httpx.Client, origin: str, path: str) -> str:
    """The first hop a server answers for ``path``: status and Location, with the origin
    written ``{origin}`` (so answers compare across worlds)."""
    response = client.get(f"{origin}{path}")
    location = response.headers.get("location", "")
    return f"{response.status_code} {location}".replace(origin, "{origin}").strip()


class Exited(RuntimeError):
    """The process exited while starting (its port may have been taken meanwhile)."""


@contextmanager
def running_process(
    what: str,
    argv: Sequence[str],
    port: int,
    log: Path,
    ready: Callable[[], bool] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (output to ``log``) until the block ends; wait until ``port`` accepts
    connections and ``ready()`` is true. Raises :class:`Exited` if it dies while starting."""
    with log.open("ab") as out:
        child = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT)

    def answering() -> bool:
        if child.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise Exited(f"{what} exited {child.returncode}: {tail}")
        if port_closed(f"127.0.0.1:{port}"):
            return False
        return True if ready is None else ready()

    try:
        wait_for(f"{what} answering", answering, START_TIMEOUT_S)
    except BaseException:
        stop(child, what, port, log, check=False)
        raise
    try:
        yield child
    finally:
        stop(child, what, port, log, check=True)


def stop(child: subprocess.Popen[bytes], what: str, port: int, log: Path, *, check: bool) -> None:
    """Stop the one process we started (bounded); with ``check``, fail unless it exited
    after our signal and its port is closed."""
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=STOP_TIMEOUT_S)
    if not check:
        return
    if child.returncode not in (0, -signal.SIGTERM, 143):
        tail = log.read_text(errors="replace")[-2000:]
        raise AssertionError(f"{what} exited {child.returncode}: {tail}")
    wait_for(f"{what} port {port} to close", lambda: port_closed(f"127.0.0.1:{port}"), 10)
