"""The ``fastly`` action: edge dictionary items, and new service versions.

Speaks Fastly's documented API (and so, unchanged, the lab's compatible subset):

- **Dictionary steps** (versionless, live at once): read the items from the active
  version's dictionary, write them with one bulk ``PATCH …/items`` (all or nothing),
  read them back. Rollback writes the prior values back (deleting items that did not
  exist), in one bulk call.
- **Version steps**: clone the active version, add/remove domains, change settings and
  add/replace/delete VCL snippets, conditions, headers, backends and custom VCL files on
  the draft (:mod:`cutover.actions.fastly_version_resources`), validate (the VCL
  compiles), activate, read back. Rollback activates the previously active version,
  which Fastly keeps unchanged (activated versions are locked).
- **Dynamic snippet steps** (versionless, live at once): write a dynamic snippet's
  content, read it back; rollback writes the prior content back
  (:mod:`cutover.actions.fastly_dynamic_snippets`).
- **Purge steps**: purge URLs, surrogate keys or everything of a service, softly or not
  (:mod:`cutover.actions.fastly_purge`); confirmed by Fastly's ``ok``; nothing to undo
  (the caches refill), never "already at target". ``rollback.purge`` runs them after a
  rollback (:mod:`cutover.rollback_purges`).

Reconcile reads the effect itself: a dictionary item read from the API is the value the
edge serves (versionless), and the active version is what the service runs. Targets: each
dictionary item (by service, dictionary and key), each domain's presence and each setting
of the active version (by service).

The token comes from a secret reference and is sent as ``Fastly-Key``; it is never
logged or journaled. A clone retried after a timeout may leave an extra inactive draft
version: harmless, never activated.
"""

from __future__ import annotations

from typing import Any

from cutover import secrets
from cutover.actions import fastly_version_resources as resources
from cutover.actions.base import Action, Change, Diff, Reconciled, Record, State
from cutover.actions.control import ControlPlane
from cutover.actions.fastly_dynamic_snippets import DynamicSnippet
from cutover.actions.fastly_purge import issue_purges, purge_changes
from cutover.errors import ReadBackError, RejectedActionError
from cutover.runbook.backends import FastlySettings, FastlyStep


def fastly_api(settings: FastlySettings) -> ControlPlane:
    """A client of the backend's Fastly API (its token, timeout and retries); close it."""
    return ControlPlane(
        settings.api_url,
        headers={"Fastly-Key": secrets.resolve(settings.token)},
        timeout=settings.timeout,
        retries=settings.retries,
        name="fastly",
    )


class FastlyAction(Action[FastlySettings, FastlyStep]):
    kind = "fastly"

    def __init__(self, settings: FastlySettings, step: FastlyStep) -> None:
        super().__init__(settings, step)
        self.config = settings
        self.change = step
        self.service_id = settings.services.get(step.service, step.service)
        self._api: ControlPlane | None = None

    def target_id(self) -> str:
        """The service at its API: dictionary and version changes both change the service."""
        from cutover.lock_targets import canonical_url

        return f"fastly service {self.service_id} at {canonical_url(self.config.api_url)}"

    @property
    def api(self) -> ControlPlane:
        if self._api is None:
            self._api = fastly_api(self.config)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    # --- reading ------------------------------------------------------------------------------

    def _service(self) -> str:
        return f"/service/{self.service_id}"

    def _active_version(self) -> int:
        versions = self.api.request("GET", f"{self._service()}/version") or []
        active = [int(v["number"]) for v in versions if v.get("active")]
        if not active:
            raise RejectedActionError(
                f"fastly: service {self.change.service} ({self.service_id}) has no active version"
            )
        return active[0]

    def _dictionary_id(self, version: int) -> str:
        name = self.change.dictionary
        found = self.api.request("GET", f"{self._service()}/version/{version}/dictionary/{name}")
        return str(found["id"])

    def _item(self, dictionary_id: str, key: str) -> str | None:
        found = self.api.request(
            "GET", f"{self._service()}/dictionary/{dictionary_id}/item/{key}", missing_ok=True
        )
        return None if found is None else str(found["item_value"])

    def _keys(self) -> list[str]:
        return [*self.change.set, *(k for k in self.change.delete if k not in self.change.set)]

    def _desired_items(self) -> dict[str, str | None]:
        desired: dict[str, str | None] = dict.fromkeys(self.change.delete)
        desired.update(self.change.set)
        return desired

    def _version_state(self, version: int) -> dict[str, Any]:
        base = f"{self._service()}/version/{version}"
        domains = sorted(d["name"] for d in self.api.request("GET", f"{base}/domain") or [])
        settings = self.api.request("GET", f"{base}/settings") or {}
        assert self.change.version is not None
        wanted = self.change.version.settings
        state: dict[str, Any] = {
            "domains": domains,
            "settings": {k: _text(settings.get(k)) for k in wanted},
        }
        state.update(resources.read(self.api, base, self.change.version))
        return state

    @property
    def dynamic(self) -> DynamicSnippet | None:
        name, content = self.change.dynamic_snippet, self.change.content
        if name is None or content is None:
            return None
        return DynamicSnippet(self.api, self._service(), name, content)

    # --- the Action interface -----------------------------------------------------------------

    def snapshot(self) -> State:
        if self.change.purge is not None:  # nothing to read: a purge replaces no value
            return {"service_id": self.service_id, "purge": self.change.purge.model_dump()}
        active = self._active_version()
        if self.dynamic is not None:
            return {"service_id": self.service_id, **self.dynamic.snapshot(active)}
        if self.change.dictionary is not None:
            dictionary_id = self._dictionary_id(active)
            items = {key: self._item(dictionary_id, key) for key in self._keys()}
            return {
                "service_id": self.service_id,
                "dictionary": self.change.dictionary,
                "dictionary_id": dictionary_id,
                "items": items,
            }
        return {
            "service_id": self.service_id,
            "active_version": active,
            **self._version_state(active),
        }

    def plan(self, live: State) -> Diff:
        where = f"{self.change.service}"
        if self.dynamic is not None:
            return self.dynamic.plan(where, live)
        if self.change.purge is not None:
            return Diff(purge_changes(where, self.change.purge))
        if self.change.dictionary is not None:
            items = live["items"]
            return Diff(
                [
                    Change(
                        f"{where} dictionary {self.change.dictionary}[{key}]", items.get(key), value
                    )
                    for key, value in self._desired_items().items()
                ]
            )
        desired = self._desired_version(live)
        changes = [
            Change(
                f"{where} active version",
                live["active_version"],
                f"{live['active_version']} cloned, changed, activated",
            )
        ]
        changes.append(Change(f"{where} domains", live["domains"], desired["domains"]))
        changes.extend(
            Change(f"{where} setting {k}", live["settings"].get(k), v)
            for k, v in desired["settings"].items()
        )
        changes.extend(resources.plan(where, live, desired))
        return Diff(changes)

    def _desired_version(self, prior: State) -> dict[str, Any]:
        change = self.change.version
        assert change is not None
        domains = set(prior["domains"]) - {d.lower() for d in change.remove_domains}
        domains |= {d.lower() for d in change.add_domains}
        desired: dict[str, Any] = {"domains": sorted(domains), "settings": dict(change.settings)}
        desired.update(resources.desired(change))
        return desired

    def apply(self, prior: State) -> Record:
        if self.dynamic is not None:
            return self.dynamic.apply(prior)
        if self.change.purge is not None:
            return {"purge_ids": issue_purges(self.api, self.service_id, self.change.purge)}
        if self.change.dictionary is not None:
            self._write_items(prior["dictionary_id"], prior["items"], self._desired_items())
            self._check_items(prior["dictionary_id"], self._desired_items())
            return {"dictionary_id": prior["dictionary_id"]}
        return self._new_version(prior)

    def _write_items(
        self, dictionary_id: str, live: dict[str, str | None], desired: dict[str, str | None]
    ) -> None:
        operations = []
        for key, value in desired.items():
            if value is None:
                if live.get(key) is not None:
                    operations.append({"op": "delete", "item_key": key})
            else:
                operations.append({"op": "upsert", "item_key": key, "item_value": value})
        if operations:
            self.api.request(
                "PATCH",
                f"{self._service()}/dictionary/{dictionary_id}/items",
                json={"items": operations},
            )

    def _check_items(self, dictionary_id: str, desired: dict[str, str | None]) -> None:
        live = {key: self._item(dictionary_id, key) for key in desired}
        if live != desired:
            raise ReadBackError(
                f"fastly: dictionary {self.change.dictionary} reads back {live}, expected {desired}"
            )

    def _new_version(self, prior: State) -> Record:
        change = self.change.version
        assert change is not None
        base = self._service()
        draft = self.api.request("PUT", f"{base}/version/{prior['active_version']}/clone")
        number = int(draft["number"])
        version = f"{base}/version/{number}"
        for name in change.remove_domains:
            self.api.request("DELETE", f"{version}/domain/{name}", missing_ok=True)
        for name in change.add_domains:
            self._add_domain(version, name)
        if change.settings:
            self.api.request("PUT", f"{version}/settings", data=dict(change.settings))
        resources.write(self.api, version, change)
        if change.comment:
            self.api.request("PUT", version, data={"comment": change.comment})
        checked = self.api.request("GET", f"{version}/validate") or {}
        if checked.get("status") != "ok":
            raise RejectedActionError(
                f"fastly: version {number} does not validate: "
                f"{checked.get('msg') or checked.get('errors')}"
            )
        self.api.request("PUT", f"{version}/activate")
        if self._active_version() != number or self._version_state(number) != self._desired_version(
            prior
        ):
            raise ReadBackError(f"fastly: version {number} is not active as written")
        return {"prior_version": prior["active_version"], "new_version": number}

    def _add_domain(self, version: str, name: str) -> None:
        """Add a domain to the draft; a retry whose first attempt landed (its answer was
        lost) meets ``409 Duplicate record``: the domain is there, which is the goal."""
        try:
            self.api.request("POST", f"{version}/domain", data={"name": name})
        except RejectedActionError as exc:
            if exc.status != 409:
                raise
            found = self.api.request("GET", f"{version}/domain/{name}", missing_ok=True)
            if found is None:
                raise

    def rollback(self, prior: State, record: Record | None) -> None:
        if self.dynamic is not None:
            self.dynamic.rollback(prior)
            return
        if "purge" in prior:  # a purge is not undone: the caches refill from the origins
            return
        if "items" in prior:
            self._write_items(prior["dictionary_id"], self._live_items(prior), prior["items"])
            self._check_items(prior["dictionary_id"], prior["items"])
            return
        target = int(prior["active_version"])
        if self._active_version() != target:
            self.api.request("PUT", f"{self._service()}/version/{target}/activate")
        if self._active_version() != target:
            raise ReadBackError(f"fastly: version {target} did not become active again")

    def targets(self, live: State) -> list[Change] | None:
        where = f"fastly {self.service_id}"
        if self.dynamic is not None:
            return self.dynamic.targets(where, live)
        if self.change.purge is not None:  # a purge is never "already done"
            return None
        if self.change.dictionary is not None:
            items = live["items"]
            return [
                Change(f"{where} dictionary {self.change.dictionary}[{key}]", items.get(key), value)
                for key, value in self._desired_items().items()
            ]
        change = self.change.version
        assert change is not None
        domains = {d.lower() for d in live["domains"]}
        present = {d.lower(): False for d in change.remove_domains}
        present.update({d.lower(): True for d in change.add_domains})
        return [
            *(Change(f"{where} domain {d}", d in domains, want) for d, want in present.items()),
            *(
                Change(f"{where} setting {k}", live["settings"].get(k), v)
                for k, v in change.settings.items()
            ),
            *resources.targets(where, live, self._desired_version(live)),
        ]

    def _live_items(self, prior: State) -> dict[str, str | None]:
        return {key: self._item(prior["dictionary_id"], key) for key in prior["items"]}

    def reconcile(self, prior: State, record: Record | None) -> Reconciled:
        if self.dynamic is not None:
            return self.dynamic.reconcile(prior)
        if "purge" in prior:  # live state cannot tell; purging again is harmless
            return Reconciled.NOT_APPLIED
        if "items" in prior:
            live = self._live_items(prior)
            if live == self._desired_items():
                return Reconciled.APPLIED
            return Reconciled.NOT_APPLIED if live == prior["items"] else Reconciled.DRIFTED
        active = self._active_version()
        if active == int(prior["active_version"]):
            return Reconciled.NOT_APPLIED
        state = self._version_state(active)
        if state == self._desired_version(prior):
            return Reconciled.APPLIED
        return Reconciled.DRIFTED


#: a resource in one short line (targets, journal); kept under its first name
snippet_summary = resources.summary


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
