"""Models of probes, probe sets and checks files (``checks/*.yml``)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from cutover.reasons import Reason
from cutover.runbook.environment import Environment
from cutover.runbook.types import Duration, Model, Text, Timeout

USER_AGENTS: dict[str, str] = {
    "pip": 'pip/24.0 {"installer":{"name":"pip","version":"24.0"},"cutover":true}',
    "curl": "curl/8.5.0",
    "browser": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36"
    ),
}

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_BODY_BYTES = 64 * 1024**3  #: the largest body size a probe may expect or read (64 GiB)
MAX_REDIRECTS = 100  #: the most redirects a probe may follow (or expect)
MAX_EXPANDED = 100_000  #: the most files one expansion may turn into probes


def _statuses(value: Any) -> Any:
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def merge_probe_fields(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Probe fields, later layers over earlier ones: the one merge of probe defaults.

    A set's ``defaults``, an expansion's ``probe`` and each probe's own fields are layered
    the same way: a field a later layer gives wins; a mapping field both give (``expect``,
    ``headers``) is merged key by key, so a probe with its own ``expect: {status: 200}``
    keeps the set's ``expect: {content_type: ...}``.
    """
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            below = out.get(key)
            if isinstance(value, Mapping) and isinstance(below, Mapping):
                out[key] = {**below, **value}
            else:
                out[key] = value
    return out


class Expect(Model):
    """What a healthy answer looks like. Every field is optional."""

    status: Annotated[list[Annotated[int, Field(ge=100, le=599)]], BeforeValidator(_statuses)] = (
        Field(default_factory=lambda: [200], description="accepted final statuses")
    )
    final_host: Annotated[list[str], BeforeValidator(_one_or_many)] = Field(
        default_factory=list, description="host (or hosts) the chain may end on"
    )
    final_url: str | None = Field(None, description="regular expression the final URL must match")
    max_hops: int | None = Field(
        None, ge=0, le=MAX_REDIRECTS, description="redirects allowed before the answer"
    )
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    size: int | None = Field(None, ge=0, le=MAX_BODY_BYTES, description="body size in bytes")
    content_type: str | None = Field(None, description="prefix of the Content-Type header")
    header_present: list[str] = Field(default_factory=list)
    header_absent: list[str] = Field(default_factory=list)
    header_matches: dict[str, str] = Field(
        default_factory=dict, description="header name → regular expression"
    )
    body: str | None = Field(None, description="regular expression the body must match")
    latency: Duration | None = Field(None, description="latency budget; over it is `slow`")

    @field_validator("final_url", "body")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        return _compiles(value) if value is not None else None

    @field_validator("header_matches")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value.values():
            _compiles(pattern)
        return value


def _compiles(pattern: str) -> str:
    # A pattern Python merely frowns at ("possible nested set") is still a pattern: the
    # user meant it; a FutureWarning printed mid-validation would help no one.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
    return pattern


class ProbeSpec(Model):
    """One synthetic download, followed hop by hop."""

    name: str | None = None
    url: str = Field(pattern=r"^https?://", description="first URL (http or https)")
    method: Literal["GET", "HEAD"] = "GET"
    user_agent: str = Field("pip", description="pip, curl, browser, or a literal string")
    headers: dict[str, Text] = Field(default_factory=dict)
    expect: Expect = Field(default_factory=Expect)
    timeout: Timeout = 10.0
    max_redirects: int = Field(10, ge=0, le=MAX_REDIRECTS, description="hard cap on hops followed")
    retries: int = Field(0, ge=0, le=5, description="a pass after a retry is reported `flaky`")
    cache_bust: bool = Field(
        False, description="append a unique query string so the CDN misses its cache"
    )
    max_bytes: int = Field(
        DEFAULT_MAX_BYTES, ge=0, le=MAX_BODY_BYTES, description="size cap on the body"
    )

    @property
    def user_agent_header(self) -> str:
        return USER_AGENTS.get(self.user_agent, self.user_agent)


class Expansion(Model):
    """Probes generated from data: a file list or a package index's JSON API response."""

    file: str | None = Field(
        None,
        description="path (relative to this file) of a YAML/JSON/CSV list of {url, sha256, size},"
        " or of a saved /pypi/<name>/json response",
    )
    url: str | None = Field(None, description="a /pypi/<name>/json URL fetched when probing")
    format: Literal["auto", "rows", "pypi-json"] = "auto"
    rewrite_host: str | None = Field(
        None, description="probe the same paths through this host (e.g. pypi.python.org)"
    )
    limit: int | None = Field(
        None, ge=1, le=MAX_EXPANDED, description="use at most this many files"
    )
    probe: dict[str, Any] = Field(
        default_factory=dict, description="probe fields applied to every generated probe"
    )

    @model_validator(mode="after")
    def _one_source(self) -> Expansion:
        if (self.file is None) == (self.url is None):
            raise ValueError("give exactly one of `file` or `url`")
        return self


class ProbeSet(Model):
    """A named group of probes: listed, expanded from data, or included from a checks file."""

    description: str = ""
    defaults: dict[str, Any] = Field(
        default_factory=dict, description="probe fields applied to every probe of the set"
    )
    probes: list[ProbeSpec] = Field(default_factory=list)
    expand: list[Expansion] = Field(default_factory=list)
    include: str | None = Field(
        None, description="a checks file (path relative to this file) to take the set from"
    )
    set: str | None = Field(None, description="set name in the included file (default: this key)")
    smoke: bool = Field(
        True,
        description="part of `cutover check`'s default selection; false: an opt-in set (e.g. "
        "a migration-state assertion), run only when named with --set or --add-set",
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        defaults = data.get("defaults")
        probes = data.get("probes")
        if isinstance(defaults, dict) and isinstance(probes, list):
            data = dict(data)
            data["probes"] = [
                merge_probe_fields(defaults, p) if isinstance(p, dict) else p for p in probes
            ]
        return data

    @model_validator(mode="after")
    def _include_alone(self) -> ProbeSet:
        if self.include and (self.probes or self.expand):
            raise ValueError("a set that uses `include` cannot also list probes or expand")
        if self.set and not self.include:
            raise ValueError("`set` names a set in an included file: add `include`")
        return self


class Thresholds(Model):
    """Failure-rate thresholds of ``cutover check`` (fractions of failed probes)."""

    warning: float = Field(0.0, ge=0, le=1, description="above this rate: WARNING (exit 1)")
    critical: float = Field(0.1, ge=0, le=1, description="at or above this rate: CRITICAL (exit 2)")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.critical < self.warning:
            raise ValueError("`critical` must be at least `warning`")
        return self


class ChecksFile(Model):
    """A checks file: named probe sets to run as smoke checks or from runbooks."""

    version: Literal[1] = 1
    name: str
    description: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)
    environments: dict[str, Environment] = Field(default_factory=dict)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    concurrency: int = Field(8, ge=1, le=256)
    sets: dict[str, ProbeSet] = Field(min_length=1)


__all__ = [
    "USER_AGENTS",
    "ChecksFile",
    "Expansion",
    "Expect",
    "ProbeSet",
    "ProbeSpec",
    "Reason",
    "Thresholds",
    "merge_probe_fields",
]
