"""The models of the two live-proxy kinds, ``haproxy`` and ``varnish``.

Both change a running proxy without a reload: HAProxy through its Runtime API (map
entries, server state and weight), Varnish through its management CLI (a VCL loaded and
made active, bans). Their actions live in ``cutover.actions.haproxy`` and
``cutover.actions.varnish``; the kinds are registered in :mod:`cutover.runbook.kinds`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from cutover.runbook.backends import PERMANENT_REDIRECTS, StepBase
from cutover.runbook.types import Model, Text, Timeout

#: a map key or value HAProxy's map file format can hold: one line, no surrounding spaces
#: (a key has no inner whitespace either: the file splits at the first run of spaces)
_MAP_KEY = re.compile(r"^[^\s#][^\s]*$")
_ONE_LINE = re.compile(r"^[^\r\n]*$")

# --- haproxy ----------------------------------------------------------------------------------


class HaproxySettings(Model):
    kind: Literal["haproxy"] = "haproxy"
    socket: str = Field(
        description="the Runtime API (`stats socket … level admin`): a unix socket path, or"
        " `HOST:PORT` for a TCP socket"
    )
    timeout: Timeout = 5.0


class ServerChange(Model):
    """A server's administrative state and/or weight (`set server BACKEND/SERVER …`)."""

    state: Literal["ready", "drain", "maint"] | None = None
    weight: int | None = Field(None, ge=0, le=256)

    @model_validator(mode="after")
    def _something(self) -> ServerChange:
        if self.state is None and self.weight is None:
            raise ValueError("a server change needs `state` or `weight`")
        return self


class HaproxyStep(StepBase):
    kind: Literal["haproxy"] = "haproxy"
    map: str | None = Field(
        None,
        description="the map file, by the absolute path the configuration names it with; the"
        " runtime map and the file on disk are both changed",
    )
    set: dict[str, Text] = Field(default_factory=dict, description="map entries to add or set")
    delete: list[str] = Field(default_factory=list, description="map entries to remove")
    servers: dict[str, ServerChange] = Field(
        default_factory=dict, description="`BACKEND/SERVER` → its state and/or weight"
    )

    @field_validator("map")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("`map` is the map file's absolute path, as the configuration names it")
        return value

    @field_validator("set")
    @classmethod
    def _map_entries(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not _MAP_KEY.match(key):
                raise ValueError(f"map key {key!r}: one word, no spaces, not starting with #")
            if not _ONE_LINE.match(item) or item != item.strip() or not item:
                raise ValueError(f"map value of {key!r}: one line, not empty, no edge spaces")
        return value

    @field_validator("servers")
    @classmethod
    def _server_names(cls, value: dict[str, ServerChange]) -> dict[str, ServerChange]:
        for name in value:
            backend, _, server = name.partition("/")
            if not backend or not server or any(c.isspace() for c in name):
                raise ValueError(f"server {name!r}: write it `BACKEND/SERVER`")
        return value

    @model_validator(mode="after")
    def _one_change(self) -> HaproxyStep:
        if self.map is None and (self.set or self.delete):
            raise ValueError("`set`/`delete` need a `map`")
        if self.map is not None and not (self.set or self.delete):
            raise ValueError("a map step needs `set` or `delete`")
        if self.map is None and not self.servers:
            raise ValueError("an haproxy step changes a `map` (set/delete) and/or `servers`")
        if both := set(self.set) & set(self.delete):
            raise ValueError(f"keys both set and deleted: {sorted(both)}")
        return self

    def permanent_redirect(self) -> bool:
        return any(v.strip() in PERMANENT_REDIRECTS for v in self.set.values())


# --- varnish ----------------------------------------------------------------------------------


class VarnishSettings(Model):
    kind: Literal["varnish"] = "varnish"
    admin: str = Field(
        pattern=r"^[^\s:]+:\d+$", description="the management CLI (`varnishd -T HOST:PORT`)"
    )
    secret_file: str = Field(description="the secret file (`varnishd -S FILE`); never logged")
    keep: int = Field(
        3,
        ge=2,
        le=100,
        description="VCLs loaded by cutover kept loaded (besides the active one); older ones"
        " are discarded",
    )
    timeout: Timeout = 10.0


class VarnishStep(StepBase):
    kind: Literal["varnish"] = "varnish"
    vcl: str | None = Field(
        None, description="the whole VCL to load (under a name from its digest) and make active"
    )
    ban: list[str] = Field(
        default_factory=list,
        description='ban expressions (`req.url ~ "^/packages/"`): a purge, after the VCL',
    )

    @field_validator("ban")
    @classmethod
    def _one_line(cls, value: list[str]) -> list[str]:
        for expression in value:
            if not expression.strip() or not _ONE_LINE.match(expression):
                raise ValueError(f"ban {expression!r}: one line, not empty")
        return value

    @model_validator(mode="after")
    def _something(self) -> VarnishStep:
        if self.vcl is None and not self.ban:
            raise ValueError("a varnish step needs `vcl`, `ban`, or both")
        if self.vcl is not None and not self.vcl.strip():
            raise ValueError("`vcl` is empty")
        return self

    def permanent_redirect(self) -> bool:
        return self.vcl is not None and bool(re.search(r"\.status\s*=\s*30[18]\b", self.vcl))
