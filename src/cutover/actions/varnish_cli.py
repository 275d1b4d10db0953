"""Varnish's management CLI (``varnishd -T``), spoken directly: a small client.

The protocol (varnish-cli(7)): every answer is a header line ``STATUS LENGTH`` (status: 3
digits; length: the body's bytes), the body, and a newline. On connect Varnish answers
107 with a challenge; the client answers ``auth`` with the SHA-256 of
``challenge \\n secret challenge \\n`` (the secret file's bytes as they are), and gets 200.
A command that fails answers another status (106 for a parameter problem, 300 for a
compile error…) with Varnish's message.

Speaking it directly, rather than running ``varnishadm`` per command, keeps one
connection for a step, gives the exact status of each command, and keeps the secret off
every command line. The secret is read when connecting and never logged.
"""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from typing import Any

from cutover.errors import RejectedActionError, TransientActionError

OK = 200
AUTH_REQUIRED = 107
MAX_BODY = 16 * 1024 * 1024  #: bytes: a bigger answer is refused
HEREDOC = "CUTOVER_VCL_END"


class VarnishCli:
    """An authenticated connection to ``HOST:PORT``; use as a context manager."""

    def __init__(self, address: str, secret_file: str, timeout: float) -> None:
        self.address = address
        self.secret_file = secret_file
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._reader: Any = None

    def __enter__(self) -> VarnishCli:
        host, _, port = self.address.rpartition(":")
        try:
            self._sock = socket.create_connection((host, int(port)), timeout=self.timeout)
            self._reader = self._sock.makefile("rb")
            status, body = self._answer()
        except OSError as exc:
            self.close()
            raise TransientActionError(
                f"varnish CLI {self.address} unreachable: {exc}",
                hint="is varnishd running with `-T` at this address?",
            ) from exc
        if status == AUTH_REQUIRED:
            self._authenticate(body.split("\n", 1)[0])
        elif status != OK:
            self.close()
            raise RejectedActionError(f"varnish CLI {self.address} answered {status}: {body}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _authenticate(self, challenge: str) -> None:
        try:
            secret = Path(self.secret_file).read_bytes()
        except OSError as exc:
            self.close()
            raise RejectedActionError(
                f"cannot read the varnish secret file {self.secret_file}: {exc.strerror}"
            ) from exc
        token = hashlib.sha256(
            challenge.encode() + b"\n" + secret + challenge.encode() + b"\n"
        ).hexdigest()
        status, _ = self._send(f"auth {token}")
        if status != OK:
            self.close()
            raise RejectedActionError(
                f"varnish CLI {self.address} refused the secret file {self.secret_file} ({status})",
                hint="the file must be the one varnishd was started with (`-S`)",
            )

    def _send(self, line: str) -> tuple[int, str]:
        assert self._sock is not None
        try:
            self._sock.sendall(line.encode("utf-8") + b"\n")
            return self._answer()
        except OSError as exc:
            raise TransientActionError(f"varnish CLI {self.address}: {exc}") from exc

    def _answer(self) -> tuple[int, str]:
        head = self._reader.readline(64)
        try:
            status, length = int(head[:3]), int(head[3:].strip())
        except ValueError:
            raise TransientActionError(
                f"varnish CLI {self.address}: not a CLI answer: {head[:40]!r}"
            ) from None
        if length > MAX_BODY:
            raise TransientActionError(f"varnish CLI {self.address}: answer of {length} bytes")
        body = self._reader.read(length + 1)  # the body and its newline
        return status, body[:length].decode("utf-8", errors="replace")

    def run(self, line: str) -> str:
        """One command; its answer's body when it succeeds, else raise with Varnish's words."""
        status, body = self._send(line)
        if status != OK:
            verb = line.split(None, 1)[0]
            raise RejectedActionError(f"varnish refused `{verb}` ({status}): {body.strip()}")
        return body

    def json(self, line: str) -> list[Any]:
        """A ``-j`` command's items (the answer's elements after the header three)."""
        found = json.loads(self.run(line))
        return list(found[3:])

    # -- what the varnish action uses --------------------------------------------------------------

    def vcl_list(self) -> list[dict[str, Any]]:
        return self.json("vcl.list -j")

    def active_vcl(self) -> str | None:
        return next((v["name"] for v in self.vcl_list() if v["status"] == "active"), None)

    def vcl_inline(self, name: str, source: str) -> None:
        if HEREDOC in source:
            raise RejectedActionError(f"the VCL contains the line marker {HEREDOC!r}")
        self.run(f"vcl.inline {name} << {HEREDOC}\n{source.rstrip()}\n{HEREDOC}")

    def ban_specs(self) -> list[str]:
        return [str(b.get("spec", "")) for b in self.json("ban.list -j")]
