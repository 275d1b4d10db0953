"""A fastly version step's named resources, as Fastly defines them.

Each is added or replaced by name on the cloned draft (``null`` deletes one):
conditions, header rules, backends (with shielding and ``override_host``) and custom
VCL files (one of them ``main``). VCL snippets are :class:`FastlySnippet` (in
:mod:`cutover.runbook.backends`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cutover.runbook.types import Model

HEADER_CONDITION = {
    "request": "request_condition",
    "cache": "cache_condition",
    "response": "response_condition",
}


class FastlyCondition(Model):
    """A named VCL condition: REQUEST (``req``), CACHE (``beresp``) or RESPONSE (``resp``)."""

    type: Literal["REQUEST", "CACHE", "RESPONSE"]
    statement: str = Field(min_length=1, description='one VCL expression, e.g. `req.url ~ "^/a"`')
    priority: int = Field(100, ge=0, le=10_000, description="lower is placed first")


class FastlyHeader(Model):
    """A header rule: ``action`` on the ``type``'s object at ``dst``, from ``src``."""

    action: Literal["set", "append", "delete", "regex", "regex_repeat"]
    type: Literal["request", "cache", "response"]
    dst: str = Field(pattern=r"^(http\.[A-Za-z0-9_-]+|url)$", description="`http.NAME` or `url`")
    src: str = Field("", description="a VCL expression (a quoted string for a fixed value)")
    regex: str = ""
    substitution: str = ""
    ignore_if_set: bool = False
    priority: int = Field(100, ge=0, le=10_000)
    request_condition: str = ""
    cache_condition: str = ""
    response_condition: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> FastlyHeader:
        if self.action != "delete" and not self.src:
            raise ValueError(f"a `{self.action}` header needs `src` (a VCL expression)")
        if self.action.startswith("regex") and not self.regex:
            raise ValueError(f"a `{self.action}` header needs `regex`")
        wanted = HEADER_CONDITION[self.type]
        for field in HEADER_CONDITION.values():
            if field != wanted and getattr(self, field):
                raise ValueError(f"a {self.type} header takes `{wanted}`, not `{field}`")
        return self


class FastlyBackend(Model):
    """A version backend; ``shield`` names the shield POP, ``override_host`` the Host sent."""

    address: str = Field(min_length=1, description="hostname or IP address")
    port: int = Field(443, ge=1, le=65_535)
    use_ssl: bool | None = Field(None, description="default: true on port 443, else false")
    shield: str | None = None
    override_host: str | None = None
    request_condition: str = Field("", description="a REQUEST condition that selects it")
    comment: str = ""

    @property
    def ssl(self) -> bool:
        return self.port == 443 if self.use_ssl is None else self.use_ssl


class FastlyVcl(Model):
    """A custom VCL file; the ``main`` one replaces Fastly's boilerplate."""

    content: str = Field(min_length=1, description="the VCL file's text")
    main: bool = False
