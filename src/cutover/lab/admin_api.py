"""Lab-only admin endpoints on the API port, under ``/lab`` (clearly not Fastly paths).

They need the same ``Fastly-Key`` token and take/return JSON::

    GET    /lab/state                      the whole control-plane state + cache sizes
    POST   /lab/reset                      back to the scenario's initial state, caches
                                           purged and re-warmed, fault generators re-seeded
    POST   /lab/purge[?node=NAME]          purge every node's cache (or one node's)
    POST   /lab/warm                       load the warm set again (every file's hash URL
                                            on the edge, as at start); nothing else changes
    GET    /lab/cache[?node=NAME]          cached keys per node
    GET    /lab/faults                     backend faults and API faults
    PUT    /lab/faults/backends/{name}     {"healthy", "error_rate", "status", "latency_ms", "seed"}
    PUT    /lab/faults/api                 {"error_rate", "error_statuses", "timeout_rate",
                                            "timeout_seconds", "slow_rate", "slow_ms", "seed"}
    DELETE /lab/faults                     clear every fault
    PUT    /lab/world                      {"public_scheme": "http" | "https",
                                            "simple_api": "2018" | "today"}

Backends: ``shield`` (the edge→shield hop), ``object_store``, ``conveyor``,
``warehouse_app``, ``legacy_app``. A PUT changes only the fields it names. Faults are
knobs, so they are part of the state (and of the state file).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from cutover.lab.cdn import Cdn
from cutover.lab.index_pages import SIMPLE_APIS
from cutover.lab.messages import Request, Response, json_response
from cutover.lab.state import BACKENDS, ApiFaults, BackendFaults
from cutover.lab.state_store import StateStore


class _InvalidError(Exception):
    pass


def _error(status: int, msg: str, detail: str) -> Response:
    return json_response(status, {"msg": msg, "detail": detail})


def _body(request: Request) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except ValueError as exc:
        raise _InvalidError(f"invalid JSON body: {exc}") from exc
    if not isinstance(data, dict):
        raise _InvalidError("the JSON body must be an object")
    return data


def _rate(value: Any, name: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise _InvalidError(f"{name} must be a number from 0 to 1")
    return float(value)


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _InvalidError(f"{name} must be an integer from {low} to {high}")
    return value


def _seed(value: Any) -> int | None:
    if value is None:
        return None
    return _whole(value, "seed", 0, 2**63)


def _apply_backend(faults: BackendFaults, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if key == "healthy":
            if not isinstance(value, bool):
                raise _InvalidError("healthy must be true or false")
            faults.healthy = value
        elif key == "error_rate":
            faults.error_rate = _rate(value, key)
        elif key == "status":
            faults.status = _whole(value, key, 400, 599)
        elif key == "latency_ms":
            faults.latency_ms = _whole(value, key, 0, 60_000)
        elif key == "seed":
            faults.seed = _seed(value)
        else:
            raise _InvalidError(f"unknown backend fault field {key!r}")


def _apply_api(faults: ApiFaults, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if key in ("error_rate", "timeout_rate", "slow_rate"):
            setattr(faults, key, _rate(value, key))
        elif key == "error_statuses":
            if not isinstance(value, list) or not value:
                raise _InvalidError("error_statuses must be a non-empty list")
            faults.error_statuses = [_whole(s, "error_statuses[]", 400, 599) for s in value]
        elif key == "timeout_seconds":
            if not isinstance(value, int | float) or not 0 < value <= 600:
                raise _InvalidError("timeout_seconds must be a number from 0 to 600")
            faults.timeout_seconds = float(value)
        elif key == "slow_ms":
            faults.slow_ms = _whole(value, key, 0, 600_000)
        elif key == "seed":
            faults.seed = _seed(value)
        else:
            raise _InvalidError(f"unknown API fault field {key!r}")
    if faults.error_rate + faults.timeout_rate + faults.slow_rate > 1:
        raise _InvalidError("error_rate + timeout_rate + slow_rate must not exceed 1")


class AdminApi:
    def __init__(self, store: StateStore, cdn: Cdn, reset: Callable[[], None]) -> None:
        self.store = store
        self.cdn = cdn
        self.reset = reset

    def _faults_json(self) -> dict[str, Any]:
        state = self.store.state
        return {
            "backends": {k: dataclasses.asdict(v) for k, v in state.backends.items()},
            "api": dataclasses.asdict(state.api_faults),
        }

    def handle(self, request: Request) -> Response:
        try:
            return self._dispatch(request)
        except _InvalidError as exc:
            return _error(400, "Bad request", str(exc))

    def _put_world(self, body: dict[str, Any]) -> Response:
        """``public_scheme`` and/or ``simple_api``; either may be left out, not both."""
        scheme = body.get("public_scheme", self.store.state.public_scheme)
        simple_api = body.get("simple_api", self.store.state.simple_api)
        if scheme not in ("http", "https"):
            raise _InvalidError("public_scheme must be 'http' or 'https'")
        if simple_api not in SIMPLE_APIS:
            raise _InvalidError("simple_api must be '2018' (HTML only) or 'today' (PEP 691)")
        if not {"public_scheme", "simple_api"} & body.keys():
            raise _InvalidError("give public_scheme and/or simple_api")
        with self.store.mutate() as state:
            state.public_scheme = scheme
            state.simple_api = simple_api
        return json_response(200, {"public_scheme": scheme, "simple_api": simple_api})

    def _dispatch(self, request: Request) -> Response:
        method, path = request.method, request.path.rstrip("/")
        query = dict(parse_qsl(request.query))
        node = query.get("node")
        if node is not None and node not in self.cdn.caches:
            return _error(404, "Record not found", f"no node {node!r}")
        if (method, path) == ("GET", "/lab/state"):
            dump = self.store.state.to_json()
            dump["caches"] = {name: len(c.entries) for name, c in self.cdn.caches.items()}
            dump["cache_bytes"] = {name: c.bytes for name, c in self.cdn.caches.items()}
            return json_response(200, dump)
        if (method, path) == ("POST", "/lab/reset"):
            self.reset()
            return json_response(200, {"status": "ok", "scenario": self.store.scenario})
        if (method, path) == ("POST", "/lab/purge"):
            return json_response(200, {"status": "ok", "purged": self.cdn.purge(node=node)})
        if (method, path) == ("POST", "/lab/warm"):
            self.cdn.warm()
            return json_response(200, {"status": "ok", "warmed": len(self.cdn.catalog.files)})
        if (method, path) == ("GET", "/lab/cache"):
            names = [node] if node else list(self.cdn.caches)
            return json_response(
                200,
                {n: [f"{h}{t}" for h, t in self.cdn.caches[n].entries] for n in names},
            )
        if (method, path) == ("GET", "/lab/faults"):
            return json_response(200, self._faults_json())
        if (method, path) == ("DELETE", "/lab/faults"):
            with self.store.mutate() as state:
                state.backends = {name: BackendFaults() for name in BACKENDS}
                state.api_faults = ApiFaults()
            return json_response(200, self._faults_json())
        if method == "PUT" and path.startswith("/lab/faults/backends/"):
            name = path.rsplit("/", 1)[1]
            if name not in BACKENDS:
                return _error(
                    404, "Record not found", f"no backend {name!r} ({', '.join(BACKENDS)})"
                )
            changes = _body(request)
            with self.store.mutate() as state:
                _apply_backend(state.backends[name], changes)
            return json_response(200, dataclasses.asdict(self.store.state.backends[name]))
        if (method, path) == ("PUT", "/lab/faults/api"):
            changes = _body(request)
            with self.store.mutate() as state:
                _apply_api(state.api_faults, changes)
            return json_response(200, dataclasses.asdict(self.store.state.api_faults))
        if (method, path) == ("PUT", "/lab/world"):
            return self._put_world(_body(request))
        return _error(404, "Record not found", f"no lab endpoint {method} {request.path}")
