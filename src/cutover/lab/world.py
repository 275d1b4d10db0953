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
from cutover.lab.faults import FaultInjector
from cutover.lab.messages import Request, Response
from cutover.lab.objectstore import ObjectStore
from cutover.lab.origins import Conveyor, LegacyApp, WarehouseApp
from cutover.lab.packages import default_catalog
from cutover.lab.state_store import StateStore


class World:
    def __init__(self, scenario: str, state_file: str | os.PathLike[str] | None, seed: int) -> None:
        self.catalog = default_catalog()
        self.faults = FaultInjector(seed)
        backends: dict[str, Backend] = {
            "object_store": ObjectStore(self.catalog),
            "conveyor": Conveyor(self.catalog, self._scheme),
            "warehouse_app": WarehouseApp(self.catalog, self._scheme),
            "legacy_app": LegacyApp(self.catalog, self._scheme),
        }
        self.cdn = Cdn(self.catalog, backends, self.faults)
        self.store = StateStore(scenario, state_file, on_change=self.cdn.update)
        self.cdn.warm()
        self.api = FastlyApi(self.store, self.cdn, self.faults, self.reset)

    def _scheme(self) -> str:
        return self.store.state.public_scheme

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
        return self.cdn.handle(request)

    def handle_api(self, request: Request) -> Response:
        return self.api.handle(request)
