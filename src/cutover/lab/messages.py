"""The HTTP request and response values that travel between lab nodes and origins.

They are plain data: the HTTP server parses bytes into a :class:`Request`, every node
and origin answers with a :class:`Response`, and the server writes it back. Hops inside
the lab (edge → shield → origin) pass these objects directly, without sockets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Request:
    """One HTTP request. Header names are lower-case; the first value of a name wins."""

    method: str
    path: str
    query: str = ""  #: the raw query string, without ``?``
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def host(self) -> str:
        """The Host header without a port, lower-cased."""
        host = self.headers.get("host", "").strip().lower()
        if host.startswith("["):
            return host
        return host.rsplit(":", 1)[0] if ":" in host else host

    @property
    def target(self) -> str:
        """Path plus query string, as in the request line."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def with_headers(self, **changes: str) -> Request:
        """A copy with some headers set (keyword names use ``_`` for ``-``)."""
        headers = dict(self.headers)
        for name, value in changes.items():
            headers[name.replace("_", "-").lower()] = value
        return replace(self, headers=headers)


@dataclass
class Response:
    """One HTTP response.

    ``delay`` (seconds) asks the server to wait before answering (injected latency);
    ``drop`` asks it to close the connection without answering after the delay (an
    injected timeout).
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    delay: float = 0.0
    drop: bool = False

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitive."""
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        """Replace every value of a header with one value."""
        lower = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lower]
        self.headers.append((name, value))

    def append_header(self, name: str, value: str) -> None:
        """Append to a comma-separated header, as each CDN node does on delivery."""
        current = self.header(name)
        self.set_header(name, f"{current}, {value}" if current else value)

    def copy(self) -> Response:
        return Response(self.status, list(self.headers), self.body, self.delay, self.drop)


def text_response(
    status: int,
    text: str,
    *,
    content_type: str = "text/plain; charset=utf-8",
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    return Response(status, [("Content-Type", content_type), *headers], text.encode())


def json_response(
    status: int, payload: Any, *, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=False).encode()
    return Response(status, [("Content-Type", "application/json"), *headers], body)


def redirect_response(status: int, location: str) -> Response:
    return Response(
        status,
        [("Location", location), ("Content-Type", "text/html; charset=utf-8")],
        f'<a href="{location}">Moved</a>\n'.encode(),
    )
