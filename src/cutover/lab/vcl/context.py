"""The per-request state a compiled VCL program reads and writes on one node."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Value = str | float | bool | None


@dataclass(frozen=True)
class BackendRef:
    """What ``req.backend`` holds: a version backend, or the shield standing in for one."""

    name: str  #: the VCL name (``F_S3``) or ``shield``
    is_shield: bool = False
    origin: str = ""  #: the backend the shield fetches for (when ``is_shield``)

    @property
    def is_origin(self) -> bool:
        return not self.is_shield


@dataclass
class Message:
    """An HTTP message as VCL sees it (``req``/``bereq``/``beresp``/``resp``/``obj``).

    Headers are kept by lower-case name, with the name as first written."""

    method: str = "GET"
    url: str = "/"
    status: int = 200
    response: str = ""
    headers: dict[str, tuple[str, str]] = field(default_factory=dict)
    body: bytes = b""
    ttl: float = 0.0

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, str]], **fields: object) -> Message:
        message = cls(**fields)  # type: ignore[arg-type]
        for name, value in headers:
            message.headers.setdefault(name.lower(), (name, value))
        return message

    def header(self, name: str) -> str | None:
        found = self.headers.get(name.lower())
        return None if found is None else found[1]

    def set_header(self, name: str, value: str) -> None:
        self.headers[name.lower()] = (name, value)

    def unset_header(self, name: str) -> None:
        self.headers.pop(name.lower(), None)

    def header_list(self) -> list[tuple[str, str]]:
        return list(self.headers.values())

    def copy(self) -> Message:
        return Message(
            self.method,
            self.url,
            self.status,
            self.response,
            dict(self.headers),
            self.body,
            self.ttl,
        )


@dataclass
class Context:
    """One request on one node: the messages, the backend, locals and the environment."""

    req: Message
    tables: Mapping[str, Mapping[str, str]]  #: dictionary and table name -> items
    backends: Mapping[str, BackendRef]  #: VCL backend name -> what assigning it gives
    server_identity: str = ""
    visits_this_service: int = 0
    now: str = ""  #: the HTTP date of ``now``
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    backend: BackendRef | None = None
    bereq: Message = field(default_factory=Message)
    beresp: Message = field(default_factory=Message)
    resp: Message = field(default_factory=Message)
    obj: Message = field(default_factory=Message)
    hash: str = ""
    locals: dict[str, Value] = field(default_factory=dict)
    groups: tuple[str, ...] = ()  #: ``re.group.N`` of the last successful match
    restarts: int = 0
    log: list[str] = field(default_factory=list)
