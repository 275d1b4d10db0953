"""The control-plane state of the lab world: what a state file holds.

Services have numbered versions; each version has its domains, its settings, its
dictionary containers, its backends (with shielding), its VCL snippets, its custom VCL
files, its conditions and its header rules, as Fastly defines them; the CDN nodes run
the active version's VCL (:mod:`cutover.lab.vcl_service`). Dictionary *items* are
versionless (they belong to the dictionary id, shared by every version that carries the
dictionary), exactly like Fastly's edge dictionaries. Lab-only knobs (backend faults,
control-plane API faults, the public URL scheme) live beside the services.
Cache contents are not state.

Everything here is plain data with ``to_json``/``from_json``; the rules (what may be
edited, what activation means) live in :mod:`cutover.lab.fastly_api`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = 2  #: the state-file format number (2: VCL replaced the lab.* settings)

#: Fastly's own settings keys and their defaults.
GENERAL_SETTINGS: dict[str, Any] = {
    "general.default_host": "",
    "general.default_ttl": 3600,
    "general.stale_if_error": False,
    "general.stale_if_error_ttl": 43200,
}


@dataclass
class Domain:
    name: str
    comment: str = ""
    created_at: str = ""
    updated_at: str = ""


@dataclass
class DictionaryRef:
    """A dictionary container on a version (its items are versionless)."""

    id: str
    name: str
    write_only: bool = False
    created_at: str = ""
    updated_at: str = ""


@dataclass
class Backend:
    """A version backend. ``shield`` names the shield node: at the edge, a request sent
    to this backend goes to the shield instead (``req.backend.is_shield``)."""

    name: str
    address: str
    port: int = 443
    shield: str | None = None
    override_host: str | None = None
    use_ssl: bool = True
    comment: str = ""
    request_condition: str = ""  #: a REQUEST condition that selects this backend
    created_at: str = ""
    updated_at: str = ""


@dataclass
class Snippet:
    """A VCL snippet placed at ``#FASTLY <type>`` (``init``: at the top level)."""

    id: str
    name: str
    type: str
    content: str
    priority: int = 100
    dynamic: bool = False  #: dynamic: the content is versionless (``Service.snippet_contents``)
    created_at: str = ""
    updated_at: str = ""


@dataclass
class Condition:
    """A named VCL condition: ``REQUEST`` (in ``vcl_recv``), ``CACHE`` (in ``vcl_fetch``)
    or ``RESPONSE`` (in ``vcl_deliver``); headers and backends refer to it by name."""

    name: str
    statement: str
    type: str = "REQUEST"
    priority: int = 100
    comment: str = ""
    created_at: str = ""
    updated_at: str = ""


@dataclass
class Header:
    """A header rule: ``action`` on ``type``'s object (``request``: ``req``, ``cache``:
    ``beresp``, ``response``: ``resp``) at ``dst`` (``http.NAME``), from ``src`` (VCL)."""

    name: str
    action: str
    type: str
    dst: str
    src: str = ""
    regex: str = ""
    substitution: str = ""
    ignore_if_set: bool = False
    priority: int = 100
    request_condition: str = ""
    cache_condition: str = ""
    response_condition: str = ""
    created_at: str = ""
    updated_at: str = ""


@dataclass
class VclFile:
    """A custom VCL file; the ``main`` one replaces Fastly's boilerplate."""

    name: str
    content: str
    main: bool = False
    created_at: str = ""
    updated_at: str = ""


@dataclass
class Version:
    number: int
    active: bool = False
    locked: bool = False
    comment: str = ""
    created_at: str = ""
    updated_at: str = ""
    domains: list[Domain] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    dictionaries: list[DictionaryRef] = field(default_factory=list)
    backends: list[Backend] = field(default_factory=list)
    snippets: list[Snippet] = field(default_factory=list)
    vcls: list[VclFile] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    headers: list[Header] = field(default_factory=list)

    def domain(self, name: str) -> Domain | None:
        return next((d for d in self.domains if d.name == name), None)

    def dictionary(self, name: str) -> DictionaryRef | None:
        return next((d for d in self.dictionaries if d.name == name), None)

    def snippet(self, name: str) -> Snippet | None:
        return next((s for s in self.snippets if s.name == name), None)


@dataclass
class Item:
    value: str
    created_at: str = ""
    updated_at: str = ""


@dataclass
class Service:
    id: str
    name: str
    comment: str = ""
    created_at: str = ""
    updated_at: str = ""
    versions: list[Version] = field(default_factory=list)
    #: dictionary id -> item key -> item (versionless)
    items: dict[str, dict[str, Item]] = field(default_factory=dict)
    #: dynamic snippet id -> its content (versionless)
    snippet_contents: dict[str, str] = field(default_factory=dict)

    def version(self, number: int) -> Version | None:
        return next((v for v in self.versions if v.number == number), None)

    @property
    def active_version(self) -> Version | None:
        return next((v for v in self.versions if v.active), None)

    def dictionary_items(self, version: Version, name: str) -> dict[str, Item] | None:
        ref = version.dictionary(name)
        return None if ref is None else self.items.get(ref.id, {})


@dataclass
class BackendFaults:
    """Health and fault injection for one backend (an origin, or the shield hop)."""

    healthy: bool = True
    error_rate: float = 0.0  #: 0..1, fraction of fetches that fail
    status: int = 503  #: status of an injected failure
    latency_ms: int = 0  #: added to every fetch
    seed: int | None = None  #: None: the lab's seed


@dataclass
class ApiFaults:
    """Fault injection for the control-plane API (Fastly paths only, not ``/lab``)."""

    error_rate: float = 0.0  #: fraction answered with one of ``error_statuses``
    error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    timeout_rate: float = 0.0  #: fraction that hang ``timeout_seconds`` then close
    timeout_seconds: float = 30.0
    slow_rate: float = 0.0  #: fraction answered after ``slow_ms``
    slow_ms: int = 2000
    seed: int | None = None

    @property
    def active(self) -> bool:
        return self.error_rate > 0 or self.timeout_rate > 0 or self.slow_rate > 0


BACKENDS = ("shield", "object_store", "conveyor", "warehouse_app", "legacy_app", "generic")


@dataclass
class LabState:
    scenario: str
    token: str
    customer_id: str
    public_scheme: str = "http"
    #: the simple API: ``2018`` (HTML only, PEP 503) or ``today`` (PEP 691 JSON when asked)
    simple_api: str = "2018"
    services: list[Service] = field(default_factory=list)
    backends: dict[str, BackendFaults] = field(
        default_factory=lambda: {name: BackendFaults() for name in BACKENDS}
    )
    api_faults: ApiFaults = field(default_factory=ApiFaults)
    #: backend address -> the lab origin answering there, beside the built-in
    #: :data:`cutover.lab.hostnames.ORIGIN_ADDRESSES` (a captured scenario's ``origins``)
    origins: dict[str, str] = field(default_factory=dict)

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)

    def service_by_name(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def claims(self) -> dict[str, Service]:
        """The hostname registry: each domain of an active version -> its service."""
        registry: dict[str, Service] = {}
        for service in self.services:
            active = service.active_version
            if active is not None:
                for domain in active.domains:
                    registry.setdefault(domain.name.lower(), service)
        return registry

    def clone(self) -> LabState:
        return copy.deepcopy(self)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = FORMAT
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported lab state format {data.get('format')!r}")
        services = []
        for s in data["services"]:
            versions = [
                Version(
                    number=v["number"],
                    active=v["active"],
                    locked=v["locked"],
                    comment=v.get("comment", ""),
                    created_at=v.get("created_at", ""),
                    updated_at=v.get("updated_at", ""),
                    domains=[Domain(**d) for d in v["domains"]],
                    settings=dict(v["settings"]),
                    dictionaries=[DictionaryRef(**d) for d in v["dictionaries"]],
                    backends=[Backend(**b) for b in v.get("backends", [])],
                    snippets=[Snippet(**x) for x in v.get("snippets", [])],
                    vcls=[VclFile(**x) for x in v.get("vcls", [])],
                    conditions=[Condition(**x) for x in v.get("conditions", [])],
                    headers=[Header(**x) for x in v.get("headers", [])],
                )
                for v in s["versions"]
            ]
            items = {
                dict_id: {key: Item(**item) for key, item in entries.items()}
                for dict_id, entries in s.get("items", {}).items()
            }
            services.append(
                Service(
                    id=s["id"],
                    name=s["name"],
                    comment=s.get("comment", ""),
                    created_at=s.get("created_at", ""),
                    updated_at=s.get("updated_at", ""),
                    versions=versions,
                    items=items,
                    snippet_contents=dict(s.get("snippet_contents", {})),
                )
            )
        backends = {name: BackendFaults(**b) for name, b in data.get("backends", {}).items()}
        for name in BACKENDS:
            backends.setdefault(name, BackendFaults())
        return cls(
            scenario=data["scenario"],
            token=data["token"],
            customer_id=data["customer_id"],
            public_scheme=data.get("public_scheme", "http"),
            simple_api=data.get("simple_api", "2018"),
            services=services,
            backends=backends,
            api_faults=ApiFaults(**data.get("api_faults", {})),
            origins=dict(data.get("origins", {})),
        )
