"""Starting and stopping a lab: :func:`start_lab` and the :class:`LabHandle` it returns."""

from __future__ import annotations

import os
import ssl
from types import TracebackType
from typing import TYPE_CHECKING

from cutover.lab.http_server import App, ServerThread
from cutover.lab.scenarios import Scenario
from cutover.lab.world import World

if TYPE_CHECKING:
    from cutover.lab.traffic import Traffic


class LabHandle:
    """A running lab. Use it as a context manager, or call :meth:`close`.

    Attributes:
        scenario: the scenario name.
        data_address: ``"127.0.0.1:PORT"`` of the data plane (every lab hostname).
        api_url: ``"http://127.0.0.1:PORT"`` of the Fastly-compatible API.
        token: the API token, for the ``Fastly-Key`` header.
        hostnames: the public hostnames the data plane serves.
        resolve: hostname -> ``data_address`` (like ``curl --resolve``), for probes.
        service_ids: service name -> id (``{"legacy": id, "warehouse": id, "files": id}``
            in ``pypi-2018``).
        state_file: the shared state file, or None.
    """

    def __init__(self, world: World, server: ServerThread, state_file: str | None) -> None:
        self._world = world
        self._server = server
        self._closed = False
        state = world.store.state
        data_port, api_port, *secure = server.ports
        self.scenario: str = state.scenario
        self.data_address: str = f"127.0.0.1:{data_port}"
        self.api_url: str = f"http://127.0.0.1:{api_port}"
        self.token: str = state.token
        self.hostnames: list[str] = list(world.store.definition.hostnames)
        self.resolve: dict[str, str] = dict.fromkeys(self.hostnames, self.data_address)
        self.service_ids: dict[str, str] = {s.name: s.id for s in state.services}
        self.state_file: str | None = state_file
        #: ``"127.0.0.1:PORT"`` of the data plane over TLS, when started with ``tls``
        self.tls_address: str | None = f"127.0.0.1:{secure[0]}" if secure else None
        self.traffic: Traffic | None = None  #: the background client mix, when started

    @property
    def data_port(self) -> int:
        return int(self.data_address.rsplit(":", 1)[1])

    @property
    def api_port(self) -> int:
        return int(self.api_url.rsplit(":", 1)[1])

    def start_traffic(self, rate: float, seed: int = 0) -> Traffic:
        """Send a background client mix at ``rate`` requests/s (:mod:`cutover.lab.traffic`)
        until :meth:`close`."""
        from cutover.lab.traffic import Traffic

        if self.traffic is None:
            self.traffic = Traffic(self.data_address, rate, seed).start()
        return self.traffic

    def reset(self) -> None:
        """Back to the scenario's initial state (same as ``POST /lab/reset``)."""
        self._server.call(self._world.reset)

    def close(self) -> None:
        """Stop serving and free both ports (idempotent)."""
        if not self._closed:
            self._closed = True
            if self.traffic is not None:
                self.traffic.stop()
            self._server.stop()

    def __enter__(self) -> LabHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"<LabHandle {self.scenario} data={self.data_address} api={self.api_url} {state}>"


def start_lab(
    scenario: str | Scenario = "pypi-2018",
    state_file: str | os.PathLike[str] | None = None,
    data_port: int = 0,
    api_port: int = 0,
    seed: int = 0,
    tls: ssl.SSLContext | None = None,
    traffic: float = 0.0,
) -> LabHandle:
    """Start a lab on loopback (port 0 = a free port) and return its handle.

    ``tls``: also serve the data plane over TLS with this context, on a third free port
    (:attr:`LabHandle.tls_address`; a dry run's copy answers ``https://`` probes there).
    ``traffic`` > 0 starts a background client mix of that many requests/s.

    ``scenario``: a built-in scenario's name, or a :class:`~cutover.lab.scenarios.Scenario`
    (e.g. ``scenario_from_file(path)`` of :mod:`cutover.lab.scenario_document`).

    Raises :class:`~cutover.lab.state_store.LabStateError` for an unknown scenario or a
    state file of another scenario, and ``OSError`` if a port is taken.
    """
    world = World(scenario, state_file, seed)
    apps: list[tuple[App, int]] = [(world.handle_data, data_port), (world.handle_api, api_port)]
    if tls is not None:
        apps.append((world.handle_data, 0))
    server = ServerThread(apps, tls={2: tls} if tls is not None else None)
    server.start()
    lab = LabHandle(world, server, os.fspath(state_file) if state_file is not None else None)
    if traffic > 0:
        lab.start_traffic(traffic, seed)
    return lab
