"""The ``haproxy`` action: map entries and server state changed live, no reload.

A step changes the entries of one map (``set``/``delete``) and/or the state and weight of
servers. It writes, in this order:

1. the **runtime map**, replaced whole in one transaction (``prepare``/``add``/``commit
   map``), so lookups never see half a step — this is the live effect;
2. the **map file on disk**, the same keys, atomically (runtime changes are lost when
   HAProxy reloads; the file is what a reload reads);
3. each **server**: ``set server B/S state …``, ``… weight …``.

then reads all of it back. Rollback writes the prior values in the reverse order (servers,
file, runtime map), so a crash during either leaves the written values a *prefix* of that
order: the runtime map changed, the rest perhaps not yet.

- **snapshot**: the touched keys in the runtime map and in the file, each server's state
  and weight;
- **plan**: a change per key and server; where the file on disk disagrees with the
  runtime map, a second change for the file says so;
- **reconcile**: every value must be the prior or the desired one (else DRIFTED); all
  prior is NOT_APPLIED; the runtime map at the desired values is APPLIED, and
  :meth:`HaproxyAction.finish` then writes the file and the servers (idempotent);
- **targets**: each key in the runtime map and in the file, each server field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cutover import crash_points
from cutover.actions.base import Action, Change, Diff, Reconciled, Record, State
from cutover.actions.haproxy_api import (
    RuntimeApi,
    changed_entries,
    read_map_file,
    update_map_file,
)
from cutover.errors import ActionError, ReadBackError
from cutover.log import get_logger
from cutover.runbook.proxies import HaproxySettings, HaproxyStep

Values = dict[str, Any]


class HaproxyAction(Action[HaproxySettings, HaproxyStep]):
    kind = "haproxy"

    def __init__(self, settings: HaproxySettings, step: HaproxyStep) -> None:
        super().__init__(settings, step)
        self.api = RuntimeApi(settings.socket, settings.timeout)
        self.map_path = Path(step.map) if step.map else None
        self._log = get_logger("cutover.actions.haproxy").bind(step=step.name, map=step.map)

    def target_id(self) -> str:
        """The HAProxy instance, by its Runtime API (a socket's real path, or HOST:PORT)."""
        address = self.settings.socket
        return f"haproxy {os.path.realpath(address) if address.startswith('/') else address}"

    # -- what the step wants -------------------------------------------------------------------

    def _desired_map(self) -> dict[str, str | None]:
        return {**dict(self.step.set), **dict.fromkeys(self.step.delete)}

    def _desired_servers(self) -> dict[str, Values]:
        return {
            name: change.model_dump(exclude_none=True) for name, change in self.step.servers.items()
        }

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self) -> State:
        state: State = {"socket": self.settings.socket, "map": self.step.map}
        if self.map_path is not None:
            state["runtime"] = self._runtime_values()
            state["file"] = self._file_values()
        state["servers"] = {
            name: self.api.server_state(name).as_json() for name in self.step.servers
        }
        return state

    def _runtime_values(self) -> dict[str, str | None]:
        assert self.step.map is not None
        live = dict(reversed(self.api.show_map(self.step.map)))  # the first entry wins
        return {key: live.get(key) for key in self._desired_map()}

    def _file_values(self) -> dict[str, str | None]:
        assert self.map_path is not None
        found = read_map_file(self.map_path) or {}
        return {key: found.get(key) for key in self._desired_map()}

    def plan(self, live: State) -> Diff:
        changes: list[Change] = []
        runtime, on_disk = live.get("runtime") or {}, live.get("file") or {}
        for key, value in self._desired_map().items():
            changes.append(Change(f"haproxy map {self.step.map} {key}", runtime.get(key), value))
            if on_disk.get(key) != runtime.get(key):
                changes.append(
                    Change(
                        f"haproxy map file {self.step.map} {key} (disagrees with the runtime map)",
                        on_disk.get(key),
                        value,
                    )
                )
        return Diff(changes + self._server_changes(live))

    def targets(self, live: State) -> list[Change] | None:
        runtime, on_disk = live.get("runtime") or {}, live.get("file") or {}
        changes = []
        for key, value in self._desired_map().items():
            changes.append(Change(f"haproxy map {self.step.map} {key}", runtime.get(key), value))
            changes.append(
                Change(f"haproxy map file {self.step.map} {key}", on_disk.get(key), value)
            )
        return changes + self._server_changes(live)

    def _server_changes(self, live: State) -> list[Change]:
        servers = live.get("servers") or {}
        where = self.target_id()
        return [
            Change(f"{where} server {name} {field}", (servers.get(name) or {}).get(field), value)
            for name, wanted in self._desired_servers().items()
            for field, value in wanted.items()
        ]

    def reconcile(self, prior: State, record: Record | None) -> Reconciled:
        units = self._units(prior, self.snapshot())
        if all(live == desired for live, desired, _ in units):
            return Reconciled.APPLIED
        if all(live == before for live, _, before in units):
            return Reconciled.NOT_APPLIED
        if all(live in (desired, before) for live, desired, before in units) and (
            units[0][0] == units[0][1]
        ):
            # A crash (or an interrupted rollback) between the runtime map and the file or
            # the servers: the live effect is the step's; finish() writes the rest.
            self._log.warning("found partly applied: the runtime map is the step's")
            return Reconciled.APPLIED
        self._log.warning("drifted", live=self.snapshot(), prior=prior)
        return Reconciled.DRIFTED

    def _units(self, prior: State, live: State) -> list[tuple[Any, Any, Any]]:
        """(live, desired, prior) of each thing apply writes, in apply's order."""
        units: list[tuple[Any, Any, Any]] = []
        if self.map_path is not None:
            desired = self._desired_map()
            units.append((live["runtime"], desired, prior.get("runtime")))
            units.append((live["file"], desired, prior.get("file")))
        for name, wanted in self._desired_servers().items():
            now = {f: live["servers"][name][f] for f in wanted}
            before = (prior.get("servers") or {}).get(name) or {}
            units.append((now, wanted, {f: before.get(f) for f in wanted}))
        return units

    # -- writing ---------------------------------------------------------------------------------

    def apply(self, prior: State) -> Record:
        if self.step.map is not None:
            self._write_runtime(self._desired_map())
            crash_points.reached("haproxy.committed")  # test hook: see cutover.crash_points
        return self.finish(prior)

    def finish(self, prior: State) -> Record:
        """The runtime map holds the step's values: write the file and the servers (again,
        idempotently), then read everything back."""
        if self.map_path is not None:
            update_map_file(self.map_path, self._desired_map())
        for name, change in self.step.servers.items():
            self.api.set_server(name, state=change.state, weight=change.weight)
        self._read_back(self._desired_map(), self._desired_servers(), "the step's")
        self._log.info("applied")
        return {
            "map": self.step.map,
            "set": sorted(self.step.set),
            "deleted": sorted(self.step.delete),
            "servers": sorted(self.step.servers),
        }

    def rollback(self, prior: State, record: Record | None) -> None:
        if (
            prior.get("map") != self.step.map
            or (self.map_path is not None and not {"runtime", "file"} <= set(prior))
            or not set(self.step.servers) <= set(prior.get("servers") or {})
        ):
            raise ActionError(
                f"rollback of {self.step.name!r}: the journaled prior state is not this"
                f" step's ({sorted(prior)!r}, map {prior.get('map')!r}); refusing to guess",
                hint="restore the map entries and servers by hand from the journal",
            )
        known: dict[str, Values] = prior.get("servers") or {}
        servers = {
            name: {f: known[name][f] for f in wanted}
            for name, wanted in self._desired_servers().items()
        }
        for name, before in reversed(servers.items()):
            self.api.set_server(name, state=before.get("state"), weight=before.get("weight"))
        if self.map_path is not None:
            update_map_file(self.map_path, prior["file"])
            self._write_runtime(prior["runtime"])
        self._read_back(prior.get("runtime"), servers, "the prior", file=prior.get("file"))
        self._log.info("rolled back")

    def _write_runtime(self, values: Mapping[str, str | None]) -> None:
        assert self.step.map is not None
        current = self.api.show_map(self.step.map)
        self.api.replace_map(self.step.map, changed_entries(current, values))

    def _read_back(
        self,
        runtime: Mapping[str, str | None] | None,
        servers: Mapping[str, Values],
        what: str,
        *,
        file: Mapping[str, str | None] | None = None,
    ) -> None:
        if self.map_path is not None:
            if self._runtime_values() != dict(runtime or {}):
                raise ReadBackError(f"haproxy map {self.step.map} does not hold {what} entries")
            if self._file_values() != dict(file if file is not None else runtime or {}):
                raise ReadBackError(f"map file {self.step.map} does not hold {what} entries")
        for name, wanted in servers.items():
            live = self.api.server_state(name).as_json()
            if any(live[f] != v for f, v in wanted.items()):
                raise ReadBackError(f"haproxy server {name} is {live}, not {what} {wanted}")
