"""The ``http`` action: one setting behind a REST API (GET current, write desired).

- **snapshot**: ``GET read_path`` (default: ``path``); a 404, an empty answer or JSON
  ``null`` all mean *absent* (``None``);
- **apply**: ``PUT``/``PATCH``/``POST`` the step's ``body`` to ``path``, then ``GET`` the
  value back: after a PUT it must equal ``body``; after a PATCH or a POST it must contain
  it (applying ``body`` to it as a JSON merge patch, RFC 7386, changes nothing);
- **rollback**: PUT the prior value back (``DELETE`` when it was absent); a PATCH is
  undone by the reverse merge patch, touching only the keys the step changed; a POST is
  not reversible and rollback refuses (unless the value already equals the prior one);
  rollback first reads the live value and does nothing if it already is the prior one,
  so it is idempotent;
- **reconcile**: the live value against the desired and the prior one: the API's
  answer is the effect, there is nothing further to make live;
- **targets**: a PUT's whole value; a PATCH's or POST's leaves (each path of the merge
  patch, ``null`` meaning absent), so a later PATCH of one key overrides only that key.

Calls go through :class:`~cutover.actions.control.ControlPlane`: transient failures
(5xx, 429, timeouts) are retried with bounded back-off, a 4xx is never retried. The
backend's token is resolved on the first call and sent as ``Authorization: Bearer``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from cutover.actions.base import Action, Change, Diff, Reconciled, Record, State
from cutover.actions.control import ControlPlane
from cutover.errors import ActionError, ReadBackError, RejectedActionError
from cutover.log import get_logger
from cutover.runbook.backends import HttpSettings, HttpStep
from cutover.secrets import clip, resolve

SHOW_CHARS = 500  #: how much of a value an error message quotes


class HttpAction(Action[HttpSettings, HttpStep]):
    """Read, write and restore one JSON value below the backend's ``base_url``."""

    kind = "http"

    def __init__(
        self,
        settings: HttpSettings,
        step: HttpStep,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(settings, step)
        self.read_path = step.read_path or step.path
        self._transport = transport
        self._client: ControlPlane | None = None
        self._log = get_logger("cutover.actions.http").bind(
            step=step.name, method=step.method, path=step.path
        )

    def target_id(self) -> str:
        """The setting's URL (``base_url`` + ``path``), scheme and host lower-cased."""
        from cutover.lock_targets import join_url

        return f"http setting {join_url(self.settings.base_url, self.step.path)}"

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self) -> State:
        return {"path": self.read_path, "value": self._get()}

    def plan(self, live: State) -> Diff:
        before = live.get("value")
        return Diff([Change(f"{self.step.method} {self.step.path}", before, self._after(before))])

    def reconcile(self, prior: State, record: Record | None) -> Reconciled:
        live = self._get()
        if self._holds_desired(live):
            return Reconciled.APPLIED
        if live == prior.get("value"):
            return Reconciled.NOT_APPLIED
        return Reconciled.DRIFTED

    def targets(self, live: State) -> list[Change] | None:
        where = f"http {self.settings.base_url.rstrip('/')}{self.read_path}"
        value = live.get("value")
        if self.step.method == "PUT" or not isinstance(self.step.body, dict):
            return [Change(where, value, self._after(value))]
        return [
            Change(f"{where}#{pointer}", _at(value, pointer), leaf)
            for pointer, leaf in _leaves(self.step.body)
        ]

    # -- writing ---------------------------------------------------------------------------

    def apply(self, prior: State) -> Record:
        self._api().request(self.step.method, self.step.path, json=self.step.body)
        live = self._get()
        if not self._holds_desired(live):
            raise ReadBackError(
                f"{self.step.method} {self.step.path} succeeded, but GET {self.read_path} "
                f"answers {_show(live)}, not {_show(self._after(prior.get('value')))}"
            )
        self._log.info("applied")
        return {"method": self.step.method, "path": self.step.path, "read_path": self.read_path}

    def rollback(self, prior: State, record: Record | None) -> None:
        if "value" not in prior:
            raise ActionError(
                f"rollback of {self.step.method} {self.step.path}: the journaled prior state "
                "has no value; refusing to guess (an absent value would mean DELETE)",
                hint="restore the setting by hand",
            )
        target = prior["value"]
        live = self._get()
        if live == target:
            self._log.info("rollback: the prior value is in place; nothing to do")
            return
        api = self._api()
        if self.step.method == "POST":
            raise RejectedActionError(
                f"step {self.step.name!r} (POST {self.step.path}) cannot be rolled back: "
                f"a POST is not reversible; GET {self.read_path} was {_show(target)} before",
                hint="restore that value by hand, or write the step as a PUT or PATCH",
            )
        if target is None:
            api.request("DELETE", self.step.path, missing_ok=True)
            restored = self._get() is None
        elif self.step.method == "PATCH":
            reverse = reverse_merge_patch(target, self.step.body)
            api.request("PATCH", self.step.path, json=reverse)
            now = self._get()
            restored = now == target or merge_patch(now, reverse) == now
        else:
            api.request("PUT", self.step.path, json=target)
            restored = self._get() == target
        if not restored:
            raise ReadBackError(
                f"rollback of {self.step.method} {self.step.path}: GET {self.read_path} "
                f"does not answer the prior value {_show(target)}"
            )
        self._log.info("rolled back")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- helpers ---------------------------------------------------------------------------

    def _api(self) -> ControlPlane:
        if self._client is None:
            headers = dict(self.settings.headers)
            if self.settings.token:
                headers["Authorization"] = f"Bearer {resolve(self.settings.token)}"
            self._client = ControlPlane(
                self.settings.base_url,
                headers=headers,
                timeout=self.settings.timeout,
                retries=self.settings.retries,
                name=f"http {self.settings.base_url}",
                transport=self._transport,
            )
        return self._client

    def _get(self) -> Any:
        return self._api().request("GET", self.read_path, missing_ok=True)

    def _after(self, before: Any) -> Any:
        if self.step.method == "PUT":
            return self.step.body
        return merge_patch(before, self.step.body)

    def _holds_desired(self, live: Any) -> bool:
        if self.step.method == "PUT":
            return bool(live == self.step.body)
        return live is not None and merge_patch(live, self.step.body) == live


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: ``patch`` applied to ``target`` (neither is modified)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def reverse_merge_patch(prior: Any, patch: Any) -> Any:
    """The merge patch that puts back, in ``prior``'s shape, every key ``patch`` touched.

    A key ``prior`` did not have becomes ``null`` (removed). Limit of merge patches: a key
    whose prior value was JSON ``null`` is removed rather than set to ``null``.
    """
    if not isinstance(patch, dict) or not isinstance(prior, dict):
        return prior
    return {
        key: reverse_merge_patch(prior[key], value) if key in prior else None
        for key, value in patch.items()
    }


def _leaves(patch: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf of a merge patch as (JSON pointer, value); ``None`` removes the key."""
    out: list[tuple[str, Any]] = []
    for key, value in patch.items():
        pointer = f"{prefix}/{key.replace('~', '~0').replace('/', '~1')}"
        if isinstance(value, dict) and value:
            out.extend(_leaves(value, pointer))
        else:
            out.append((pointer, value))
    return out


def _at(value: Any, pointer: str) -> Any:
    """The value at a JSON pointer of ``value``; None when any part is absent."""
    for part in pointer.split("/")[1:]:
        if not isinstance(value, dict):
            return None
        value = value.get(part.replace("~1", "/").replace("~0", "~"))
    return value


def _show(value: Any) -> str:
    text = "(absent)" if value is None else json.dumps(value, sort_keys=True)
    return clip(text, SHOW_CHARS)
