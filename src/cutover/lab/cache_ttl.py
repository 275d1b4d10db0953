"""How long a node keeps a fetched response: Fastly's ``beresp.ttl``, and which answers it
stores at all.

Fastly stores a backend response whose status is one it caches by default (200, 203,
300, 301, 302, 410 here; see docs/lab.md for 404) unless ``Cache-Control`` says
``private`` or ``no-store``, and keeps it for the first of:

1. ``Surrogate-Control: max-age=N`` (meant for the CDN only);
2. ``Cache-Control: s-maxage=N``;
3. ``Cache-Control: max-age=N``;
4. ``Expires`` minus ``Date`` (or now);
5. the service's default TTL (``general.default_ttl``, 3600 s unless changed).

So a 301 or 302 without any caching header is kept for an hour: a redirect that a
rollback takes back keeps being served from cache until it is purged or expires, which
is what the cached-redirect lint warning and ``rollback.purge`` are about.
A TTL of 0 stores nothing. ``Surrogate-Key`` (space-separated) names the keys the
object is purged by.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from cutover.lab.messages import Response

#: statuses Fastly caches by default (404 is left out in the lab: see docs/lab.md)
CACHEABLE_STATUSES = frozenset({200, 203, 300, 301, 302, 410})
DEFAULT_TTL = 3600.0  #: Fastly's ``general.default_ttl`` when a service does not change it
_AGE = {name: re.compile(rf"(?:^|[,\s]){name}\s*=\s*(\d+)") for name in ("max-age", "s-maxage")}


def _seconds(header: str | None, directive: str) -> float | None:
    if not header:
        return None
    found = _AGE[directive].search(header.lower())
    return float(found.group(1)) if found else None


def _expires(response: Response, now: Callable[[], float]) -> float | None:
    expires = response.header("Expires")
    if expires is None:
        return None
    try:
        until = parsedate_to_datetime(expires).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0.0  # an invalid Expires means "already expired" (RFC 9111 5.3)
    date = response.header("Date")
    try:
        base = parsedate_to_datetime(date).timestamp() if date else now()
    except (TypeError, ValueError, IndexError):
        base = now()
    return max(0.0, until - base)


def cache_ttl(response: Response, default_ttl: float, now: Callable[[], float]) -> float | None:
    """The seconds this node keeps ``response``, or None when it is not stored."""
    if response.status not in CACHEABLE_STATUSES:
        return None
    control = (response.header("Cache-Control") or "").lower()
    if "private" in control or "no-store" in control:
        return None
    for ttl in (
        _seconds(response.header("Surrogate-Control"), "max-age"),
        _seconds(control, "s-maxage"),
        _seconds(control, "max-age"),
        _expires(response, now),
    ):
        if ttl is not None:
            return ttl if ttl > 0 else None
    return default_ttl if default_ttl > 0 else None


def surrogate_keys(response: Response) -> frozenset[str]:
    """The keys an object is purged by (``Surrogate-Key``, space-separated)."""
    return frozenset((response.header("Surrogate-Key") or "").split())
