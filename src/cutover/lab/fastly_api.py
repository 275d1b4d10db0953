"""The lab's control-plane API: a faithful subset of Fastly's, plus ``/lab`` admin paths.

Every request needs the ``Fastly-Key`` header (the lab token). Fault injection for
the API (``PUT /lab/faults/api``) applies to the Fastly paths only, before anything
is read or changed, so an injected error never half-applies a change.

Endpoints (all as documented by Fastly)::

    GET    /service                                          list services
    GET    /service/search?name=NAME                         search by name
    GET    /service/{sid}                                    service
    GET    /service/{sid}/details                            service details
    GET    /service/{sid}/version                            list versions
    POST   /service/{sid}/version                            create an empty draft
    GET    /service/{sid}/version/{v}                        version ({v} may be "active")
    PUT    /service/{sid}/version/{v}                        update (comment)
    PUT    /service/{sid}/version/{v}/clone                  clone into a new draft
    GET    /service/{sid}/version/{v}/validate               validate
    PUT    /service/{sid}/version/{v}/activate               activate (and lock)
    PUT    /service/{sid}/version/{v}/deactivate             deactivate
    PUT    /service/{sid}/version/{v}/lock                   lock
    GET    /service/{sid}/version/{v}/domain                 list domains (?include=staging_ips)
    GET    /service/{sid}/version/{v}/domain/check_all       check every domain
    GET    /service/{sid}/version/{v}/domain/{name}/check    check a domain
    POST   /service/{sid}/version/{v}/domain                 create (name, comment)
    GET    /service/{sid}/version/{v}/domain/{name}          get
    PUT    /service/{sid}/version/{v}/domain/{name}          update (name, comment)
    DELETE /service/{sid}/version/{v}/domain/{name}          delete
    GET    /service/{sid}/version/{v}/settings               settings
    PUT    /service/{sid}/version/{v}/settings               update settings
    GET    /service/{sid}/version/{v}/dictionary             list dictionaries
    POST   /service/{sid}/version/{v}/dictionary             create (name)
    GET    /service/{sid}/version/{v}/dictionary/{name}      get by name
    PUT    /service/{sid}/version/{v}/dictionary/{name}      update (rename, write_only)
    GET    /service/{sid}/version/{v}/dictionary/{did}/info  item count, last update, digest
    DELETE /service/{sid}/version/{v}/dictionary/{name}      delete
    GET    /service/{sid}/dictionary/{did}/items             list items
    PATCH  /service/{sid}/dictionary/{did}/items             bulk create/update/upsert/delete
    POST   /service/{sid}/dictionary/{did}/item              create item
    GET    /service/{sid}/dictionary/{did}/item/{key}        get item
    PUT    /service/{sid}/dictionary/{did}/item/{key}        upsert item
    PATCH  /service/{sid}/dictionary/{did}/item/{key}        update item
    DELETE /service/{sid}/dictionary/{did}/item/{key}        delete item
    GET    /service/{sid}/version/{v}/snippet                list VCL snippets
    POST   /service/{sid}/version/{v}/snippet                create (name, type, content…)
    GET    /service/{sid}/version/{v}/snippet/{name}         get
    PUT    /service/{sid}/version/{v}/snippet/{name}         update
    DELETE /service/{sid}/version/{v}/snippet/{name}         delete
    GET    /service/{sid}/snippet/{id}                       dynamic snippet (versionless)
    PUT    /service/{sid}/snippet/{id}                       update a dynamic snippet's content
    GET    /service/{sid}/version/{v}/{kind}                 list ({kind}: condition, header,
    POST   /service/{sid}/version/{v}/{kind}                   backend, vcl), create,
    GET    /service/{sid}/version/{v}/{kind}/{name}            get,
    PUT    /service/{sid}/version/{v}/{kind}/{name}            update,
    DELETE /service/{sid}/version/{v}/{kind}/{name}            delete
    PUT    /service/{sid}/version/{v}/vcl/{name}/main        mark a custom VCL file main
    POST   /purge/{host}/{path}                              purge a URL
    POST   /service/{sid}/purge/{key}                        purge a surrogate key
    POST   /service/{sid}/purge                              purge keys (Surrogate-Key header)
    POST   /service/{sid}/purge_all                          purge everything of a service
(the purges: :mod:`cutover.lab.purge`, ``Fastly-Soft-Purge: 1`` for soft purge)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from cutover.lab.admin_api import AdminApi
from cutover.lab.cdn import Cdn
from cutover.lab.fastly_dictionaries import DictionaryEndpoints
from cutover.lab.fastly_dictionary_items import DictionaryItemEndpoints
from cutover.lab.fastly_domain_checks import DomainCheckEndpoints
from cutover.lab.fastly_resources import (
    STAGING_IP,
    ApiError,
    clone_version,
    details_service_json,
    dictionary_json,
    domain_json,
    domain_owner,
    find_dictionary,
    find_service,
    find_version,
    listed_service_json,
    now_iso,
    parse_settings,
    request_params,
    require_editable,
    service_json,
    settings_json,
    unauthorized,
    validation_problems,
    validation_warnings,
    version_detail_json,
    version_json,
)
from cutover.lab.fastly_snippets import SnippetEndpoints
from cutover.lab.fastly_version_resources import KINDS, VersionResourceEndpoints
from cutover.lab.faults import FaultInjector
from cutover.lab.messages import Request, Response, json_response
from cutover.lab.purge import Purger
from cutover.lab.scenarios import lab_id
from cutover.lab.state import GENERAL_SETTINGS, DictionaryRef, Domain, LabState, Service, Version
from cutover.lab.state_store import StateStore

Params = dict[str, Any]
_OK = {"status": "ok"}

_S = r"/service/(?P<sid>[^/]+)"
_V = _S + r"/version/(?P<v>[^/]+)"
_D = _S + r"/dictionary/(?P<did>[^/]+)"
_R = _V + f"/(?P<kind>{KINDS})"  #: conditions, headers, backends, custom VCL files

#: (method, path pattern, handler method name)
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(f"^{p}$"), h)
    for m, p, h in [
        ("GET", r"/service", "list_services"),
        ("GET", r"/service/search", "search_service"),
        ("GET", _S, "get_service"),
        ("GET", _S + "/details", "service_details"),
        ("GET", _S + "/version", "list_versions"),
        ("POST", _S + "/version", "create_version"),
        ("GET", _V, "get_version"),
        ("PUT", _V, "update_version"),
        ("PUT", _V + "/clone", "clone"),
        ("GET", _V + "/validate", "validate"),
        ("PUT", _V + "/activate", "activate"),
        ("PUT", _V + "/deactivate", "deactivate"),
        ("PUT", _V + "/lock", "lock"),
        ("GET", _V + "/domain", "list_domains"),
        ("POST", _V + "/domain", "create_domain"),
        ("GET", _V + "/domain/check_all", "check_all_domains"),
        ("GET", _V + "/domain/(?P<name>[^/]+)/check", "check_domain"),
        ("GET", _V + "/domain/(?P<name>[^/]+)", "get_domain"),
        ("PUT", _V + "/domain/(?P<name>[^/]+)", "update_domain"),
        ("DELETE", _V + "/domain/(?P<name>[^/]+)", "delete_domain"),
        ("GET", _V + "/settings", "get_settings"),
        ("PUT", _V + "/settings", "update_settings"),
        ("GET", _V + "/dictionary", "list_dictionaries"),
        ("POST", _V + "/dictionary", "create_dictionary"),
        ("GET", _V + "/dictionary/(?P<name>[^/]+)", "get_dictionary"),
        ("PUT", _V + "/dictionary/(?P<name>[^/]+)", "update_dictionary"),
        ("GET", _V + "/dictionary/(?P<did>[^/]+)/info", "dictionary_info"),
        ("DELETE", _V + "/dictionary/(?P<name>[^/]+)", "delete_dictionary"),
        ("GET", _V + "/snippet", "list_snippets"),
        ("POST", _V + "/snippet", "create_snippet"),
        ("GET", _V + "/snippet/(?P<name>[^/]+)", "get_snippet"),
        ("PUT", _V + "/snippet/(?P<name>[^/]+)", "update_snippet"),
        ("DELETE", _V + "/snippet/(?P<name>[^/]+)", "delete_snippet"),
        ("GET", _S + "/snippet/(?P<snippet_id>[^/]+)", "get_dynamic_snippet"),
        ("GET", _R, "list_resources"),
        ("POST", _R, "create_resource"),
        ("GET", _R + "/(?P<name>[^/]+)", "get_resource"),
        ("PUT", _R + "/(?P<name>[^/]+)", "update_resource"),
        ("DELETE", _R + "/(?P<name>[^/]+)", "delete_resource"),
        ("PUT", _V + "/vcl/(?P<name>[^/]+)/main", "set_main_vcl"),
        ("PUT", _S + "/snippet/(?P<snippet_id>[^/]+)", "update_dynamic_snippet"),
        ("GET", _D + "/items", "list_items"),
        ("PATCH", _D + "/items", "bulk_items"),
        ("POST", _D + "/item", "create_item"),
        ("GET", _D + "/item/(?P<key>[^/]+)", "get_item"),
        ("PUT", _D + "/item/(?P<key>[^/]+)", "upsert_item"),
        ("PATCH", _D + "/item/(?P<key>[^/]+)", "update_item"),
        ("DELETE", _D + "/item/(?P<key>[^/]+)", "delete_item"),
    ]
]


class FastlyApi(
    DictionaryItemEndpoints,
    SnippetEndpoints,
    DictionaryEndpoints,
    DomainCheckEndpoints,
    VersionResourceEndpoints,
):
    def __init__(
        self, store: StateStore, cdn: Cdn, faults: FaultInjector, reset: Callable[[], None]
    ) -> None:
        self.store = store
        self.cdn = cdn
        self.faults = faults
        self.admin = AdminApi(store, cdn, reset)
        self.purges = Purger(cdn, store)

    # -- dispatch ----------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        self.store.refresh()
        if request.headers.get("fastly-key") != self.store.state.token:
            return unauthorized()
        if request.path == "/lab" or request.path.startswith("/lab/"):
            return self.admin.handle(request)
        outcome = self.faults.api(self.store.state.api_faults)
        if outcome.kind == "error":
            return json_response(
                outcome.status,
                {"msg": "Service unavailable", "detail": "lab fault injection"},
            )
        if outcome.kind == "timeout":
            return Response(0, delay=outcome.delay_s, drop=True)
        response = self.purges.route(request)
        if response is None:
            response = self._route(request)
        response.delay += outcome.delay_s
        return response

    def _route(self, request: Request) -> Response:
        allowed: list[str] = []
        for method, pattern, name in ROUTES:
            found = pattern.match(request.path)
            if found is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            arguments = {k: unquote(v) for k, v in found.groupdict().items()}
            try:
                params = request_params(request)
                handler: Callable[..., Response] = getattr(self, name)
                return handler(params, **arguments)
            except ApiError as error:
                return error.response()
        if allowed:
            return ApiError(405, "Method not allowed", f"Allowed: {', '.join(allowed)}").response()
        return ApiError(404, "Record not found", "Cannot find the requested route").response()

    # -- services ------------------------------------------------------------------

    def list_services(self, params: Params) -> Response:
        state = self.store.state
        return json_response(200, [listed_service_json(state, s) for s in state.services])

    def search_service(self, params: Params) -> Response:
        name = params.get("name")
        state = self.store.state
        service = state.service_by_name(str(name)) if name else None
        if service is None:
            raise ApiError(404, "Record not found", f"Cannot find service named '{name}'")
        return json_response(200, service_json(state, service))

    def get_service(self, params: Params, sid: str) -> Response:
        state = self.store.state
        return json_response(200, service_json(state, find_service(state, sid)))

    def service_details(self, params: Params, sid: str) -> Response:
        state = self.store.state
        service = find_service(state, sid)
        active = service.active_version
        shown = active or max(service.versions, key=lambda v: v.number)
        wanted = params.get("version")
        if wanted is not None:
            shown = find_version(state, sid, str(wanted))[1]
        body = details_service_json(state, service)
        body["active_version"] = version_detail_json(service, active) if active else None
        body["version"] = version_detail_json(service, shown)
        return json_response(200, body)

    # -- versions ------------------------------------------------------------------

    def list_versions(self, params: Params, sid: str) -> Response:
        service = find_service(self.store.state, sid)
        return json_response(200, [version_json(service, v) for v in service.versions])

    def get_version(self, params: Params, sid: str, v: str) -> Response:
        service, version = find_version(self.store.state, sid, v)
        return json_response(200, version_json(service, version))

    def update_version(self, params: Params, sid: str, v: str) -> Response:
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            require_editable(version)
            if "comment" in params:
                version.comment = str(params["comment"])
                version.updated_at = now_iso()
            return json_response(200, version_json(service, version))

    def create_version(self, params: Params, sid: str) -> Response:
        """An empty draft (no domains, default settings): ``{"service_id", "number"}``,
        plus ``comment`` when one was given, as Fastly answers."""
        with self.store.mutate() as state:
            service = find_service(state, sid)
            stamp = now_iso()
            comment = params.get("comment")
            draft = Version(
                number=max(v.number for v in service.versions) + 1,
                comment="" if comment is None else str(comment),
                created_at=stamp,
                updated_at=stamp,
                settings=dict(GENERAL_SETTINGS),
            )
            service.versions.append(draft)
            body: dict[str, Any] = {"service_id": service.id, "number": draft.number}
            if comment is not None:
                body = {"comment": draft.comment, **body}
            return json_response(200, body)

    def clone(self, params: Params, sid: str, v: str) -> Response:
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            draft = clone_version(service, version)
            service.versions.append(draft)
            return json_response(200, version_json(service, draft))

    def validate(self, params: Params, sid: str, v: str) -> Response:
        state = self.store.state
        service, version = find_version(state, sid, v)
        problems = validation_problems(state, service, version)
        return json_response(
            200,
            {
                "status": "error" if problems else "ok",
                "msg": problems[0] if problems else None,
                "errors": problems,
                "warnings": validation_warnings(service, version),
                "messages": [],
            },
        )

    def activate(self, params: Params, sid: str, v: str) -> Response:
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            problems = validation_problems(state, service, version)
            if problems:
                raise ApiError(400, "Bad request", problems[0])
            stamp = now_iso()
            for other in service.versions:
                if other.active and other is not version:
                    other.active = False
                    other.updated_at = stamp
            version.active = True
            version.locked = True
            version.updated_at = stamp
            service.updated_at = stamp
            warnings = validation_warnings(service, version)
            return json_response(
                200,
                {
                    **version_json(service, version),
                    "environments": [],
                    "msg": "\n".join(warnings) if warnings else None,
                },
            )

    def deactivate(self, params: Params, sid: str, v: str) -> Response:
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            if not version.active:
                raise ApiError(400, "Bad request", f"Version {version.number} is not active")
            version.active = False
            version.updated_at = service.updated_at = now_iso()
            return json_response(200, version_json(service, version))

    def lock(self, params: Params, sid: str, v: str) -> Response:
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            version.locked = True
            version.updated_at = now_iso()
            return json_response(200, version_json(service, version))

    # -- domains -------------------------------------------------------------------

    def list_domains(self, params: Params, sid: str, v: str) -> Response:
        service, version = find_version(self.store.state, sid, v)
        listed = [domain_json(service, version, d) for d in version.domains]
        if "staging_ips" in str(params.get("include", "")).split(","):
            listed = [{**d, "staging_ip": STAGING_IP} for d in listed]
        return json_response(200, listed)

    def _check_new_domain(
        self, raw: Any, state: LabState, service: Service, version: Version
    ) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise ApiError(400, "Bad request", "Name can't be blank")
        name = raw.strip().lower()
        if version.domain(name) is not None:
            raise ApiError(409, "Duplicate record", f"Duplicate domain: '{name}'")
        owner = domain_owner(state, name, service)
        if owner is not None:
            raise ApiError(
                400, "Bad request", f"Domain '{name}' is already taken by service '{owner.name}'"
            )
        return name

    def create_domain(self, params: Params, sid: str, v: str) -> Response:
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            require_editable(version)
            name = self._check_new_domain(params.get("name"), state, service, version)
            stamp = now_iso()
            domain = Domain(name, str(params.get("comment", "")), stamp, stamp)
            version.domains.append(domain)
            return json_response(200, domain_json(service, version, domain))

    def _domain(self, version: Version, sid: str, v: str, name: str) -> Domain:
        domain: Domain | None = version.domain(name.lower())
        if domain is None:
            raise ApiError(
                404, "Record not found", f'Couldn\'t find Domain \'["{sid}", {v}, "{name}"]\''
            )
        return domain

    def get_domain(self, params: Params, sid: str, v: str, name: str) -> Response:
        service, version = find_version(self.store.state, sid, v)
        return json_response(
            200, domain_json(service, version, self._domain(version, sid, v, name))
        )

    def update_domain(self, params: Params, sid: str, v: str, name: str) -> Response:
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            require_editable(version)
            domain = self._domain(version, sid, v, name)
            new_name = params.get("name")
            if new_name is not None and str(new_name).strip().lower() != domain.name:
                domain.name = self._check_new_domain(new_name, state, service, version)
            if "comment" in params:
                domain.comment = str(params["comment"])
            domain.updated_at = now_iso()
            return json_response(200, domain_json(service, version, domain))

    def delete_domain(self, params: Params, sid: str, v: str, name: str) -> Response:
        with self.store.mutate() as state:
            _, version = find_version(state, sid, v)
            require_editable(version)
            version.domains.remove(self._domain(version, sid, v, name))
            return json_response(200, _OK)

    # -- settings ------------------------------------------------------------------

    def get_settings(self, params: Params, sid: str, v: str) -> Response:
        service, version = find_version(self.store.state, sid, v)
        return json_response(200, settings_json(service, version))

    def update_settings(self, params: Params, sid: str, v: str) -> Response:
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            require_editable(version)
            version.settings.update(parse_settings(params))
            version.updated_at = now_iso()
            return json_response(200, settings_json(service, version))

    # -- dictionaries ----------------------------------------------------------------

    def list_dictionaries(self, params: Params, sid: str, v: str) -> Response:
        service, version = find_version(self.store.state, sid, v)
        return json_response(
            200, [dictionary_json(service, version, d) for d in version.dictionaries]
        )

    def get_dictionary(self, params: Params, sid: str, v: str, name: str) -> Response:
        service, version = find_version(self.store.state, sid, v)
        return json_response(200, dictionary_json(service, version, find_dictionary(version, name)))

    def create_dictionary(self, params: Params, sid: str, v: str) -> Response:
        name = params.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ApiError(400, "Bad request", "Name must be a valid VCL identifier")
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            require_editable(version)
            if version.dictionary(name) is not None:
                raise ApiError(409, "Duplicate record", f"Duplicate dictionary: '{name}'")
            stamp = now_iso()
            ref = DictionaryRef(
                id=lab_id(service.id, "dictionary", name, stamp, str(version.number)),
                name=name,
                write_only=str(params.get("write_only", "false")).lower() == "true",
                created_at=stamp,
                updated_at=stamp,
            )
            version.dictionaries.append(ref)
            service.items.setdefault(ref.id, {})
            return json_response(200, dictionary_json(service, version, ref))

    def delete_dictionary(self, params: Params, sid: str, v: str, name: str) -> Response:
        with self.store.mutate() as state:
            _, version = find_version(state, sid, v)
            require_editable(version)
            version.dictionaries.remove(find_dictionary(version, name))
            return json_response(200, _OK)
