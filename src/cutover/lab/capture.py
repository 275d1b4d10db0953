"""Capture: read Fastly services' active versions through the API into a scenario.

:func:`capture_services` reads, read-only, each service's active version through
Fastly's documented API (and so, unchanged, the lab's): ``GET /service/{id}/details``
for the version's resources, each dictionary's items (paged), each dynamic snippet's
live content. It returns a :class:`~cutover.lab.scenario_document.ScenarioDocument`;
:func:`write_scenario` writes it atomically, with every secret the redaction layer knows
(the API token first) replaced, so that no secret reaches the file.

What is read is a table, :data:`RESOURCE_READERS`: one row per field of a captured
service, each reading it from the version details. A resource the lab's API learns
(conditions, headers…) is one more field in
:class:`~cutover.lab.scenario_document.ScenarioService` and one more row here.

Errors: an unknown service, or one with no active version, is
:class:`~cutover.errors.InputError` (exit 2); an API that cannot be read (unreachable,
5xx after the retries, a refused token) is :class:`CaptureError` (exit 3: a human must
fix the access and run the same command again). Nothing is written in either case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cutover.errors import ActionError, CutoverError, InputError, RejectedActionError
from cutover.fileio import atomic_write
from cutover.lab.hostnames import ORIGIN_ADDRESSES
from cutover.lab.scenario_document import (
    ScenarioBackend,
    ScenarioCondition,
    ScenarioDictionary,
    ScenarioDocument,
    ScenarioDomain,
    ScenarioHeader,
    ScenarioService,
    ScenarioSnippet,
    ScenarioVcl,
    check_scenario_name,
    dump_scenario,
)
from cutover.secrets import redact_data

ITEMS_PER_PAGE = 100  #: Fastly's default page of dictionary items
MAX_ITEM_PAGES = 1_000  #: at most 100,000 items per dictionary are read


class CaptureError(CutoverError):
    """The API could not be read (exit 3): nothing was written."""


class ApiClient(Protocol):
    """What capture needs of a client (:class:`cutover.actions.control.ControlPlane`)."""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Any: ...


@dataclass(frozen=True)
class Reading:
    """One service being captured: the client, its id and its active version's details."""

    client: ApiClient
    service_id: str
    version: dict[str, Any]

    def get(self, path: str, **params: str) -> Any:
        return self.client.request("GET", f"/service/{self.service_id}{path}", params=params)


def _domains(r: Reading) -> list[ScenarioDomain]:
    return [
        ScenarioDomain(name=d["name"], comment=d.get("comment") or "") for d in r.version["domains"]
    ]


def _backends(r: Reading) -> list[ScenarioBackend]:
    return [
        ScenarioBackend(
            name=b["name"],
            address=b["address"],
            port=int(b.get("port") or 443),
            shield=b.get("shield") or None,
            override_host=b.get("override_host") or None,
            use_ssl=bool(b.get("use_ssl")),
            comment=b.get("comment") or "",
            request_condition=b.get("request_condition") or "",
        )
        for b in r.version["backends"]
    ]


def _conditions(r: Reading) -> list[ScenarioCondition]:
    return [
        ScenarioCondition(
            name=c["name"],
            statement=c["statement"],
            type=c.get("type") or "REQUEST",
            priority=int(c.get("priority") or 100),
            comment=c.get("comment") or "",
        )
        for c in r.version.get("conditions", [])
    ]


def _headers(r: Reading) -> list[ScenarioHeader]:
    text = ("src", "regex", "substitution", "request_condition", "cache_condition")
    return [
        ScenarioHeader(
            name=h["name"],
            action=h["action"],
            type=h["type"],
            dst=h["dst"],
            ignore_if_set=str(h.get("ignore_if_set")) == "1",
            priority=int(h.get("priority") or 100),
            response_condition=h.get("response_condition") or "",
            **{k: h.get(k) or "" for k in text},
        )
        for h in r.version.get("headers", [])
    ]


def _settings(r: Reading) -> dict[str, Any]:
    return dict(r.version.get("settings") or {})


def _items(r: Reading, dictionary_id: str) -> dict[str, str]:
    items: dict[str, str] = {}
    for page in range(1, MAX_ITEM_PAGES + 1):
        listed = r.get(
            f"/dictionary/{dictionary_id}/items", page=str(page), per_page=str(ITEMS_PER_PAGE)
        )
        items.update((i["item_key"], str(i["item_value"])) for i in listed or [])
        if len(listed or []) < ITEMS_PER_PAGE:
            return items
    raise CaptureError(f"dictionary {dictionary_id}: more than {MAX_ITEM_PAGES} pages of items")


def _dictionaries(r: Reading) -> list[ScenarioDictionary]:
    """Each dictionary with its items; a write-only one's items are never read."""
    return [
        ScenarioDictionary(
            id=d["id"],
            name=d["name"],
            write_only=bool(d.get("write_only")),
            items={} if d.get("write_only") else _items(r, d["id"]),
        )
        for d in r.version.get("dictionaries", [])
    ]


def _snippets(r: Reading) -> list[ScenarioSnippet]:
    out = []
    for s in r.version["snippets"]:
        dynamic = str(s.get("dynamic")) == "1"
        content = r.get(f"/snippet/{s['id']}")["content"] if dynamic else s.get("content")
        out.append(
            ScenarioSnippet(
                id=s["id"],
                name=s["name"],
                type=s["type"],
                priority=int(s.get("priority") or 100),
                dynamic=dynamic,
                content=content or "",
            )
        )
    return out


def _vcls(r: Reading) -> list[ScenarioVcl]:
    return [
        ScenarioVcl(name=v["name"], main=bool(v.get("main")), content=v.get("content") or "")
        for v in r.version["vcls"]
    ]


#: ScenarioService field -> its reader. Add a resource: a field there, a row here.
RESOURCE_READERS: dict[str, Callable[[Reading], Any]] = {
    "domains": _domains,
    "backends": _backends,
    "settings": _settings,
    "dictionaries": _dictionaries,
    "snippets": _snippets,
    "vcls": _vcls,
    "conditions": _conditions,
    "headers": _headers,
}


def _capture_one(client: ApiClient, service_id: str) -> ScenarioService:
    try:
        details = client.request("GET", f"/service/{service_id}/details", missing_ok=True)
    except RejectedActionError as exc:
        if exc.status in (400, 404):
            details = None
        else:
            raise
    if details is None:
        raise InputError(
            f"capture: no service {service_id!r} at the API",
            hint="name a service of the backend's `services:` map, or its ID",
        )
    active = details.get("active_version")
    if not active:
        raise InputError(
            f"capture: service {details.get('name')} ({service_id}) has no active version",
            hint="only an active version can be captured",
        )
    reading = Reading(client, service_id, active)
    fields = {name: read(reading) for name, read in RESOURCE_READERS.items()}
    return ScenarioService(
        id=service_id,
        name=details["name"],
        comment=details.get("comment") or "",
        version=int(active["number"]),
        **fields,
    )


def capture_services(
    client: ApiClient, service_ids: Sequence[str], *, name: str = "captured", description: str = ""
) -> ScenarioDocument:
    """Read each service's active version; raise before anything is written.

    ``origins`` maps every backend address to the lab origin serving it: the lab's own
    addresses to their origins, any other to ``generic``
    (:mod:`cutover.lab.generic_origin`); edit the file to map one to another origin.
    """
    if not service_ids:
        raise InputError("capture: no service to capture", hint="name at least one service")
    check_scenario_name(name)
    try:
        services = [_capture_one(client, sid) for sid in dict.fromkeys(service_ids)]
    except ActionError as exc:
        raise CaptureError(
            f"capture: the API could not be read: {exc.message}",
            hint="check the API's address, the token's secret and the network, then run"
            " the same command again (nothing was written)",
        ) from None
    return scenario_document(services, name=name, description=description)


def scenario_document(
    services: Sequence[ScenarioService], *, name: str, description: str = ""
) -> ScenarioDocument:
    """The document of captured ``services``, its ``origins`` mapping every backend
    address to a lab origin: the lab's own addresses to their origins, any other to
    ``generic`` (:mod:`cutover.lab.generic_origin`)."""
    check_scenario_name(name)
    origins = {
        b.address: ORIGIN_ADDRESSES.get(b.address, "generic") for s in services for b in s.backends
    }
    return ScenarioDocument.model_validate(
        {
            "name": name,
            "description": description or f"captured from {len(services)} service(s)",
            "origins": origins,
            "services": list(services),
        }
    )


def redacted(doc: ScenarioDocument) -> ScenarioDocument:
    """``doc`` with every secret the redaction layer knows replaced by ``[REDACTED]``."""
    return ScenarioDocument.model_validate(redact_data(doc.model_dump(mode="json")))


def write_scenario(doc: ScenarioDocument, path: Path) -> ScenarioDocument:
    """Write ``doc`` (redacted) to ``path`` atomically; return what was written."""
    written = redacted(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, dump_scenario(written), mode=0o600)  # VCL may hold what no secret names
    return written
