"""Turn pydantic validation errors into located, actionable problems.

pydantic reports a ``loc`` tuple; we map it onto the YAML document's positions, skip the
union tags pydantic inserts, and add a "did you mean" hint for unknown keys, computed
from the fields the model accepts at that place.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from cutover.errors import Problem
from cutover.hints import did_you_mean as did_you_mean  # its older home: kept importable
from cutover.runbook.document import Positions


def problems_from_validation(
    exc: ValidationError,
    model: type[BaseModel],
    data: Any,
    positions: Positions,
    prefix: Sequence[str | int] = (),
) -> list[Problem]:
    """One :class:`Problem` per pydantic error, located in the document."""
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        path, tags = _data_path(data, err["loc"], missing=err["type"] == "missing")
        if err["type"] == "union_tag_invalid":
            path = (*path, "kind")
        full = (*prefix, *path)
        message, hint, at_key = _describe(err, model, err["loc"], path, tags)
        if err["type"] == "union_tag_not_found" and "steps" in path:
            message, hint = _step_backend_problem(data, path) or (message, hint)
        key = (str(full), message)
        if key in seen:
            continue
        seen.add(key)
        out.append(positions.problem(full, message, hint=hint, key=at_key))
    return out


def _data_path(
    data: Any, loc: Sequence[str | int], *, missing: bool = False
) -> tuple[tuple[str | int, ...], list[str]]:
    """The part of ``loc`` that exists in the data (union tags and validator names dropped)."""
    path: list[str | int] = []
    tags: list[str] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif last and missing and isinstance(node, dict):
            path.append(part)  # a missing key: located at its parent mapping
        else:
            tags.append(str(part))
    return tuple(path), tags


def _step_backend_problem(data: Any, path: Sequence[str | int]) -> tuple[str, str] | None:
    """When a step's backend exists but is itself invalid, say so instead of guessing."""
    node = data
    for part in path:
        node = node[part]  # the path exists: _data_path built it from the data
    backends = data.get("backends") if isinstance(data, dict) else None
    name = node.get("backend") if isinstance(node, dict) else None
    if isinstance(name, str) and isinstance(backends, dict):
        if name in backends:
            return f"backend {name!r} is invalid", "fix the backend's `kind` first"
        hint = did_you_mean(name, backends) or "define it under `backends`"
        return f"unknown backend {name!r}", hint
    return None


def _describe(
    err: Any,
    model: type[BaseModel],
    loc: Sequence[str | int],
    path: Sequence[str | int],
    tags: list[str],
) -> tuple[str, str | None, bool]:
    kind = err["type"]
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else "?"
        allowed = allowed_keys(model, loc[:-1])
        return f"unknown key {name!r}", did_you_mean(name, allowed), True
    if kind == "missing":
        return f"missing required key {path[-1]!r}" if path else "missing value", None, False
    if kind == "union_tag_not_found":
        if "steps" in path:
            return (
                "cannot tell which backend this step uses",
                "set `backend:` to the name of a backend defined in `backends`",
                False,
            )
        from cutover.runbook.kinds import KINDS

        return "missing `kind`", f"set `kind:` to one of: {', '.join(KINDS.names())}", False
    if kind == "union_tag_invalid":
        ctx = err.get("ctx") or {}
        tag = str(ctx.get("tag", ""))
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        hint = did_you_mean(tag, expected, list_all=True) or ""
        if hint.startswith("expected"):
            hint += "; a plugin's kind is known once its package is installed"
        return f"unknown kind {tag!r}", hint, False
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "expected a mapping (key: value)", None, False
    if kind == "list_type":
        return "expected a list", "write the items as a YAML list (- item)", False
    if kind == "literal_error":
        ctx = err.get("ctx") or {}
        return f"invalid value {err.get('input')!r}", f"expected {ctx.get('expected')}", False
    if kind == "enum":
        ctx = err.get("ctx") or {}
        return f"invalid value {err.get('input')!r}", f"expected {ctx.get('expected')}", False
    if kind == "effective_guard":  # see Runbook._effective_guards
        ctx = err.get("ctx") or {}
        return str(err["msg"]), ctx.get("hint"), False
    message = str(err["msg"]).removeprefix("Value error, ")
    return message, None, False


def allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> set[str]:
    """Field names (and aliases) the models accept at ``loc`` below ``model``."""
    current: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for tp in current:
            nxt.extend(_step_into(tp, part))
        current = nxt
    keys: set[str] = set()
    for tp in current:
        for candidate in _flatten(tp):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                for name, info in candidate.model_fields.items():
                    keys.add(info.alias or name)
    return keys


def _flatten(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        for meta in typing.get_args(tp)[1:]:
            union = getattr(meta, "union", None)  # a union known at validation time
            if callable(union):
                return _flatten(union())
        return _flatten(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(tp):
            out.extend(_flatten(arg))
        return out
    return [tp]


def _step_into(tp: Any, part: str | int) -> list[Any]:
    out: list[Any] = []
    for candidate in _flatten(tp):
        origin = typing.get_origin(candidate)
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            if isinstance(part, str):
                field = candidate.model_fields.get(part)
                if field is not None:
                    out.append(field.annotation)
                elif _tag_of(candidate) == part:
                    out.append(candidate)  # a union tag in the loc
        elif origin is list and isinstance(part, int):
            out.append(typing.get_args(candidate)[0])
        elif origin is dict and isinstance(part, str):
            out.append(typing.get_args(candidate)[1])
    return out


def _tag_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    if field is None:
        return None
    default = field.default
    return default if isinstance(default, str) else None
