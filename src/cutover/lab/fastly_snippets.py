"""Fastly's VCL snippet endpoints.

A mixin of :class:`cutover.lab.fastly_api.FastlyApi`. Versioned snippets are edited on
a draft (list, create, get, update, delete by name); a dynamic snippet's content is
versionless (``GET``/``PUT /service/{sid}/snippet/{id}``) and live at once. Validation
of the VCL inside happens when the version is validated or activated, as with Fastly.
"""

from __future__ import annotations

from typing import Any

from cutover.lab.fastly_resources import (
    ApiError,
    find_service,
    find_version,
    now_iso,
    require_editable,
    snippet_json,
)
from cutover.lab.messages import Response, json_response
from cutover.lab.scenarios import lab_id
from cutover.lab.state import Service, Snippet, Version
from cutover.lab.state_store import StateStore
from cutover.lab.vcl.builtins import MACROS

Params = dict[str, Any]
SNIPPET_TYPES = frozenset({"init", "none", *MACROS})


def _snippet(version: Version, name: str) -> Snippet:
    found = version.snippet(name)
    if found is None:
        raise ApiError(404, "Record not found", f"Couldn't find Snippet '{name}'")
    return found


def _dynamic_json(service: Service, snippet: Snippet) -> dict[str, Any]:
    return {
        "content": service.snippet_contents.get(snippet.id, snippet.content),
        "created_at": snippet.created_at,
        "service_id": service.id,
        "snippet_id": snippet.id,
        "updated_at": snippet.updated_at,
    }


def _fields(params: Params, snippet: Snippet) -> None:
    if "type" in params:
        if str(params["type"]) not in SNIPPET_TYPES:
            allowed = ", ".join(sorted(SNIPPET_TYPES))
            raise ApiError(400, "Bad request", f"Type must be one of: {allowed}")
        snippet.type = str(params["type"])
    if "priority" in params:
        try:
            snippet.priority = int(params["priority"])
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "Bad request", "Priority must be a number") from exc
    if "content" in params:
        snippet.content = str(params["content"])


class SnippetEndpoints:
    store: StateStore

    def list_snippets(self, params: Params, sid: str, v: str) -> Response:
        service, version = find_version(self.store.state, sid, v)
        return json_response(200, [snippet_json(service, version, x) for x in version.snippets])

    def get_snippet(self, params: Params, sid: str, v: str, name: str) -> Response:
        service, version = find_version(self.store.state, sid, v)
        return json_response(200, snippet_json(service, version, _snippet(version, name)))

    def create_snippet(self, params: Params, sid: str, v: str) -> Response:
        name = params.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "Bad request", "Name can't be blank")
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            require_editable(version)
            if version.snippet(name) is not None:
                raise ApiError(409, "Duplicate record", f"Duplicate snippet: '{name}'")
            stamp = now_iso()
            dynamic = str(params.get("dynamic", "0")) in ("1", "true")
            snippet = Snippet(
                id=lab_id(service.id, "snippet", name, stamp, str(version.number)),
                name=name,
                type="recv",
                content="",
                dynamic=dynamic,
                created_at=stamp,
                updated_at=stamp,
            )
            _fields(params, snippet)
            if "type" not in params:
                raise ApiError(400, "Bad request", "Type can't be blank")
            version.snippets.append(snippet)
            if dynamic:
                service.snippet_contents[snippet.id] = snippet.content
            return json_response(200, snippet_json(service, version, snippet))

    def update_snippet(self, params: Params, sid: str, v: str, name: str) -> Response:
        with self.store.mutate() as state:
            service, version = find_version(state, sid, v)
            require_editable(version)
            snippet = _snippet(version, name)
            _fields(params, snippet)
            new_name = params.get("name")
            if isinstance(new_name, str) and new_name and new_name != snippet.name:
                if version.snippet(new_name) is not None:
                    raise ApiError(409, "Duplicate record", f"Duplicate snippet: '{new_name}'")
                snippet.name = new_name
            snippet.updated_at = now_iso()
            return json_response(200, snippet_json(service, version, snippet))

    def delete_snippet(self, params: Params, sid: str, v: str, name: str) -> Response:
        with self.store.mutate() as state:
            _, version = find_version(state, sid, v)
            require_editable(version)
            version.snippets.remove(_snippet(version, name))
            return json_response(200, {"status": "ok"})

    def _dynamic(self, service: Service, snippet_id: str) -> Snippet:
        for version in service.versions:
            for snippet in version.snippets:
                if snippet.id == snippet_id and snippet.dynamic:
                    return snippet
        raise ApiError(404, "Record not found", f"Couldn't find Snippet '{snippet_id}'")

    def get_dynamic_snippet(self, params: Params, sid: str, snippet_id: str) -> Response:
        service = find_service(self.store.state, sid)
        return json_response(200, _dynamic_json(service, self._dynamic(service, snippet_id)))

    def update_dynamic_snippet(self, params: Params, sid: str, snippet_id: str) -> Response:
        with self.store.mutate() as state:
            service = find_service(state, sid)
            snippet = self._dynamic(service, snippet_id)
            if "content" in params:
                service.snippet_contents[snippet_id] = str(params["content"])
            snippet.updated_at = now_iso()
            return json_response(200, _dynamic_json(service, snippet))
