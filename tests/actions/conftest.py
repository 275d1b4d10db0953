"""Fixtures for the action tests: a real nginx and a real tiny REST server, on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from cutover.actions.http import merge_patch


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it holds (an nginx reload finishes asynchronously)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


# --- nginx ----------------------------------------------------------------------------------


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        # The file cutover manages (a glob: the file may be absent).
        include {prefix}/managed/*.conf;
        location / {{ return 200 "legacy\\n"; }}
    }}
}}
"""

LEGACY = "# no redirect: the legacy backend answers\n"


@dataclass
class Nginx:
    """A real nginx on 127.0.0.1:port, its prefix, and the managed file."""

    binary: str
    prefix: Path
    port: int
    managed: Path
    client: httpx.Client = field(repr=False)

    @property
    def base(self) -> list[str]:
        conf = self.prefix / "nginx.conf"
        return [self.binary, "-p", str(self.prefix), "-c", str(conf), "-e", "stderr"]

    @property
    def test_command(self) -> list[str]:
        return [*self.base, "-t", "-q"]

    @property
    def reload_command(self) -> list[str]:
        return [*self.base, "-s", "reload"]

    def get(self, path: str = "/x") -> httpx.Response:
        return self.client.get(f"http://127.0.0.1:{self.port}{path}")

    def answers_legacy(self) -> bool:
        response = self.get()
        return response.status_code == 200 and response.text == "legacy\n"

    def up(self) -> bool:
        try:
            return self.answers_legacy()
        except httpx.TransportError:
            return False

    def redirects_to(self, location: str) -> bool:
        response = self.get()
        return response.status_code == 302 and response.headers.get("location") == location

    def settings(self, **overrides: Any) -> Any:
        from cutover.runbook.backends import NginxSettings

        values: dict[str, Any] = {
            "file": str(self.managed),
            "test_command": self.test_command,
            "reload_command": self.reload_command,
            "timeout": 20,
        }
        values.update(overrides)
        return NginxSettings(**values)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    """Start a real nginx with a temp prefix whose server includes the managed file."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("no nginx binary on PATH or in /usr/sbin (apt-get install nginx-light)")
    prefix = tmp_path / "nginx"
    (prefix / "managed").mkdir(parents=True)
    (prefix / "tmp").mkdir()
    port = free_port()
    (prefix / "nginx.conf").write_text(NGINX_CONF.format(prefix=prefix, port=port))
    managed = prefix / "managed" / "route.conf"
    managed.write_text(LEGACY)
    server = Nginx(binary, prefix, port, managed, httpx.Client(timeout=5))
    master = subprocess.Popen(server.base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _started(master) and server.up())
        yield server
    finally:
        server.client.close()
        if master.poll() is None:
            master.terminate()  # only the master this fixture started; it stops its workers
        _, err = master.communicate(timeout=15)
        if master.returncode not in (0, -signal.SIGTERM):
            raise AssertionError(f"nginx exited {master.returncode}: {err.decode()[-2000:]}")


def _started(master: subprocess.Popen[bytes]) -> bool:
    if master.poll() is not None:
        _, err = master.communicate()
        raise AssertionError(f"nginx did not start: {err.decode()[-2000:]}")
    return True


# --- a tiny REST server ---------------------------------------------------------------------


@dataclass
class RestServer:
    """A JSON store on loopback: GET/PUT/PATCH (merge patch)/DELETE any path; POST to
    ``/actions/<name>`` merges the body into ``/settings/<name>``. Keeps every request."""

    url: str
    store: dict[str, Any]
    requests: list[tuple[str, str, str | None]]  #: method, path, Authorization header


@pytest.fixture
def rest_server() -> Iterator[RestServer]:
    store: dict[str, Any] = {}
    seen: list[tuple[str, str, str | None]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length)) if length else None

        def _answer(self, status: int, value: Any = None) -> None:
            data = b"" if value is None else json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            method, path = self.command, self.path
            body = self._body() if method in ("PUT", "PATCH", "POST") else None
            with lock:
                seen.append((method, path, self.headers.get("Authorization")))
                if path.startswith("/readonly/") and method != "GET":
                    self._answer(403, {"message": "read-only setting"})
                elif method == "GET":
                    if path in store:
                        self._answer(200, store[path])
                    else:
                        self._answer(404, {"message": "no such setting"})
                elif method == "PUT":
                    store[path] = body
                    self._answer(200, body)
                elif method == "PATCH":
                    store[path] = merge_patch(store.get(path), body)
                    self._answer(200, store[path])
                elif method == "DELETE":
                    store.pop(path, None)
                    self._answer(204)
                elif method == "POST" and path.startswith("/actions/"):
                    target = "/settings/" + path.removeprefix("/actions/")
                    store[target] = merge_patch(store.get(target), body)
                    self._answer(201, {"ok": True})
                else:
                    self._answer(404, {"message": "no such action"})

        do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _handle  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield RestServer(f"http://{host!s}:{port}", store, seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
