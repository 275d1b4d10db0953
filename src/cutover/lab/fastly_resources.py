"""Fastly API resources: their JSON shapes, lookups, and the rules Fastly enforces.

The lab's API (:mod:`cutover.lab.fastly_api`) uses these to answer with the same
paths, verbs, JSON shapes and error style as ``https://api.fastly.com``:

- errors are ``{"msg": ..., "detail": ...}``; a missing or wrong ``Fastly-Key`` is
  ``401 {"msg": "Provided credentials are missing or invalid"}``;
- unknown service / version / domain / dictionary / item: ``404 Record not found``;
- editing a locked (or active) version: ``400 Bad request`` (``Version N is locked``);
- a domain another service's active version claims: ``400 Bad request``
  (``Domain 'x' is already taken by service 'legacy'``), on creation and activation;
- a duplicate domain on one version or a duplicate dictionary item: ``409 Duplicate record``;
- request bodies may be form-encoded (as Fastly's documented examples) or JSON.

Dictionary items and dynamic snippets' content are versionless; everything else that
edits a version needs a draft (clone first). Validation and activation compile the
version's VCL (:mod:`cutover.lab.vcl_service`): anything outside the lab's VCL subset is
an error naming the VCL file (or snippet), line and column.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any
from urllib.parse import parse_qsl

from cutover.lab.messages import Request, Response, json_response
from cutover.lab.state import (
    GENERAL_SETTINGS,
    Backend,
    Condition,
    DictionaryRef,
    Domain,
    Header,
    Item,
    LabState,
    Service,
    Snippet,
    VclFile,
    Version,
)
from cutover.lab.vcl_service import vcl_problems

MAX_BULK_ITEMS = 1000
#: What ``?include=staging_ips`` answers as each domain's ``staging_ip``: the lab's
#: staging network is its loopback data plane.
STAGING_IP = "127.0.0.1"


class ApiError(Exception):
    def __init__(self, status: int, msg: str, detail: str | None = None) -> None:
        super().__init__(f"{status} {msg}: {detail}")
        self.status = status
        self.msg = msg
        self.detail = detail

    def response(self) -> Response:
        payload: dict[str, Any] = {"msg": self.msg}
        if self.detail is not None:
            payload["detail"] = self.detail
        return json_response(self.status, payload)


def unauthorized() -> Response:
    return json_response(401, {"msg": "Provided credentials are missing or invalid"})


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _not_found(detail: str) -> ApiError:
    return ApiError(404, "Record not found", detail)


def _bad_request(detail: str) -> ApiError:
    return ApiError(400, "Bad request", detail)


def request_params(request: Request) -> dict[str, Any]:
    """Query-string parameters, overridden by a form-encoded or JSON body."""
    params: dict[str, Any] = dict(parse_qsl(request.query, keep_blank_values=True))
    if not request.body:
        return params
    if "json" in request.headers.get("content-type", ""):
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            raise _bad_request(f"Invalid JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise _bad_request("The JSON body must be an object")
        params.update(body)
    else:
        params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


# -- JSON shapes ------------------------------------------------------------------


def version_json(service: Service, version: Version) -> dict[str, Any]:
    return {
        "active": version.active,
        "comment": version.comment,
        "created_at": version.created_at,
        "deleted_at": None,
        "deployed": False,
        "locked": version.locked,
        "number": version.number,
        "service_id": service.id,
        "staging": False,
        "testing": False,
        "updated_at": version.updated_at,
    }


def domain_json(service: Service, version: Version, domain: Domain) -> dict[str, Any]:
    return {
        "comment": domain.comment,
        "created_at": domain.created_at,
        "deleted_at": None,
        "name": domain.name,
        "service_id": service.id,
        "updated_at": domain.updated_at,
        "version": version.number,
    }


def settings_json(service: Service, version: Version) -> dict[str, Any]:
    return {**version.settings, "service_id": service.id, "version": version.number}


def dictionary_json(service: Service, version: Version, ref: DictionaryRef) -> dict[str, Any]:
    return {
        "created_at": ref.created_at,
        "deleted_at": None,
        "id": ref.id,
        "name": ref.name,
        "service_id": service.id,
        "updated_at": ref.updated_at,
        "version": version.number,
        "write_only": ref.write_only,
    }


def item_json(service: Service, dictionary_id: str, key: str, item: Item) -> dict[str, Any]:
    return {
        "created_at": item.created_at,
        "deleted_at": None,
        "dictionary_id": dictionary_id,
        "item_key": key,
        "item_value": item.value,
        "service_id": service.id,
        "updated_at": item.updated_at,
    }


def upserted_item_json(
    service: Service, dictionary_id: str, key: str, item: Item
) -> dict[str, Any]:
    """Fastly's answer to ``PUT …/item/{key}`` (an upsert): these four keys only, no
    timestamps (unlike create, get and update)."""
    return {
        "dictionary_id": dictionary_id,
        "item_key": key,
        "item_value": item.value,
        "service_id": service.id,
    }


def backend_json(service: Service, version: Version, backend: Backend) -> dict[str, Any]:
    """Fastly's backend: every key its API returns, the ones the lab does not model at
    Fastly's defaults (``version`` and ``port`` are numbers here, unlike conditions')."""
    ip = backend.address.replace(".", "").isdigit()
    return {
        "address": backend.address,
        "auto_loadbalance": False,
        "between_bytes_timeout": 10000,
        "client_cert": None,
        "comment": backend.comment,
        "connect_timeout": 1000,
        "created_at": backend.created_at,
        "deleted_at": None,
        "fetch_timeout": None,
        "first_byte_timeout": 15000,
        "healthcheck": None,
        "hostname": None if ip else backend.address,
        "ipv4": backend.address if ip else None,
        "ipv6": None,
        "keepalive_time": None,
        "locked": version.locked,
        "max_conn": 200,
        "max_lifetime": None,
        "max_tls_version": None,
        "max_use": None,
        "min_tls_version": None,
        "name": backend.name,
        "override_host": backend.override_host,
        "port": backend.port,
        "prefer_ipv6": False,
        "request_condition": backend.request_condition,
        "service_id": service.id,
        "share_key": None,
        "shield": backend.shield,
        "ssl_ca_cert": None,
        "ssl_cert_hostname": None,
        "ssl_check_cert": True,
        "ssl_ciphers": None,
        "ssl_client_cert": None,
        "ssl_client_key": None,
        "ssl_hostname": None,
        "ssl_sni_hostname": None,
        "tcp_keepalive_enable": None,
        "tcp_keepalive_interval": None,
        "tcp_keepalive_probes": None,
        "tcp_keepalive_time": None,
        "updated_at": backend.updated_at,
        "use_ssl": backend.use_ssl,
        "version": version.number,
        "weight": 100,
    }


def condition_json(service: Service, version: Version, condition: Condition) -> dict[str, Any]:
    """Fastly's condition: ``priority`` and ``version`` are numeric strings."""
    return {
        "comment": condition.comment,
        "created_at": condition.created_at,
        "deleted_at": None,
        "name": condition.name,
        "priority": str(condition.priority),
        "service_id": service.id,
        "statement": condition.statement,
        "type": condition.type,
        "updated_at": condition.updated_at,
        "version": str(version.number),
    }


def header_json(service: Service, version: Version, header: Header) -> dict[str, Any]:
    """Fastly's header rule: ``priority``, ``ignore_if_set`` ("0"/"1") and ``version`` are
    strings; unset conditions and regex fields are ``null``."""
    return {
        "action": header.action,
        "cache_condition": header.cache_condition or None,
        "created_at": header.created_at,
        "deleted_at": None,
        "dst": header.dst,
        "ignore_if_set": "1" if header.ignore_if_set else "0",
        "name": header.name,
        "priority": str(header.priority),
        "regex": header.regex or None,
        "request_condition": header.request_condition or None,
        "response_condition": header.response_condition or None,
        "service_id": service.id,
        "src": header.src or None,
        "substitution": header.substitution or None,
        "type": header.type,
        "updated_at": header.updated_at,
        "version": str(version.number),
    }


def snippet_json(service: Service, version: Version, snippet: Snippet) -> dict[str, Any]:
    """Fastly's snippet: ``dynamic`` and ``priority`` are strings; a dynamic snippet's
    content is not part of the version (read it at ``…/snippet/{id}``)."""
    return {
        "content": None if snippet.dynamic else snippet.content,
        "created_at": snippet.created_at,
        "deleted_at": None,
        "dynamic": "1" if snippet.dynamic else "0",
        "id": snippet.id,
        "name": snippet.name,
        "priority": str(snippet.priority),
        "service_id": service.id,
        "type": snippet.type,
        "updated_at": snippet.updated_at,
        "version": str(version.number),
    }


def vcl_json(service: Service, version: Version, vcl: VclFile) -> dict[str, Any]:
    return {
        "content": vcl.content,
        "created_at": vcl.created_at,
        "deleted_at": None,
        "main": vcl.main,
        "name": vcl.name,
        "service_id": service.id,
        "updated_at": vcl.updated_at,
        "version": version.number,
    }


def service_json(state: LabState, service: Service) -> dict[str, Any]:
    return {
        "comment": service.comment,
        "created_at": service.created_at,
        "customer_id": state.customer_id,
        "deleted_at": None,
        "id": service.id,
        "name": service.name,
        "paused": False,
        "publish_key": "",
        "type": "vcl",
        "updated_at": service.updated_at,
        "versions": [version_json(service, v) for v in service.versions],
    }


def listed_service_json(state: LabState, service: Service) -> dict[str, Any]:
    """A service as ``GET /service`` lists it: ``version`` (the active one, else the
    latest) added, no ``publish_key``."""
    entry = service_json(state, service)
    del entry["publish_key"]
    active = service.active_version
    entry["version"] = active.number if active else max(v.number for v in service.versions)
    return entry


def details_service_json(state: LabState, service: Service) -> dict[str, Any]:
    """The service part of ``GET /service/{id}/details``: no ``paused``, no
    ``publish_key`` (Fastly's details omit both)."""
    body = service_json(state, service)
    del body["paused"], body["publish_key"]
    return body


def version_detail_json(service: Service, version: Version) -> dict[str, Any]:
    return {
        **version_json(service, version),
        "acls": [],
        "backends": [backend_json(service, version, b) for b in version.backends],
        "cache_settings": [],
        "conditions": [condition_json(service, version, c) for c in version.conditions],
        "dictionaries": [dictionary_json(service, version, d) for d in version.dictionaries],
        "directors": [],
        "domains": [domain_json(service, version, d) for d in version.domains],
        "gzips": [],
        "headers": [header_json(service, version, h) for h in version.headers],
        "healthchecks": [],
        "request_settings": [],
        "response_objects": [],
        "settings": dict(version.settings),
        "snippets": [snippet_json(service, version, x) for x in version.snippets],
        "vcls": [vcl_json(service, version, x) for x in version.vcls],
        "wordpress": [],
    }


# -- lookups and rules -------------------------------------------------------------


def find_service(state: LabState, service_id: str) -> Service:
    service = state.service(service_id)
    if service is None:
        raise _not_found(f"Cannot find service '{service_id}'")
    return service


def find_version(state: LabState, service_id: str, raw: str) -> tuple[Service, Version]:
    service = find_service(state, service_id)
    version: Version | None
    if raw == "active":
        version = service.active_version
    elif raw.isdigit():
        version = service.version(int(raw))
    else:
        raise _bad_request(f"Invalid version '{raw}'")
    if version is None:
        raise _not_found(f"Cannot find service version '{service_id}' '{raw}'")
    return service, version


def find_dictionary(version: Version, name: str) -> DictionaryRef:
    ref = version.dictionary(name)
    if ref is None:
        raise _not_found(f"Couldn't find Dictionary '{name}'")
    return ref


def require_editable(version: Version) -> None:
    if version.locked:
        raise _bad_request(f"Version {version.number} is locked")
    if version.active:
        raise _bad_request(f"Version {version.number} is active")


def domain_owner(state: LabState, name: str, exclude: Service) -> Service | None:
    """Another service whose active version claims ``name``."""
    for other in state.services:
        active = other.active_version
        if other.id != exclude.id and active is not None and active.domain(name.lower()):
            return other
    return None


def validation_problems(state: LabState, service: Service, version: Version) -> list[str]:
    problems = []
    if not version.domains:
        problems.append("At least one domain is required")
    for domain in version.domains:
        owner = domain_owner(state, domain.name, service)
        if owner is not None:
            problems.append(f"Domain '{domain.name}' is already taken by service '{owner.name}'")
    problems.extend(vcl_problems(service, version))
    return problems


def validation_warnings(service: Service, version: Version) -> list[str]:
    """What Fastly would accept but warn about (``msg`` of an activation, ``warnings`` of
    a validation), in Fastly's ``Warning: …`` style."""
    warnings = []
    if not version.backends:
        warnings.append("Warning: No backends defined: every request without one fails")
    return warnings


def parse_settings(params: dict[str, Any]) -> dict[str, Any]:
    """Validated settings updates (unknown keys are ignored, as Fastly does)."""
    updates: dict[str, Any] = {}
    for key, raw in params.items():
        if key in ("general.default_ttl", "general.stale_if_error_ttl"):
            try:
                updates[key] = int(raw)
            except (TypeError, ValueError) as exc:
                raise _bad_request(f"Invalid value for {key}: '{raw}'") from exc
        elif key == "general.stale_if_error":
            updates[key] = str(raw).lower() in ("1", "true", "yes")
        elif key in GENERAL_SETTINGS:
            updates[key] = str(raw)
    return updates


DEFAULT_PER_PAGE = 100  #: Fastly's default page size of a paged list
MAX_PER_PAGE = 1000


def page_bounds(params: dict[str, Any]) -> tuple[int, int]:
    """The slice of a paged list: ``page`` (from 1) of ``per_page`` (Fastly's default
    100, at most 1000) records."""
    try:
        page = int(params.get("page", 1))
        per_page = int(params.get("per_page", DEFAULT_PER_PAGE))
    except (TypeError, ValueError) as exc:
        raise _bad_request("page and per_page must be numbers") from exc
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise _bad_request(f"page must be >= 1 and per_page 1..{MAX_PER_PAGE}")
    return (page - 1) * per_page, page * per_page


def check_item(key: Any, value: Any, *, need_value: bool = True) -> tuple[str, str]:
    if not isinstance(key, str) or not key:
        raise _bad_request("Item key can't be blank")
    if len(key) > 256:
        raise _bad_request("Item key is too long (maximum is 256 characters)")
    if value is None:
        if need_value:
            raise _bad_request("Item value can't be blank")
        value = ""
    if not isinstance(value, str):
        value = str(value)
    if len(value) > 8000:
        raise _bad_request("Item value is too long (maximum is 8000 characters)")
    return key, value


def find_dictionary_items(
    state: LabState, service_id: str, dictionary_id: str
) -> tuple[Service, dict[str, Item]]:
    service = find_service(state, service_id)
    known = any(ref.id == dictionary_id for v in service.versions for ref in v.dictionaries)
    if not known:
        raise _not_found(f"Couldn't find Dictionary '{dictionary_id}'")
    return service, service.items.setdefault(dictionary_id, {})


def clone_version(service: Service, source: Version) -> Version:
    stamp = now_iso()
    return Version(
        number=max(v.number for v in service.versions) + 1,
        active=False,
        locked=False,
        comment=source.comment,
        created_at=stamp,
        updated_at=stamp,
        domains=copy.deepcopy(source.domains),
        settings=copy.deepcopy(source.settings),
        dictionaries=copy.deepcopy(source.dictionaries),
        backends=copy.deepcopy(source.backends),
        snippets=copy.deepcopy(source.snippets),
        vcls=copy.deepcopy(source.vcls),
        conditions=copy.deepcopy(source.conditions),
        headers=copy.deepcopy(source.headers),
    )
