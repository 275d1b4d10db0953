"""Purging the lab's CDN caches, as Fastly's purge API does it.

Every purge applies to every node (edge and shield), as a Fastly purge reaches every POP:

- **URL**: the object cached for one URL (``host`` + path and query: Fastly's default
  cache key); ``POST /purge/{host}/{path}`` on the API or the ``PURGE`` method on the URL
  itself (the data plane; unauthenticated, Fastly's default);
- **surrogate key**: every object of a service whose ``Surrogate-Key`` named the key;
  ``POST /service/{sid}/purge/{key}``, or several at once with ``POST
  /service/{sid}/purge`` and a ``Surrogate-Key: k1 k2`` header (or a JSON body
  ``{"surrogate_keys": [...]}``), answered with a purge id per key;
- **all**: every object of a service, ``POST /service/{sid}/purge_all`` (never soft:
  Fastly refuses soft purge-all, so the header is ignored there).

``Fastly-Soft-Purge: 1`` makes a URL or key purge *soft*: the objects are marked stale
instead of removed, so the next request fetches again (a MISS) and replaces them.

Answers are Fastly's: ``{"status": "ok", "id": "…"}`` for a URL or one key,
``{"key": "id", …}`` for several keys, ``{"status": "ok"}`` for purge-all.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from cutover.lab.cdn import CacheEntry, Cdn
from cutover.lab.fastly_resources import ApiError, find_service, request_params
from cutover.lab.messages import Request, Response, json_response
from cutover.lab.state_store import StateStore

MAX_KEYS = 256  #: surrogate keys in one batch purge (Fastly's limit)
_URL = re.compile(r"^/purge/(?P<url>.+)$")
_KEY = re.compile(r"^/service/(?P<sid>[^/]+)/purge/(?P<key>[^/]+)$")
_KEYS = re.compile(r"^/service/(?P<sid>[^/]+)/purge$")
_ALL = re.compile(r"^/service/(?P<sid>[^/]+)/purge_all$")


def soft_requested(request: Request) -> bool:
    """Fastly treats the header's presence as the request (the value is not important)."""
    return "fastly-soft-purge" in request.headers


class Purger:
    """The purges of one lab: on its CDN's caches, each with a Fastly-like purge id."""

    def __init__(self, cdn: Cdn, store: StateStore) -> None:
        self.cdn = cdn
        self.store = store
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        return f"{next(self._ids)}-{int(time.time())}-{id(self) % 1_000_000}"

    def _each_node(self, chosen: Callable[[tuple[str, str], CacheEntry], bool], soft: bool) -> int:
        return sum(cache.purge_where(chosen, soft) for cache in self.cdn.caches.values())

    def url(self, cached_url: str, soft: bool) -> int:
        """Purge the object cached for ``host/path?query`` (a scheme, if any, is ignored)."""
        cached_url = re.sub(r"^[a-z]+://", "", cached_url)
        host, slash, rest = cached_url.partition("/")
        target = slash + rest if slash else "/"
        host = host.lower().rsplit(":", 1)[0]
        return self._each_node(lambda key, _: key == (host, target), soft)

    def keys(self, service_id: str, keys: list[str], soft: bool) -> int:
        wanted = frozenset(keys)
        return self._each_node(
            lambda _, entry: entry.service_id == service_id and not wanted.isdisjoint(entry.keys),
            soft,
        )

    def all(self, service_id: str) -> int:
        return self.cdn.purge(service_id=service_id)

    # -- the data plane's PURGE method -------------------------------------------------

    def purge_request(self, request: Request) -> Response:
        """``PURGE`` on a URL of the data plane."""
        self.url(f"{request.host}{request.target}", soft_requested(request))
        return json_response(200, {"status": "ok", "id": self.new_id()})

    # -- the API --------------------------------------------------------------------------

    def route(self, request: Request) -> Response | None:
        """Answer a purge path of the API, or None when ``request`` is not one."""
        if request.method != "POST":
            return None
        try:
            if found := _URL.match(request.path):  # the cached URL's query is the request's
                self.url(unquote(found["url"]) + _query(request), soft_requested(request))
                return json_response(200, {"status": "ok", "id": self.new_id()})
            if found := _KEY.match(request.path):
                sid = self._service(found["sid"])
                self.keys(sid, [unquote(found["key"])], soft_requested(request))
                return json_response(200, {"status": "ok", "id": self.new_id()})
            if found := _KEYS.match(request.path):
                sid = self._service(found["sid"])
                keys = _batch_keys(request)
                self.keys(sid, keys, soft_requested(request))
                return json_response(200, {key: self.new_id() for key in keys})
            if found := _ALL.match(request.path):
                self.all(self._service(found["sid"]))
                return json_response(200, {"status": "ok"})
        except ApiError as error:
            return error.response()
        return None

    def _service(self, sid: str) -> str:
        return find_service(self.store.state, unquote(sid)).id


def _query(request: Request) -> str:
    return f"?{request.query}" if request.query else ""


def _batch_keys(request: Request) -> list[str]:
    header = request.headers.get("surrogate-key")
    raw: Any = header.split() if header is not None else None
    if raw is None:
        raw = request_params(request).get("surrogate_keys")
    if not isinstance(raw, list) or not raw or not all(isinstance(k, str) and k for k in raw):
        raise ApiError(
            400,
            "Bad request",
            "Surrogate keys are required: a Surrogate-Key header or a JSON body"
            ' {"surrogate_keys": [...]}',
        )
    if len(raw) > MAX_KEYS:
        raise ApiError(400, "Bad request", f"At most {MAX_KEYS} surrogate keys per request")
    return list(dict.fromkeys(raw))
