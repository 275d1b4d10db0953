"""A tiny JSON settings store on loopback: the other end of an ``http`` action.

GET/PUT/PATCH (JSON merge patch)/DELETE any path; POST to ``/actions/<name>`` merges the
body into ``/settings/<name>``; anything under ``/readonly/`` refuses writes with 403.
Every request is kept (method, path, Authorization header), so a test can assert what
was sent and that a secret went only where it belongs::

    with running_rest_server() as rest:
        httpx.put(rest.url + "/settings/x", json={"on": True})
        assert rest.store["/settings/x"] == {"on": True}
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cutover.actions.http import merge_patch
from cutover.testing.net import server_url, serving

Seen = tuple[str, str, str | None]  #: method, path, Authorization header


@dataclass
class RestServer:
    """What a running store holds and has seen."""

    url: str
    store: dict[str, Any] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def answer(
        self, method: str, path: str, authorization: str | None, body: Any
    ) -> tuple[int, Any]:
        """The status and JSON body for one request (and remember it)."""
        store = self.store
        with self.lock:
            self.requests.append((method, path, authorization))
            if path.startswith("/readonly/") and method != "GET":
                return 403, {"message": "read-only setting"}
            if method == "GET":
                if path in store:
                    return 200, store[path]
                return 404, {"message": "no such setting"}
            if method == "PUT":
                store[path] = body
                return 200, body
            if method == "PATCH":
                store[path] = merge_patch(store.get(path), body)
                return 200, store[path]
            if method == "DELETE":
                store.pop(path, None)
                return 204, None
            if method == "POST" and path.startswith("/actions/"):
                target = "/settings/" + path.removeprefix("/actions/")
                store[target] = merge_patch(store.get(target), body)
                return 201, {"ok": True}
            return 404, {"message": "no such action"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        status, value = self.server.rest.answer(
            self.command, self.path, self.headers.get("Authorization"), body
        )
        data = b"" if value is None else json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _handle  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rest = RestServer(server_url(self))


@contextmanager
def running_rest_server() -> Iterator[RestServer]:
    """The store on a free loopback port, until the block ends."""
    with serving(_Server()) as server:
        yield server.rest
