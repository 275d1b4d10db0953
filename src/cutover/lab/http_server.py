"""A small, fast HTTP/1.1 server on asyncio, running on one background thread.

Why not ``http.server``: the lab must answer over a thousand cache hits per second to a
single keep-alive client; a protocol-level asyncio server does that in pure Python and
handles injected latency without a thread per connection.

Supported: HTTP/1.0 and 1.1, keep-alive, pipelining (answered in order), bodies with
``Content-Length``. Not supported (answered with an error and a close): chunked request
bodies (501), headers over 64 KiB (431), bodies over 4 MiB (413).

Applications are plain callables ``Request -> Response`` run on the loop thread.
A response with ``delay`` is sent after that many seconds; one with ``drop`` closes the
connection without answering (an injected timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from http import HTTPStatus

from cutover.lab.messages import Request, Response

log = logging.getLogger(__name__)

App = Callable[[Request], Response]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_PIPELINED = 64  #: requests answered per read before yielding to the loop
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

_REASONS = {s.value: s.phrase for s in HTTPStatus}


class _DateHeader:
    """The ``Date`` header value (and VCL's ``now``), formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))
        return self._value


http_date = _DateHeader()


class _Connection(asyncio.Protocol):
    def __init__(self, server: _Listener) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting = False  # a delayed response is pending: hold later requests
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.waiting:
            self._process()

    def abort(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, status: int, text: str) -> None:
        response = Response(status, [("Content-Type", "text/plain")], text.encode())
        self._write("GET", response, keep_alive=False)

    def _process(self) -> None:
        for _ in range(MAX_PIPELINED):
            if self.waiting or self.closed:
                return
            while self.buffer[:2] == b"\r\n":  # tolerate blank lines between requests
                del self.buffer[:2]
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    self._fail(431, "request header fields too large\n")
                return
            parsed = self._parse_head(end)
            if parsed is None:
                return
            method, path, query, version, headers = parsed
            if "transfer-encoding" in headers:
                self._fail(501, "chunked request bodies are not supported\n")
                return
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._fail(400, "bad Content-Length\n")
                return
            if length < 0 or length > MAX_BODY_BYTES:
                self._fail(413, "request body too large\n")
                return
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            connection = headers.get("connection", "").lower()
            if version == "HTTP/1.1":
                keep_alive = connection != "close"
            else:
                keep_alive = connection == "keep-alive"
            request = Request(method, path, query, headers, body)
            try:
                response = self.server.app(request)
            except Exception:  # a bug in the lab must not kill the server
                log.exception("lab application error")
                response = Response(500, [("Content-Type", "text/plain")], b"lab internal error\n")
            if response.delay > 0 or response.drop:
                self.waiting = True
                loop = asyncio.get_running_loop()
                self.timer = loop.call_later(
                    response.delay, self._finish_delayed, method, response, keep_alive
                )
                return
            self._write(method, response, keep_alive)
        if self.buffer and not self.closed:  # more pipelined requests: continue later
            asyncio.get_running_loop().call_soon(self._process)

    def _parse_head(self, end: int) -> tuple[str, str, str, str, dict[str, str]] | None:
        head = bytes(self.buffer[:end]).decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._fail(400, "bad request line\n")
            return None
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                self._fail(400, "bad header line\n")
                return None
            headers.setdefault(name.lower(), value.strip())
        if target.startswith(("http://", "https://")):  # absolute-form
            rest = target.split("://", 1)[1]
            host, slash, target = rest.partition("/")
            target = slash + target if slash else "/"
            headers.setdefault("host", host)
        path, _, query = target.partition("?")
        return method, path, query, version, headers

    def _finish_delayed(self, method: str, response: Response, keep_alive: bool) -> None:
        self.timer = None
        self.waiting = False
        if self.closed:
            return
        if response.drop:
            assert self.transport is not None
            self.transport.abort()
            return
        self._write(method, response, keep_alive)
        if not self.closed:
            self._process()

    def _write(self, method: str, response: Response, keep_alive: bool) -> None:
        if self.closed or self.transport is None:
            return
        status = response.status
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        lines.extend(
            f"{k}: {v}"
            for k, v in response.headers
            if k.lower() not in ("content-length", "connection", "date")
        )
        lines.append(f"Content-Length: {len(response.body)}")
        lines.append(f"Date: {http_date()}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        self.transport.write(head if no_body else head + response.body)
        if not keep_alive:
            self.closed = True
            self.transport.close()


class _Listener:
    def __init__(self, app: App) -> None:
        self.app = app
        self.connections: set[_Connection] = set()
        self.server: asyncio.base_events.Server | None = None


class ServerThread:
    """Serves several apps, each on its own loopback port, from one thread and loop."""

    def __init__(
        self,
        apps: list[tuple[App, int]],
        host: str = "127.0.0.1",
        tls: dict[int, ssl.SSLContext] | None = None,
    ) -> None:
        self.host = host
        self._apps = apps
        self._tls = dict(tls or {})  #: app index -> the TLS context it is served with
        self._listeners = [_Listener(app) for app, _ in apps]
        self.ports: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cutover-lab-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("the lab server did not start in time")
        if self._error is not None:
            self._thread.join(STOP_TIMEOUT_S)
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                for index, (listener, (_, port)) in enumerate(
                    zip(self._listeners, self._apps, strict=True)
                ):
                    listener.server = loop.run_until_complete(
                        loop.create_server(
                            lambda lst=listener: _Connection(lst),
                            self.host,
                            port,
                            reuse_address=True,
                            ssl=self._tls.get(index),
                        )
                    )
                    self.ports.append(listener.server.sockets[0].getsockname()[1])
            except BaseException as exc:
                self._error = exc
                self._close_servers(loop)
                return
            finally:
                self._ready.set()
            loop.run_forever()
            self._close_servers(loop)
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _close_servers(self, loop: asyncio.AbstractEventLoop) -> None:
        for listener in self._listeners:
            if listener.server is not None:
                listener.server.close()
            for connection in list(listener.connections):
                connection.abort()
        for listener in self._listeners:
            if listener.server is not None:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(
                        asyncio.wait_for(listener.server.wait_closed(), STOP_TIMEOUT_S)
                    )

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):  # the loop may have closed already
            loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT_S)
        if thread.is_alive():
            raise RuntimeError("the lab server thread did not stop in time")

    def call(self, function: Callable[[], object]) -> None:
        """Run ``function`` on the server's loop thread and wait for it."""
        loop = self._loop
        assert loop is not None
        done = threading.Event()

        def run() -> None:
            try:
                function()
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        if not done.wait(STOP_TIMEOUT_S):
            raise RuntimeError("the lab server did not run the call in time")
