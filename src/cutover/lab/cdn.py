"""The CDN: an edge node and a shield node, each routing by Host and caching.

A client request reaches the **edge** (the data-plane port). On every node:

1. the Host header picks the service, from the registry of domains of the active
   versions (an unknown Host: Fastly's ``500 unknown domain`` at the client-facing
   edge; on the edge→shield hop the edge sees its backend fail and answers 503);
2. the active version's VCL runs (:mod:`cutover.lab.vcl_service`): ``vcl_recv`` picks
   ``req.backend`` and may answer at once (``error`` → ``vcl_error``, the legacy
   redirect); ``vcl_hash`` makes the cache key (Fastly's default: URL + Host), so a
   unique query string forces a miss on every node;
3. on a hit ``vcl_hit`` runs; on a miss ``vcl_miss`` edits ``bereq`` (the files
   service's ``s3-signing`` snippet rewrites Host and signs there — on every node, the
   2018 bug) and the request goes to ``req.backend``: at the edge a shielded backend is
   the shield node (``req.backend.is_shield``), at the shield it is the origin whose
   address the backend names (``req.backend.is_origin``; its ``override_host``, if any,
   replaces the Host sent there); ``pass`` fetches without storing;
4. ``vcl_fetch`` sees ``beresp``; a response is stored for Fastly's ``beresp.ttl``
   (:mod:`cutover.lab.cache_ttl`: 301/302 redirects too, for the default TTL when no
   header says otherwise), indexed by its ``Surrogate-Key`` keys; an object past its TTL,
   or soft-purged (stale), is fetched again (:mod:`cutover.lab.purge`);
5. ``vcl_deliver`` sees ``resp``;
6. on delivery each node appends its name to ``X-Served-By`` and ``HIT``/``MISS`` to
   ``X-Cache`` (so the shield comes first, the client-facing edge last, as with
   Fastly; a synthetic answer such as the legacy redirect counts as ``HIT``, as
   Fastly reports edge-generated content), sets ``X-Cache-Hits`` and ``Age``, and
   appends ``<node>=<service>`` to ``X-Lab-Route``.

HEAD is fetched and cached as GET (the server drops the body). ``Surrogate-Key`` and
``Surrogate-Control`` are for the CDN: the client-facing edge does not deliver them.
"""

from __future__ import annotations

import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cutover.lab.cache_ttl import DEFAULT_TTL, cache_ttl, surrogate_keys
from cutover.lab.faults import BackendOutcome, FaultInjector
from cutover.lab.hostnames import EDGE_NODE, FILES_HOST, ORIGIN_ADDRESSES, SHIELD_NODE
from cutover.lab.http_server import http_date
from cutover.lab.messages import Request, Response, text_response
from cutover.lab.packages import Catalog
from cutover.lab.state import LabState, Service
from cutover.lab.vcl import BackendRef, Context, Message, Program
from cutover.lab.vcl_service import Programs

# Each node's cache is bounded in entries and in bytes, least recently used out first, as
# a CDN evicts: a long ``cutover check --every`` (every round adds ~600 cache-busted
# entries per node) keeps the lab's memory flat after warm-up, while the entries every
# round hits (the warm set) stay. At most about 4 MiB of Python objects per node in
# practice (~1 KiB per entry: the bodies are shared with the catalog); measured by
# benchmarks/check_soak.py, documented in docs/lab.md.
MAX_CACHE_ENTRIES = 4_096  #: per node
MAX_CACHE_BYTES = 16 * 1024 * 1024  #: per node: stored bodies, header and key text
#: headers meant for the CDN, never delivered to a client
_SURROGATE_HEADERS = ("Surrogate-Key", "Surrogate-Control")


class Backend(Protocol):
    def handle(self, request: Request) -> Response: ...


@dataclass
class CacheEntry:
    response: Response  #: as received from the backend, before this node's headers
    stored_at: float
    service_id: str
    hits: int = 0
    ttl: float = math.inf  #: seconds from ``stored_at`` it is fresh for (``beresp.ttl``)
    keys: frozenset[str] = frozenset()  #: its ``Surrogate-Key`` keys
    stale: bool = False  #: soft-purged: kept, but fetched again before it is served

    def fresh(self, now: float) -> bool:
        return not self.stale and now - self.stored_at < self.ttl


def _stored_bytes(key: tuple[str, str], entry: CacheEntry) -> int:
    response = entry.response
    headers = sum(len(name) + len(value) for name, value in response.headers)
    return len(key[0]) + len(key[1]) + headers + len(response.body)


class NodeCache:
    """One node's cache: (host, path?query) -> entry; LRU, at most ``max_entries`` entries
    and ``max_bytes`` bytes (:func:`_stored_bytes`). An entry larger than ``max_bytes``
    is not stored."""

    def __init__(
        self, name: str, max_entries: int = MAX_CACHE_ENTRIES, max_bytes: int = MAX_CACHE_BYTES
    ) -> None:
        self.name = name
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple[str, str], CacheEntry] = OrderedDict()
        self.bytes = 0  #: the stored entries' size, as :func:`_stored_bytes` counts it

    def get(self, key: tuple[str, str]) -> CacheEntry | None:
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)  # most recently used
        return entry

    def put(self, key: tuple[str, str], entry: CacheEntry) -> None:
        self._remove(key)
        size = _stored_bytes(key, entry)
        if size > self.max_bytes:
            return
        while self.entries and (
            len(self.entries) >= self.max_entries or self.bytes + size > self.max_bytes
        ):
            self._remove(next(iter(self.entries)))  # least recently used
        self.entries[key] = entry
        self.bytes += size

    def _remove(self, key: tuple[str, str]) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= _stored_bytes(key, entry)

    def purge(self, service_id: str | None = None) -> int:
        """Remove every entry (of one service, if given); returns how many."""
        return self.purge_where(lambda _, e: service_id in (None, e.service_id))

    def purge_where(
        self, chosen: Callable[[tuple[str, str], CacheEntry], bool], soft: bool = False
    ) -> int:
        """Remove (or, ``soft``, mark stale) every chosen entry; returns how many."""
        doomed = [k for k, e in self.entries.items() if chosen(k, e)]
        for key in doomed:
            if soft:
                self.entries[key].stale = True
            else:
                self._remove(key)
        return len(doomed)


def _cache_key(ctx: Context) -> tuple[str, str]:
    """Fastly's default key (URL + Host) as (host, URL); anything ``vcl_hash`` added
    beyond the default is appended to the URL part."""
    host = (ctx.req.header("host") or "").lower()
    host = host.rsplit(":", 1)[0] if ":" in host and not host.startswith("[") else host
    default = f"{ctx.req.url}#{ctx.req.header('host') or ''}#"
    if ctx.hash.startswith(default):
        extra = ctx.hash[len(default) :]
        return host, ctx.req.url + (f"#{extra}" if extra else "")
    return "", ctx.hash


def _origin_of(
    state: LabState, service: Service, backend_name: str
) -> tuple[str | None, str | None]:
    """The origin a version backend's address names (the scenario's ``origins`` first),
    and its ``override_host``."""
    version = service.active_version
    found = next((b for b in version.backends if b.name == backend_name), None) if version else None
    if found is None:
        return None, None
    origin = state.origins.get(found.address) or ORIGIN_ADDRESSES.get(found.address)
    return origin, found.override_host


def _message(response: Response) -> Message:
    return Message.from_headers(response.headers, status=response.status, body=response.body)


def _response(message: Message, original: Response) -> Response:
    return Response(
        message.status, message.header_list(), message.body, original.delay, original.drop
    )


def _request(message: Message) -> Request:
    path, _, query = message.url.partition("?")
    headers = {key: value for key, (_, value) in message.headers.items()}
    return Request(message.method, path, query, headers)


def _default_ttl(service: Service) -> float:
    version = service.active_version
    value = version.settings.get("general.default_ttl", DEFAULT_TTL) if version else DEFAULT_TTL
    try:
        return float(value)
    except (TypeError, ValueError):
        return DEFAULT_TTL


def _backend_error(outcome: BackendOutcome, backend: str) -> Response:
    if outcome.reason == "unhealthy":
        text = f"Error 503 Backend is unhealthy\n\nbackend: {backend}\n"
    else:
        text = f"Error {outcome.status} Backend fetch failed\n\nbackend: {backend} (lab fault)\n"
    return text_response(
        outcome.status, text, headers=[("X-Lab-Error", f"backend-{outcome.reason}:{backend}")]
    )


@dataclass(frozen=True)
class _Environment:
    """What a service's VCL sees on one node that only a state change changes."""

    tables: dict[str, dict[str, str]]  #: the program's tables and the dictionaries' items
    backends: dict[str, BackendRef]
    default_ttl: float


class Cdn:
    def __init__(
        self,
        catalog: Catalog,
        backends: dict[str, Backend],
        faults: FaultInjector,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog = catalog
        self.backends = backends
        self.faults = faults
        self.clock = clock
        self.caches = {EDGE_NODE: NodeCache(EDGE_NODE), SHIELD_NODE: NodeCache(SHIELD_NODE)}
        self.state: LabState | None = None
        self.registry: dict[str, Service] = {}
        self.compiled = Programs()
        self.programs: dict[str, Program] = {}
        #: per (service id, node): the dictionary tables and backends its VCL sees; built
        #: on first use after each :meth:`update` (every state change replaces the state)
        self._environments: dict[tuple[str, str], _Environment] = {}
        self.rng = random.Random(0)

    def update(self, state: LabState) -> None:
        """Adopt a new control-plane state (rebuilds the hostname registry and compiles
        each active version's VCL; activation refused what does not compile)."""
        self.state = state
        self.registry = state.claims()
        self.programs = {}
        self._environments = {}
        for service in state.services:
            active = service.active_version
            if active is not None:
                self.programs[service.id] = self.compiled.get(service, active)

    def warm(self) -> None:
        """Load the warm-cache set: every package file's hash URL, on the edge."""
        files = self.registry.get(FILES_HOST)
        service_id = files.id if files is not None else ""
        now = self.clock()
        for f in self.catalog.files:
            response = Response(
                200,
                [
                    ("Content-Type", f.content_type),
                    ("ETag", f'"{f.md5}"'),
                    ("Cache-Control", "max-age=365000000, immutable, public"),
                    ("Last-Modified", "Mon, 16 Apr 2018 12:00:00 GMT"),
                    ("X-Served-By", SHIELD_NODE),
                    ("X-Cache", "MISS"),
                    ("X-Cache-Hits", "0"),
                    ("X-Lab-Route", f"{SHIELD_NODE}=files"),
                ],
                f.content,
            )
            self.caches[EDGE_NODE].put(
                (FILES_HOST, f.url_path), CacheEntry(response, now, service_id)
            )

    def purge(self, node: str | None = None, service_id: str | None = None) -> int:
        caches = [self.caches[node]] if node is not None else list(self.caches.values())
        return sum(cache.purge(service_id) for cache in caches)

    def handle(self, request: Request) -> Response:
        """A client request arriving at the edge."""
        if request.method == "HEAD":
            request = Request("GET", request.path, request.query, request.headers, request.body)
        response = self._serve(EDGE_NODE, request, internal=False)
        if any(response.header(name) is not None for name in _SURROGATE_HEADERS):
            response.headers = [
                (k, v) for k, v in response.headers if k.title() not in _SURROGATE_HEADERS
            ]
        return response

    def _environment(self, node: str, service: Service) -> _Environment:
        found = self._environments.get((service.id, node))
        if found is None:
            version = service.active_version
            assert version is not None
            tables: dict[str, dict[str, str]] = dict(self.programs[service.id].tables)
            for ref in version.dictionaries:
                tables[ref.name] = {k: i.value for k, i in service.items.get(ref.id, {}).items()}
            backends = {
                b.name: BackendRef("shield", True, b.name)
                if b.shield and node != SHIELD_NODE  # one lab shield stands in for every POP
                else BackendRef(b.name)
                for b in version.backends
            }
            found = _Environment(tables, backends, _default_ttl(service))
            self._environments[(service.id, node)] = found
        return found

    def _context(self, node: str, environment: _Environment, request: Request) -> Context:
        return Context(
            req=Message.from_headers(
                request.headers.items(), method=request.method, url=request.target
            ),
            tables=environment.tables,
            backends=environment.backends,
            server_identity=node,
            visits_this_service=0 if node == EDGE_NODE else 1,
            now=http_date(),
            rng=self.rng,
        )

    def _serve(self, node: str, request: Request, *, internal: bool) -> Response:
        service = self.registry.get(request.host)
        if service is None:
            return self._deliver(node, self._unknown_domain(request.host, internal), "MISS", None)
        program = self.programs[service.id]
        environment = self._environment(node, service)
        ctx = self._context(node, environment, request)
        action = program.run("vcl_recv", ctx)
        if action == "error":  # synthetic: Fastly reports it as a HIT
            return self._deliver(node, self._error(program, ctx), "HIT", service)
        ctx.hash = ""
        program.run("vcl_hash", ctx)
        if not ctx.hash:  # a custom VCL without vcl_hash: Varnish's default, URL + Host
            ctx.hash = f"{ctx.req.url}#{ctx.req.header('host') or ''}#"
        key = _cache_key(ctx)
        cache = self.caches[node]
        lookup = action != "pass" and ctx.req.method == "GET"
        if lookup:
            entry = cache.get(key)
            if entry is not None and entry.fresh(self.clock()):
                entry.hits += 1
                hit = entry.response.copy()
                hit.set_header("Age", str(int(self.clock() - entry.stored_at)))
                ctx.obj = _message(hit)
                if program.run("vcl_hit", ctx) == "error":
                    return self._deliver(node, self._error(program, ctx), "HIT", service)
                return self._deliver(
                    node, self._vcl_deliver(program, ctx, hit), "HIT", service, hits=entry.hits
                )
        ctx.bereq = ctx.req.copy()
        fetch_action = program.run("vcl_miss" if lookup else "vcl_pass", ctx)
        if fetch_action == "error":
            return self._deliver(node, self._error(program, ctx), "MISS", service)
        response = self._fetch(node, service, ctx)
        ctx.beresp = _message(response)
        fetched = program.run("vcl_fetch", ctx)
        if fetched == "error":
            return self._deliver(node, self._error(program, ctx), "MISS", service)
        response = _response(ctx.beresp, response)
        if (
            lookup
            and fetch_action != "pass"
            and fetched != "pass"
            and (ttl := cache_ttl(response, environment.default_ttl, time.time)) is not None
        ):
            stored = response.copy()
            stored.delay = 0.0  # injected latency belongs to this fetch, not to later hits
            entry = CacheEntry(stored, self.clock(), service.id, ttl=ttl)
            entry.keys = surrogate_keys(response)
            cache.put(key, entry)
        return self._deliver(node, self._vcl_deliver(program, ctx, response), "MISS", service)

    @staticmethod
    def _vcl_deliver(program: Program, ctx: Context, response: Response) -> Response:
        ctx.resp = _message(response)
        program.run("vcl_deliver", ctx)
        return _response(ctx.resp, response)

    @staticmethod
    def _error(program: Program, ctx: Context) -> Response:
        """``vcl_error``: the synthetic answer for ``error N "reason"``."""
        ctx.obj.headers.clear()
        ctx.obj.body = b""
        program.run("vcl_error", ctx)
        obj = ctx.obj
        if obj.body == b"" and obj.header("Content-Type") is None:
            return text_response(obj.status, f"Error {obj.status} {obj.response}\n")
        return Response(obj.status, obj.header_list(), obj.body)

    def _fetch(self, node: str, service: Service, ctx: Context) -> Response:
        state = self.state
        assert state is not None
        backend = ctx.backend
        request = _request(ctx.bereq)
        if backend is None:
            return text_response(503, "Error 503 No backend\n")
        if backend.is_shield:
            outcome = self.faults.backend("shield", state.backends["shield"])
            if outcome.fail:
                response = _backend_error(outcome, "shield")
            else:
                response = self._serve(SHIELD_NODE, request, internal=True)
        else:
            origin, override_host = _origin_of(state, service, backend.name)
            if origin is None:
                return text_response(503, f"Error 503 Backend unavailable\n\n{backend.name}\n")
            if override_host:  # as Fastly: after VCL, on the connection to the origin
                request = request.with_headers(host=override_host)
            outcome = self.faults.backend(origin, state.backends[origin])
            if outcome.fail:
                response = _backend_error(outcome, origin)
            else:
                response = self.backends[origin].handle(request).copy()
        response.delay += outcome.latency_s
        response.set_header("Age", response.header("Age") or "0")
        return response

    @staticmethod
    def _unknown_domain(host: str, internal: bool) -> Response:
        if internal:
            return text_response(
                503,
                f"Error 503 Backend unavailable\n\nthe shield knows no service for Host {host}\n",
                headers=[("X-Lab-Error", f"unknown-domain:{host}")],
            )
        return text_response(
            500,
            f"Fastly error: unknown domain: {host}. "
            "Please check that this domain has been added to a service.\n",
            headers=[("X-Lab-Error", f"unknown-domain:{host}")],
        )

    @staticmethod
    def _deliver(
        node: str, response: Response, cache_state: str, service: Service | None, hits: int = 0
    ) -> Response:
        added = {
            "x-served-by": ("X-Served-By", node),
            "x-cache": ("X-Cache", cache_state),
            "x-cache-hits": ("X-Cache-Hits", str(hits)),
            "x-lab-route": ("X-Lab-Route", f"{node}={service.name if service else '-'}"),
        }
        # what Response.append_header does for each, in one pass over the headers: every
        # earlier value of a name goes, the first joined with the new one at the end
        kept: list[tuple[str, str]] = []
        before: dict[str, str] = {}
        has_age = False
        for name, value in response.headers:
            lower = name.lower()
            if lower in added:
                before.setdefault(lower, value)
            else:
                has_age = has_age or lower == "age"
                kept.append((name, value))
        if not has_age:
            kept.append(("Age", "0"))
        for lower, (name, value) in added.items():
            kept.append((name, f"{before[lower]}, {value}" if before.get(lower) else value))
        return Response(response.status, kept, response.body, response.delay, response.drop)
