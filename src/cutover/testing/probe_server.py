"""A real HTTP server on loopback that misbehaves in every way a probe must name.

Several hostnames (``a.test``, ``b.test``, ``c.test``, ``files.test``, ``index.test``) are
sent to this one server through the probe's resolve map (:meth:`MisbehavingServer.resolve`);
it routes by Host and path: ``/file`` answers :data:`BODY`; ``/loop1``, ``/loop2``,
``/loop3`` loop; ``/503``, ``/gone``, ``/truncated``, ``/short``, ``/hang``, ``/big``,
``/wrong-bytes``, ``/html-error``, ``/flaky/<any>`` (503 once, then 200) and more misbehave;
``/pypi/sampleproject/json`` and ``/simple/sampleproject/`` list :data:`PACKAGES`, served
under ``/packages/...`` on ``files.test``. See ``Handler.do_GET`` for every route::

    with running_server() as server:
        with ProbeRunner(resolve=server.resolve()) as runner: ...
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from cutover.testing.net import serving

HOSTS = ("a.test", "b.test", "c.test", "files.test", "index.test")
BODY = bytes(range(256)) * 400  # 102,400 bytes
BODY_SHA256 = hashlib.sha256(BODY).hexdigest()
WRONG = bytes(reversed(BODY))
HTML_ERROR = b"<html><body><h1>Service temporarily unavailable</h1></body></html>\n"
PACKAGES = {
    "sampleproject-4.0.0-py3-none-any.whl": bytes(range(200)) * 50,
    "sampleproject-4.0.0.tar.gz": b"tar.gz bytes " * 700,
}
HANG_LIMIT = 5.0  #: a hanging handler gives up after this long (the server's own bound)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_path(name: str) -> str:
    digest = sha(PACKAGES[name])
    return f"/packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{name}"


def pypi_json(files_origin: str) -> dict[str, object]:
    """A /pypi/sampleproject/json response whose files live on ``files_origin``."""
    return {
        "info": {"name": "sampleproject", "version": "4.0.0"},
        "urls": [
            {
                "filename": name,
                "url": files_origin + hash_path(name),
                "digests": {"sha256": sha(data), "md5": "x"},
                "size": len(data),
            }
            for name, data in PACKAGES.items()
        ],
    }


@dataclass
class ServerState:
    stop: threading.Event = field(default_factory=threading.Event)
    counters: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, key: str) -> int:
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            return self.counters[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: MisbehavingServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        parts = urlsplit(self.path)
        path = parts.path
        origin = f"http://{host}"
        self.server.seen_user_agents.append(self.headers.get("User-Agent", ""))
        self.server.seen_paths.append(self.path)
        self.server.seen_hosts.append(self.headers.get("Host", ""))

        def redirect(location: str | None, status: int = 302) -> None:
            self.send_response(status)
            if location is not None:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def body(
            data: bytes,
            status: int = 200,
            ctype: str = "application/octet-stream",
            extra: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Cache", "MISS, MISS")
            self.send_header("X-Served-By", f"edge-{host}, shield-{host}")
            self.send_header("Age", "0")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if not head:
                self.wfile.write(data)

        nxt = {"a.test": "b.test", "b.test": "a.test"}
        ring = {"a.test": "b.test", "b.test": "c.test", "c.test": "a.test"}
        if path == "/file":
            body(BODY)
        elif path == "/loop1":
            redirect(f"{origin}/loop1", 301)
        elif path == "/loop2":
            redirect(f"http://{nxt.get(host, 'a.test')}/loop2", 301)
        elif path == "/loop3":
            redirect(f"http://{ring.get(host, 'a.test')}/loop3", 302)
        elif path.startswith("/endless/"):
            n = int(path.rsplit("/", 1)[1])
            redirect(f"/endless/{n + 1}")
        elif path == "/no-location":
            redirect(None, 302)
        elif path == "/empty-location":
            redirect("", 301)
        elif path == "/to-404":
            redirect("http://b.test/gone", 301)
        elif path == "/gone":
            body(b"not found\n", 404, "text/plain")
        elif path == "/503":
            body(b"backend unavailable\n", 503, "text/plain")
        elif path == "/418":
            body(b"teapot\n", 418, "text/plain")
        elif path == "/204":
            self.send_response(204)
            self.end_headers()
        elif path == "/wrong-bytes":
            body(WRONG)
        elif path == "/html-error":
            body(HTML_ERROR, 200, "text/html; charset=utf-8")
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n" % (1000, b"x" * 1000))
            self.wfile.write(b"%x\r\n" % 5000 + b"y" * 100)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[: len(BODY) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif path == "/hang":
            self.server.state.stop.wait(HANG_LIMIT)
            self.close_connection = True
        elif path == "/hang-body":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:1000])
            self.wfile.flush()
            self.server.state.stop.wait(HANG_LIMIT)
            self.close_connection = True
        elif path == "/to-ftp":
            redirect("ftp://a.test/file")
        elif path == "/to-javascript":
            redirect("javascript:alert(1)")
        elif path == "/big":
            body(b"z" * (2 * 1024 * 1024))
        elif path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"%x\r\n%s\r\n" % (65536, b"z" * 65536))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/slow":
            time.sleep(0.3)
            body(BODY)
        elif path == "/to-b":
            redirect("http://b.test/file")
        elif path.startswith("/flaky/"):
            if self.server.state.count(path) == 1:
                body(b"try again\n", 503, "text/plain")
            else:
                body(BODY)
        elif path.startswith("/always-503/"):
            self.server.state.count(path)
            body(b"no\n", 503, "text/plain")
        elif path == "/rel/a/b":
            redirect("../../file")
        elif path == "/scheme-relative":
            redirect("//b.test/file")
        elif path == "/echo-query":
            body(parts.query.encode(), 200, "text/plain")
        elif path == "/pypi/sampleproject/json":
            body(json.dumps(pypi_json("http://files.test")).encode(), 200, "application/json")
        elif path == "/pypi/broken/json":
            body(b"{not json", 200, "application/json")
        elif path == "/simple/sampleproject/":
            links = "".join(
                f'<a href="http://files.test{hash_path(n)}#sha256={sha(d)}">{n}</a>\n'
                for n, d in PACKAGES.items()
            )
            body(f"<html><body>{links}</body></html>".encode(), 200, "text/html")
        elif path.startswith("/packages/"):
            name = path.rsplit("/", 1)[1]
            if name in PACKAGES and path == hash_path(name):
                if host == "files.test":
                    body(PACKAGES[name])
                else:  # the index and legacy hosts send files to the files host
                    redirect(f"http://files.test{path}", 301)
            else:
                body(b"missing\n", 404, "text/plain")
        else:
            body(b"no route\n", 404, "text/plain")


class MisbehavingServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.server_names: list[str | None] = []
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.state = ServerState()
        self.seen_user_agents: list[str] = []
        self.seen_paths: list[str] = []
        self.seen_hosts: list[str] = []

    def handle_error(self, request: object, client_address: object) -> None:
        return  # probes hang up on purpose (size caps, timeouts): not an error here

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def resolve(self) -> dict[str, str]:
        return dict.fromkeys(HOSTS, f"127.0.0.1:{self.port}")

    def checks_yaml(self, sets: str, extra: str = "", name: str = "smoke") -> str:
        """A checks file whose environment ``test`` sends every host here: ``sets`` (YAML
        under ``sets:``, indented two spaces), ``extra`` top-level keys before them."""
        resolve = "\n".join(
            f'      {host}: "{address}"' for host, address in self.resolve().items()
        )
        return (
            f"version: 1\nname: {name}\n"
            f"environments:\n  test:\n    resolve:\n{resolve}\n"
            "thresholds: {warning: 0.0, critical: 0.5}\n"
            f"{extra}sets:\n{sets}"
        )


@contextmanager
def running_server(tls: ssl.SSLContext | None = None) -> Iterator[MisbehavingServer]:
    """The server on a free loopback port (TLS with ``tls``), until the block ends."""
    server = MisbehavingServer(tls)
    try:
        with serving(server):
            yield server
    finally:
        server.state.stop.set()  # hanging handlers give up at once


def make_certificate(directory: Path, hostname: str) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for ``hostname``, made with the openssl CLI."""
    cert, key = directory / f"{hostname}.pem", directory / f"{hostname}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={hostname}",
            "-addext",
            f"subjectAltName=DNS:{hostname}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key
