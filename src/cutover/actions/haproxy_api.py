"""HAProxy's Runtime API (the stats socket) and its map files on disk.

:class:`RuntimeApi` speaks the socket's non-interactive mode: one connection per command,
the answer read until HAProxy closes it, bounded by a timeout. Commands that succeed
silently answer an empty line; any other text is HAProxy's refusal, raised as
:class:`RejectedActionError` with its words. A socket that does not answer is a
:class:`TransientActionError` (worth a bounded retry).

A map is replaced atomically with a transaction (HAProxy ≥ 2.4): ``prepare map`` gives a
new, empty version, ``add map @VER`` fills it with the whole map (a payload), ``commit
map @VER`` swaps it in. Lookups see the old map or the new one, never half of a change.

Map files are ``KEY VALUE`` lines (``#`` comments, blank lines); :func:`update_map_file`
changes keys in place, keeps every other line, appends new keys, and writes atomically.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cutover.errors import RejectedActionError, TransientActionError
from cutover.fileio import atomic_write

MAP_FILE_MODE = 0o644
READ_LIMIT = 64 * 1024 * 1024  #: bytes: a bigger answer is refused, not buffered
#: `show servers state` flags (srv_admin_state): forced maintenance, forced drain
ADMIN_FORCED_MAINT = 0x01
ADMIN_FORCED_DRAIN = 0x08
_VERSION = re.compile(r"New version created: (\d+)")


@dataclass(frozen=True)
class ServerState:
    state: str  #: ready | drain | maint (the administrative state cutover sets)
    weight: int  #: the user weight (`set server … weight`)

    def as_json(self) -> dict[str, object]:
        return {"state": self.state, "weight": self.weight}


class RuntimeApi:
    """The Runtime API at ``address``: a unix socket path, or ``HOST:PORT``."""

    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        self.timeout = timeout

    def command(self, line: str, payload: str | None = None) -> str:
        """Send one command (with a ``<<`` payload if given); HAProxy's answer, stripped."""
        data = line if payload is None else f"{line} <<\n{payload.rstrip(chr(10))}\n"
        deadline = time.monotonic() + self.timeout
        try:
            with self._connect() as sock:
                sock.sendall(data.encode("utf-8") + b"\n")
                chunks: list[bytes] = []
                size = 0
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > READ_LIMIT or time.monotonic() > deadline:
                        raise TransientActionError(
                            f"haproxy {self.address}: answer to `{_verb(line)}` too large or slow"
                        )
        except OSError as exc:
            raise TransientActionError(
                f"haproxy Runtime API {self.address} unreachable: {exc}",
                hint="is haproxy running, with `stats socket … level admin` at this address?",
            ) from exc
        return b"".join(chunks).decode("utf-8", errors="replace").strip()

    def _connect(self) -> socket.socket:
        if self.address.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[str, int] = self.address
        else:
            host, _, port = self.address.rpartition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            target = (host, int(port))
        sock.settimeout(self.timeout)
        try:
            sock.connect(target)
        except BaseException:
            sock.close()
            raise
        return sock

    def silent(self, line: str, payload: str | None = None) -> None:
        """A command that answers nothing when it succeeds; its text otherwise is refused."""
        answer = self.command(line, payload)
        if answer:
            raise RejectedActionError(f"haproxy refused `{_verb(line)}`: {answer}")

    # -- maps --------------------------------------------------------------------------------

    def show_map(self, name: str) -> list[tuple[str, str]]:
        """The runtime map's entries, in order (``show map NAME``)."""
        answer = self.command(f"show map {name}")
        entries = []
        for line in answer.splitlines():
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith("0x"):
                raise RejectedActionError(f"haproxy refused `show map {name}`: {answer}")
            entries.append((parts[1], parts[2] if len(parts) > 2 else ""))
        return entries

    def replace_map(self, name: str, entries: list[tuple[str, str]]) -> None:
        """Swap the whole runtime map for ``entries`` in one transaction."""
        prepared = self.command(f"prepare map {name}")
        found = _VERSION.search(prepared)
        if found is None:
            raise RejectedActionError(f"haproxy refused `prepare map {name}`: {prepared}")
        version = found.group(1)
        if entries:
            payload = "\n".join(f"{key} {value}" for key, value in entries)
            self.silent(f"add map @{version} {name}", payload)
        self.silent(f"commit map @{version} {name}")

    # -- servers -----------------------------------------------------------------------------

    def server_state(self, name: str) -> ServerState:
        """``BACKEND/SERVER``'s administrative state and user weight."""
        backend, _, server = name.partition("/")
        answer = self.command(f"show servers state {backend}")
        for line in answer.splitlines():
            cols = line.split()
            if line.startswith("#") or len(cols) < 8 or cols[1] != backend:
                continue
            if cols[3] == server:
                admin = int(cols[6])
                state = (
                    "maint"
                    if admin & ADMIN_FORCED_MAINT
                    else "drain"
                    if admin & ADMIN_FORCED_DRAIN
                    else "ready"
                )
                return ServerState(state, int(cols[7]))
        raise RejectedActionError(
            f"haproxy has no server {name!r}: {answer.splitlines()[-1] if answer else 'no answer'}"
        )

    def set_server(self, name: str, *, state: str | None, weight: int | None) -> None:
        if state is not None:
            self.silent(f"set server {name} state {state}")
        if weight is not None:
            self.silent(f"set server {name} weight {weight}")


def _verb(line: str) -> str:
    return line.split("<<")[0].strip()


def changed_entries(
    entries: list[tuple[str, str]], changes: Mapping[str, str | None]
) -> list[tuple[str, str]]:
    """``entries`` with ``changes`` made (None: removed); a changed key keeps its place,
    a new one goes last."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, value in entries:
        if key in changes:
            if key in seen or changes[key] is None:
                continue
            seen.add(key)
            out.append((key, str(changes[key])))
        else:
            out.append((key, value))
    out += [(k, v) for k, v in changes.items() if v is not None and k not in seen]
    return out


# --- the map file -------------------------------------------------------------------------------


def read_map_file(path: Path) -> dict[str, str] | None:
    """The file's entries (the first of a repeated key wins), None when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    out: dict[str, str] = {}
    for line in text.splitlines():
        parsed = _entry(line)
        if parsed is not None and parsed[0] not in out:
            out[parsed[0]] = parsed[1]
    return out


def update_map_file(path: Path, changes: Mapping[str, str | None]) -> None:
    """Set (or remove, for None) each key of ``changes`` in the map file, atomically;
    every other line is kept as it is."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    out: list[str] = []
    done: set[str] = set()
    for line in lines:
        parsed = _entry(line)
        if parsed is None or parsed[0] not in changes:
            out.append(line)
            continue
        key = parsed[0]
        if key not in done and changes[key] is not None:
            out.append(f"{key} {changes[key]}")
        done.add(key)
    out += [f"{k} {v}" for k, v in changes.items() if v is not None and k not in done]
    atomic_write(path, "".join(f"{line}\n" for line in out), mode=MAP_FILE_MODE, keep_existing=True)


def _entry(line: str) -> tuple[str, str] | None:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    parts = stripped.split(None, 1)
    return parts[0], parts[1].strip() if len(parts) > 1 else ""
