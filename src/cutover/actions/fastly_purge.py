"""Fastly purges, as the fastly action issues them (a purge step, ``rollback.purge``).

Fastly's purge API (``https://api.fastly.com``, the ``Fastly-Key`` token):

- a URL: ``POST /purge/{host}/{path}?{query}`` → ``{"status": "ok", "id": "…"}``;
- one surrogate key: ``POST /service/{sid}/purge/{key}`` → ``{"status": "ok", "id": "…"}``;
- several keys: ``POST /service/{sid}/purge`` with ``Surrogate-Key: k1 k2`` →
  ``{"k1": "id", "k2": "id"}``;
- everything: ``POST /service/{sid}/purge_all`` → ``{"status": "ok"}``.

``Fastly-Soft-Purge: 1`` makes URL and key purges soft (stale, not removed). An answer
that is not ``ok`` (or misses a key) is a failed read-back: the purge is not known to
have happened. A purge is idempotent, so a retry after a lost answer purges again,
harmlessly.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from cutover.actions.base import Change
from cutover.actions.control import ControlPlane
from cutover.errors import ReadBackError
from cutover.runbook.fastly_purge import FastlyPurge

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def cached_url(url: str) -> str:
    """``https://host/path?q`` as Fastly's purge path names it: ``host/path?q``."""
    return _SCHEME.sub("", url)


def purge_changes(where: str, spec: FastlyPurge) -> list[Change]:
    """What a purge does, for ``plan``: each URL, key or the whole service, purged."""
    done = "soft-purged (stale)" if spec.soft else "purged"
    if spec.all:
        return [Change(f"{where} cache (everything)", "cached", done)]
    return [
        *(Change(f"{where} cache url {cached_url(u)}", "cached", done) for u in spec.urls),
        *(Change(f"{where} cache surrogate key {k}", "cached", done) for k in spec.keys),
    ]


def issue_purges(api: ControlPlane, service_id: str, spec: FastlyPurge) -> list[str]:
    """Send the purges; the purge ids Fastly answered (``all`` has none)."""
    headers = {"Fastly-Soft-Purge": "1"} if spec.soft else None
    service = f"/service/{quote(service_id, safe='')}"
    if spec.all:
        _ok(api.request("POST", f"{service}/purge_all"), "purge_all")
        return []
    ids = [
        _ok(api.request("POST", f"/purge/{cached_url(url)}", headers=headers), url)
        for url in spec.urls
    ]
    if len(spec.keys) == 1:
        key = spec.keys[0]
        answer = api.request("POST", f"{service}/purge/{quote(key, safe='')}", headers=headers)
        ids.append(_ok(answer, f"surrogate key {key}"))
    elif spec.keys:
        answer = api.request(
            "POST",
            f"{service}/purge",
            headers={**(headers or {}), "Surrogate-Key": " ".join(spec.keys)},
        )
        missing = [k for k in spec.keys if not isinstance(answer, dict) or k not in answer]
        if missing:
            raise ReadBackError(f"fastly: the purge answer names no purge of {missing}")
        ids.extend(str(answer[k]) for k in spec.keys)
    return ids


def _ok(answer: Any, what: str) -> str:
    if not isinstance(answer, dict) or answer.get("status") != "ok":
        raise ReadBackError(f"fastly: the purge of {what} was not confirmed: {answer!r}")
    return str(answer.get("id", ""))
