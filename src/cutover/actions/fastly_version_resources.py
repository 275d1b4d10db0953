"""A fastly version step's named resources on the draft: snippets, conditions, headers,
backends and custom VCL files.

Each family is read, written and compared the same way: ``GET …/version/{v}/{path}``
lists them; a resource the step names is created (``POST``), replaced (``PUT …/{name}``)
or deleted (``DELETE …/{name}``, for ``null``). A resource's *state* is the fields the
step manages, read from Fastly's JSON (numbers Fastly sends as strings, ``"0"``/``"1"``
flags and ``null`` for unset are normalised), so the read-back after activation and
reconcile compare like with like. A custom VCL file marked ``main`` is then marked with
``PUT …/vcl/{name}/main``, as Fastly's API does it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cutover.actions.base import Change
from cutover.actions.control import ControlPlane
from cutover.runbook.backends import FastlySnippet, FastlyVersionChange
from cutover.runbook.fastly_resources import (
    FastlyBackend,
    FastlyCondition,
    FastlyHeader,
    FastlyVcl,
)
from cutover.runbook.types import Model

Wire = dict[str, str]
ResourceState = dict[str, Any]


def _flag(value: Any) -> bool:
    return value in (True, "1", "true")


def _int(value: Any, default: int = 100) -> int:
    return default if value in (None, "") else int(value)


def _snippet_wire(s: FastlySnippet) -> Wire:
    wire = {"type": s.type, "content": s.content, "priority": str(s.priority)}
    return {**wire, "dynamic": "1"} if s.dynamic else wire


def _snippet_state(found: Mapping[str, Any]) -> ResourceState:
    """A dynamic snippet's content is not the version's (Fastly sends ``null``): its
    state is its placement only."""
    if _flag(found.get("dynamic")):
        return {"type": found.get("type"), "priority": _int(found.get("priority")), "dynamic": True}
    return {
        "type": found.get("type"),
        "content": found.get("content"),
        "priority": _int(found.get("priority")),
    }


def _condition_wire(c: FastlyCondition) -> Wire:
    return {"type": c.type, "statement": c.statement, "priority": str(c.priority)}


def _condition_state(found: Mapping[str, Any]) -> ResourceState:
    return {
        "type": str(found.get("type") or "").upper(),
        "statement": found.get("statement"),
        "priority": _int(found.get("priority")),
    }


_HEADER_TEXT = (
    "dst",
    "src",
    "regex",
    "substitution",
    "request_condition",
    "cache_condition",
    "response_condition",
)


def _header_wire(h: FastlyHeader) -> Wire:
    return {
        "action": h.action,
        "type": h.type,
        **{key: getattr(h, key) for key in _HEADER_TEXT},
        "ignore_if_set": "1" if h.ignore_if_set else "0",
        "priority": str(h.priority),
    }


def _header_state(found: Mapping[str, Any]) -> ResourceState:
    return {
        "action": found.get("action"),
        "type": found.get("type"),
        **{key: found.get(key) or "" for key in _HEADER_TEXT},
        "ignore_if_set": _flag(found.get("ignore_if_set")),
        "priority": _int(found.get("priority")),
    }


def _backend_wire(b: FastlyBackend) -> Wire:
    return {
        "address": b.address,
        "port": str(b.port),
        "use_ssl": "true" if b.ssl else "false",
        "shield": b.shield or "",
        "override_host": b.override_host or "",
        "request_condition": b.request_condition,
        "comment": b.comment,
    }


def _backend_state(found: Mapping[str, Any]) -> ResourceState:
    return {
        "address": found.get("address"),
        "port": _int(found.get("port"), 443),
        "use_ssl": _flag(found.get("use_ssl")),
        "shield": found.get("shield") or None,
        "override_host": found.get("override_host") or None,
        "request_condition": found.get("request_condition") or "",
        "comment": found.get("comment") or "",
    }


def _vcl_wire(v: FastlyVcl) -> Wire:
    return {"content": v.content, "main": "true" if v.main else "false"}


def _vcl_state(found: Mapping[str, Any]) -> ResourceState:
    return {"content": found.get("content"), "main": _flag(found.get("main"))}


@dataclass(frozen=True)
class Family:
    key: str  #: in snapshots and in the step (``snippets``, ``conditions`` …)
    path: str  #: Fastly's path segment
    label: str  #: in plans and targets
    wire: Callable[[Any], Wire]
    state: Callable[[Mapping[str, Any]], ResourceState]

    def wanted(self, change: FastlyVersionChange) -> Mapping[str, Model | None]:
        found: Mapping[str, Model | None] = getattr(change, self.key)
        return found

    def desired(self, model: Model | None) -> ResourceState | None:
        return None if model is None else self.state(self.wire(model))


FAMILIES = (
    Family("snippets", "snippet", "snippet", _snippet_wire, _snippet_state),
    Family("conditions", "condition", "condition", _condition_wire, _condition_state),
    Family("headers", "header", "header", _header_wire, _header_state),
    Family("backends", "backend", "backend", _backend_wire, _backend_state),
    Family("vcls", "vcl", "custom VCL", _vcl_wire, _vcl_state),
)


def _used(change: FastlyVersionChange) -> list[Family]:
    return [family for family in FAMILIES if family.wanted(change)]


def read(api: ControlPlane, version: str, change: FastlyVersionChange) -> dict[str, Any]:
    """Each family the step names: name -> its state on ``version`` (``None``: absent)."""
    out: dict[str, Any] = {}
    for family in _used(change):
        listed = {x["name"]: x for x in api.request("GET", f"{version}/{family.path}") or []}
        out[family.key] = {
            name: None if name not in listed else family.state(listed[name])
            for name in family.wanted(change)
        }
    return out


def desired(change: FastlyVersionChange) -> dict[str, Any]:
    return {
        family.key: {name: family.desired(m) for name, m in family.wanted(change).items()}
        for family in _used(change)
    }


def write(api: ControlPlane, version: str, change: FastlyVersionChange) -> None:
    """Create, replace or delete each named resource on the draft ``version``."""
    for family in _used(change):
        base = f"{version}/{family.path}"
        present = {x["name"] for x in api.request("GET", base) or []}
        for name, model in family.wanted(change).items():
            if model is None:
                if name in present:
                    api.request("DELETE", f"{base}/{name}")
            elif name in present:
                api.request("PUT", f"{base}/{name}", data=family.wire(model))
            else:
                api.request("POST", base, data={"name": name, **family.wire(model)})
    for name, vcl in change.vcls.items():
        if vcl is not None and vcl.main:
            api.request("PUT", f"{version}/vcl/{name}/main")


def summary(state: ResourceState | None) -> str | None:
    """A resource in one short line (targets, journal): its fields, and a digest of its
    content if it has one (``miss/100 sha256:…`` for a snippet)."""
    if state is None:
        return None
    if "content" not in state:
        return json.dumps(state, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(str(state["content"]).encode()).hexdigest()[:12]
    fields = "/".join(str(v) for k, v in state.items() if k != "content")
    return f"{fields} sha256:{digest}" if fields else f"sha256:{digest}"


def plan(where: str, live: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[Change]:
    """One change per resource; a resource's VCL text (``content``) is a change of its own,
    so the plan can show it as a unified diff (its other fields are shown when the
    resource is added or deleted, or they change)."""
    changes = []
    for family in FAMILIES:
        for name, want in wanted.get(family.key, {}).items():
            have = live.get(family.key, {}).get(name)
            target = f"{where} {family.label} {name}"
            if (have is None or "content" not in have) and (want is None or "content" not in want):
                changes.append(Change(target, have, want))
                continue
            meta = Change(target, _without_content(have), _without_content(want))
            if have is None or want is None or meta.changes:
                changes.append(meta)
            changes.append(
                Change(
                    f"{target} content",
                    None if have is None else have["content"],
                    None if want is None else want["content"],
                )
            )
    return changes


def _without_content(state: ResourceState | None) -> ResourceState | None:
    return None if state is None else {k: v for k, v in state.items() if k != "content"}


def targets(where: str, live: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[Change]:
    return [
        Change(
            f"{where} {family.label} {name}",
            summary(live.get(family.key, {}).get(name)),
            summary(want),
        )
        for family in FAMILIES
        for name, want in wanted.get(family.key, {}).items()
    ]
