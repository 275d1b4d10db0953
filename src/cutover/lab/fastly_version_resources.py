"""Fastly's named, versioned resources: conditions, headers, backends, custom VCL files.

A mixin of :class:`cutover.lab.fastly_api.FastlyApi`. Each family has the same five
endpoints, as Fastly documents them (``{kind}`` is ``condition``, ``header``,
``backend`` or ``vcl``)::

    GET    /service/{sid}/version/{v}/{kind}            list
    POST   /service/{sid}/version/{v}/{kind}            create (name, fields…)
    GET    /service/{sid}/version/{v}/{kind}/{name}     get
    PUT    /service/{sid}/version/{v}/{kind}/{name}     update (fields, or a new name)
    DELETE /service/{sid}/version/{v}/{kind}/{name}     delete ({"status": "ok"})
    PUT    /service/{sid}/version/{v}/vcl/{name}/main   mark a custom VCL file main

Fields are checked when written (a bad enum or number: ``400 Bad request``); what they
refer to (a header's condition, a backend's condition) and the VCL inside (a condition's
statement, a header's source) are checked when the version is validated or activated
(:mod:`cutover.lab.vcl_service`), as Fastly does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cutover.lab.fastly_resources import (
    ApiError,
    backend_json,
    condition_json,
    find_version,
    header_json,
    now_iso,
    require_editable,
    vcl_json,
)
from cutover.lab.messages import Response, json_response
from cutover.lab.state import Backend, Condition, Header, Service, VclFile, Version
from cutover.lab.state_store import StateStore

Params = dict[str, Any]
Resource = Condition | Header | Backend | VclFile

CONDITION_TYPES = ("REQUEST", "CACHE", "RESPONSE")
HEADER_ACTIONS = ("set", "append", "delete", "regex", "regex_repeat")
HEADER_TYPES = ("request", "cache", "response")
#: a header's destination: an HTTP header of the type's object, or (requests) the URL
HEADER_DST = re.compile(r"^(http\.[A-Za-z0-9_-]+|url)$")
_TRUE = ("1", "true", "True")


def _bad(detail: str) -> ApiError:
    return ApiError(400, "Bad request", detail)


def _choice(params: Params, key: str, allowed: tuple[str, ...], fold: Callable[[str], str]) -> str:
    value = fold(str(params[key]))
    if value not in allowed:
        raise _bad(f"{key.capitalize()} must be one of: {', '.join(allowed)}")
    return value


def _integer(params: Params, key: str) -> int:
    try:
        return int(params[key])
    except (TypeError, ValueError) as exc:
        raise _bad(f"{key.capitalize()} must be a number") from exc


def _flag(params: Params, key: str) -> bool:
    return str(params[key]) in _TRUE


def _text(params: Params, key: str) -> str:
    value = params[key]
    return "" if value is None else str(value)


def _condition_fields(params: Params, condition: Condition) -> None:
    if "type" in params:
        condition.type = _choice(params, "type", CONDITION_TYPES, str.upper)
    if "statement" in params:
        condition.statement = _text(params, "statement")
    if "priority" in params:
        condition.priority = _integer(params, "priority")
    if "comment" in params:
        condition.comment = _text(params, "comment")


def _header_fields(params: Params, header: Header) -> None:
    if "action" in params:
        header.action = _choice(params, "action", HEADER_ACTIONS, str.lower)
    if "type" in params:
        header.type = _choice(params, "type", HEADER_TYPES, str.lower)
    if "dst" in params:
        dst = _text(params, "dst")
        if not HEADER_DST.match(dst):
            raise _bad("Dst must be http.NAME (a header) or url")
        header.dst = dst
    for key in ("src", "regex", "substitution"):
        if key in params:
            setattr(header, key, _text(params, key))
    for key in ("request_condition", "cache_condition", "response_condition"):
        if key in params:
            setattr(header, key, _text(params, key))
    if "priority" in params:
        header.priority = _integer(params, "priority")
    if "ignore_if_set" in params:
        header.ignore_if_set = _flag(params, "ignore_if_set")
    if '"}' in header.regex + header.substitution:
        raise _bad('Regex and substitution cannot contain "}')


def _backend_fields(params: Params, backend: Backend) -> None:
    if "address" in params:
        backend.address = _text(params, "address")
    if "port" in params:
        backend.port = _integer(params, "port")
        if "use_ssl" not in params and backend.port in (80, 443):
            backend.use_ssl = backend.port == 443  # as Fastly: 80/443 imply use_ssl
    if "use_ssl" in params:
        backend.use_ssl = _flag(params, "use_ssl")
    for key in ("shield", "override_host"):
        if key in params:
            setattr(backend, key, _text(params, key) or None)
    for key in ("comment", "request_condition"):
        if key in params:
            setattr(backend, key, _text(params, key))


def _vcl_fields(params: Params, vcl: VclFile) -> None:
    if "content" in params:
        vcl.content = _text(params, "content")
    if "main" in params:
        vcl.main = _flag(params, "main")


@dataclass(frozen=True)
class Family:
    """One resource family: its label in messages, its list on a version, its JSON, how a
    new one starts, how fields are written, and which fields a creation needs."""

    label: str
    items: Callable[[Version], list[Any]]
    json: Callable[[Service, Version, Any], dict[str, Any]]
    new: Callable[[str, str], Resource]
    fields: Callable[[Params, Any], None]
    required: tuple[str, ...]


FAMILIES: dict[str, Family] = {
    "condition": Family(
        "Condition",
        lambda v: v.conditions,
        condition_json,
        lambda name, stamp: Condition(name, "", created_at=stamp, updated_at=stamp),
        _condition_fields,
        ("statement", "type"),
    ),
    "header": Family(
        "Header",
        lambda v: v.headers,
        header_json,
        lambda name, stamp: Header(name, "set", "request", "", created_at=stamp, updated_at=stamp),
        _header_fields,
        ("action", "type", "dst"),
    ),
    "backend": Family(
        "Backend",
        lambda v: v.backends,
        backend_json,
        lambda name, stamp: Backend(name, "", created_at=stamp, updated_at=stamp),
        _backend_fields,
        ("address",),
    ),
    "vcl": Family(
        "VCL",
        lambda v: v.vcls,
        vcl_json,
        lambda name, stamp: VclFile(name, "", created_at=stamp, updated_at=stamp),
        _vcl_fields,
        ("content",),
    ),
}
KINDS = "|".join(FAMILIES)


def _find(family: Family, version: Version, name: str) -> Any:
    found = next((x for x in family.items(version) if x.name == name), None)
    if found is None:
        raise ApiError(404, "Record not found", f"Couldn't find {family.label} '{name}'")
    return found


def _only_main(version: Version, main: Any) -> None:
    """At most one custom VCL file is main: marking one unmarks the others."""
    if isinstance(main, VclFile) and main.main:
        for other in version.vcls:
            other.main = other is main


def _unique(family: Family, version: Version, kind: str, name: str) -> None:
    if any(x.name == name for x in family.items(version)):
        raise ApiError(409, "Duplicate record", f"Duplicate {kind}: '{name}'")


class VersionResourceEndpoints:
    store: StateStore

    @contextmanager
    def _editing(self, sid: str, v: str) -> Iterator[tuple[Service, Version]]:
        """A draft version, changed under the state's lock (saved if no error)."""
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            require_editable(version)
            yield service, version

    def list_resources(self, params: Params, sid: str, v: str, kind: str) -> Response:
        family = FAMILIES[kind]
        service, version = find_version(self.store.state, sid, v)
        return json_response(200, [family.json(service, version, x) for x in family.items(version)])

    def get_resource(self, params: Params, sid: str, v: str, kind: str, name: str) -> Response:
        family = FAMILIES[kind]
        service, version = find_version(self.store.state, sid, v)
        return json_response(200, family.json(service, version, _find(family, version, name)))

    def create_resource(self, params: Params, sid: str, v: str, kind: str) -> Response:
        family = FAMILIES[kind]
        name = params.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _bad("Name can't be blank")
        for key in family.required:
            if params.get(key) in (None, ""):
                raise _bad(f"{key.capitalize()} can't be blank")
        with self._editing(sid, v) as (service, version):
            _unique(family, version, kind, name)
            created = family.new(name, now_iso())
            family.fields(params, created)
            family.items(version).append(created)
            _only_main(version, created)
            return json_response(200, family.json(service, version, created))

    def update_resource(self, params: Params, sid: str, v: str, kind: str, name: str) -> Response:
        family = FAMILIES[kind]
        with self._editing(sid, v) as (service, version):
            found = _find(family, version, name)
            new_name = params.get("name")
            if isinstance(new_name, str) and new_name and new_name != name:
                _unique(family, version, kind, new_name)
                found.name = new_name
            family.fields(params, found)
            _only_main(version, found)
            found.updated_at = now_iso()
            return json_response(200, family.json(service, version, found))

    def delete_resource(self, params: Params, sid: str, v: str, kind: str, name: str) -> Response:
        family = FAMILIES[kind]
        with self._editing(sid, v) as (_, version):
            family.items(version).remove(_find(family, version, name))
            return json_response(200, {"status": "ok"})

    def set_main_vcl(self, params: Params, sid: str, v: str, name: str) -> Response:
        return self.update_resource({"main": "1"}, sid, v, "vcl", name)
