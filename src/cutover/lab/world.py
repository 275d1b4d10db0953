"""The lab world assembled: catalog, origins, CDN, state store, faults and the API.

:class:`World` is what the two ports serve: :meth:`World.handle_data` for the data plane
(every lab hostname, routed by Host; this port plays the edge; the ``PURGE`` method
purges a URL, :mod:`cutover.lab.purge`) and
:meth:`World.handle_api` for the control plane. It is used from the server's loop
thread only.
"""

from __future__ import annotations

import os

from cutover.lab.cdn import Backend, Cdn
from cutover.lab.fastly_api import FastlyApi
from cutover.lab.fastly_resources import unauthorized
from cutover.lab.faults import FaultInjector
from cutover.lab.generic_origin import GenericOrigin
from cutover.lab.messages import Request, Response
from cutover.lab.objectstore import ObjectStore
from cutover.lab.origins import Conveyor, LegacyApp, WarehouseApp
from cutover.lab.packages import default_catalog
from cutover.lab.realtime import RealtimeStats
from cutover.lab.scenarios import Scenario
from cutover.lab.state_store import StateStore


class World:
    def __init__(
        self, scenario: str | Scenario, state_file: str | os.PathLike[str] | None, seed: int
    ) -> None:
        self.catalog = default_catalog()
        self.faults = FaultInjector(seed)
        backends: dict[str, Backend] = {
            "object_store": ObjectStore(self.catalog),
            "conveyor": Conveyor(self.catalog, self._scheme),
            "warehouse_app": WarehouseApp(self.catalog, self._scheme, self._simple_api),
            "legacy_app": LegacyApp(self.catalog, self._scheme, self._simple_api),
            "generic": GenericOrigin(),
        }
        self.cdn = Cdn(self.catalog, backends, self.faults)
        self.store = StateStore(scenario, state_file, on_change=self.cdn.update)
        self.cdn.warm()
        self.api = FastlyApi(self.store, self.cdn, self.faults, self.reset)
        self.stats = RealtimeStats()

    def _scheme(self) -> str:
        return self.store.state.public_scheme

    def _simple_api(self) -> str:
        return self.store.state.simple_api

    def reset(self) -> None:
        """Back to the scenario's initial state: state, caches (re-warmed), fault RNGs."""
        self.store.reset()
        self.cdn.purge()
        self.cdn.warm()
        self.faults.reseed_all()

    def handle_data(self, request: Request) -> Response:
        self.store.refresh()
        if request.method == "PURGE":
            return self.api.purges.purge_request(request)
        response = self.cdn.handle(request)
        service = self.cdn.registry.get(request.host)
        if service is not None:
            self.stats.record(service.id, service.name, response)
        return response

    def handle_api(self, request: Request) -> Response:
        """The Fastly API, its real-time stats (``/v1/channel/…``) and ``/metrics``."""
        if request.path == "/metrics":
            return self.stats.exposition()
        if request.path.startswith("/v1/channel/"):
            self.store.refresh()
            if request.headers.get("fastly-key") != self.store.state.token:
                return unauthorized()
            services = {s.id for s in self.store.state.services}
            return self.stats.handle(request, services.__contains__)
        return self.api.handle(request)
