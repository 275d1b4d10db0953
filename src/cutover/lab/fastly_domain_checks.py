"""Fastly's domain checks: ``GET …/version/{v}/domain/{name}/check`` and ``…/check_all``.

A mixin of :class:`cutover.lab.fastly_api.FastlyApi`. Fastly answers each domain as a
triple ``[domain, cname_target, is_properly_set_up]``; ``check_all`` is a list of them.
The lab has no DNS: its "DNS" is the hostname registry of the active versions, so a
domain is properly set up when the lab's edge routes it to this service, and the CNAME
target is ``null`` (as Fastly answers for a domain with no CNAME record).
"""

from __future__ import annotations

from typing import Any

from cutover.lab.fastly_resources import ApiError, domain_json, find_version
from cutover.lab.messages import Response, json_response
from cutover.lab.state import Domain, LabState, Service, Version
from cutover.lab.state_store import StateStore

Params = dict[str, Any]


def _check(state: LabState, service: Service, version: Version, domain: Domain) -> list[Any]:
    routed = state.claims().get(domain.name.lower())
    return [
        domain_json(service, version, domain),
        None,
        routed is not None and routed.id == service.id,
    ]


class DomainCheckEndpoints:
    store: StateStore

    def check_domain(self, params: Params, sid: str, v: str, name: str) -> Response:
        state = self.store.state
        service, version = find_version(state, sid, v)
        domain = version.domain(name.lower())
        if domain is None:
            raise ApiError(
                404, "Record not found", f'Couldn\'t find Domain \'["{sid}", {v}, "{name}"]\''
            )
        return json_response(200, _check(state, service, version, domain))

    def check_all_domains(self, params: Params, sid: str, v: str) -> Response:
        state = self.store.state
        service, version = find_version(state, sid, v)
        return json_response(200, [_check(state, service, version, d) for d in version.domains])
