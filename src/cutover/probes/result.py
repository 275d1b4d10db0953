"""What a probe found: every hop of the chain, one reason, the digest of the body.

Results are frozen and small (no bodies, no header dumps): a round of 10,000 probes must
fit in a few megabytes. :meth:`ProbeResult.to_dict` is the JSON shape every report uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cutover.reasons import Reason


@dataclass(frozen=True, slots=True)
class Hop:
    """One request of a chain and what came back (``status`` is None when nothing did)."""

    url: str
    status: int | None
    location: str | None = None  #: the Location header of a 3xx, as sent
    x_cache: str | None = None  #: CDN cache verdicts, e.g. ``MISS, HIT``
    x_served_by: str | None = None  #: CDN nodes that served it, e.g. ``edge-1, shield-1``
    age: str | None = None  #: seconds the answer spent in a cache
    elapsed_ms: float = 0.0  #: from sending the request to having the response headers

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "location": self.location,
            "x_cache": self.x_cache,
            "x_served_by": self.x_served_by,
            "age": self.age,
            "elapsed_ms": round(self.elapsed_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe (after its retries, if any)."""

    set: str  #: the probe set it belongs to
    name: str  #: the probe's name (its URL when it has none)
    url: str  #: the probe's first URL as written (without the cache-busting parameter)
    ok: bool  #: True for ``ok`` and ``flaky``
    reason: Reason
    detail: str = ""  #: what went wrong, for a human (the cycle of a loop, the digests, …)
    status: int | None = None  #: status of the last answer received
    hops: tuple[Hop, ...] = field(default=())
    sha256: str | None = None  #: of the final body (None when it was not read in full)
    size: int | None = None  #: bytes of the final body read
    elapsed_ms: float = 0.0  #: the whole last attempt, body included
    attempts: int = 1
    method: str = "GET"
    #: the body's digest against ``expect.sha256`` (None: no digest expected, or the body
    #: was not read in full); not in :meth:`to_dict` (``reason`` says the same there)
    sha256_match: bool | None = None

    @property
    def redirects(self) -> int:
        """Redirects followed: hops before the final answer."""
        return max(len(self.hops) - 1, 0)

    @property
    def final_url(self) -> str | None:
        return self.hops[-1].url if self.hops else None

    def chain(self) -> str:
        """The hop chain in one line: ``URL (301) → URL (200)``."""
        return " → ".join(
            f"{hop.url} ({hop.status if hop.status is not None else 'no answer'})"
            for hop in self.hops
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "set": self.set,
            "name": self.name,
            "url": self.url,
            "method": self.method,
            "ok": self.ok,
            "reason": self.reason.value,
            "detail": self.detail,
            "status": self.status,
            "final_url": self.final_url,
            "hops": [hop.to_dict() for hop in self.hops],
            "sha256": self.sha256,
            "size": self.size,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "attempts": self.attempts,
        }
