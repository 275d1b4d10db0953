"""Background client traffic for the lab, so metric guards have something to measure.

:class:`Traffic` sends ``rate`` client requests per second to the lab's data plane from
one background thread, in a mix like pip's: index pages (``pypi.org/simple/<name>/``),
hash-path downloads on the files host that hit the edge cache, the same with a unique
query string (a cache miss through edge and shield), and a share through the legacy host
(``pypi.python.org/packages/…``). Like a client, it follows redirects within the lab, up
to :data:`MAX_HOPS` hops, each hop a request the edge counts. The mix is drawn from a
seeded generator, so two runs send the same sequence.

It is bounded: at most :data:`MAX_RATE` requests per second, each with a timeout, and it
stops within one request of :meth:`Traffic.stop`. A rate above what one thread can send
is sent as fast as it can (the lab's throughput is in docs/lab.md).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from cutover.lab.hostnames import FILES_HOST, LEGACY_HOST, PUBLIC_HOSTS, WAREHOUSE_HOST
from cutover.lab.packages import default_catalog

MAX_RATE = 500.0  #: client requests per second, at most
MAX_HOPS = 5  #: redirects a client follows
TIMEOUT_S = 5.0  #: per request
#: the share of each kind of client request (sums to 1)
MIX: Mapping[str, float] = {"index": 0.2, "hit": 0.45, "miss": 0.15, "legacy": 0.2}


def parse_rate(text: str) -> float:
    """``"50/s"``, ``"50"`` or ``"0"`` → requests per second; ``ValueError`` when not
    a number from 0 to :data:`MAX_RATE`."""
    number = text.strip().removesuffix("/s").strip()
    try:
        rate = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate; write e.g. 50/s") from None
    if not 0 <= rate <= MAX_RATE:  # also NaN
        raise ValueError(f"{text!r}: the rate must be from 0 to {MAX_RATE:g}/s")
    return rate


class Traffic:
    """A background client mix against the data plane at ``address`` (``host:port``)."""

    def __init__(self, address: str, rate: float, seed: int = 0) -> None:
        if not 0 < rate <= MAX_RATE:
            raise ValueError(f"the rate must be above 0 and at most {MAX_RATE:g}/s, got {rate}")
        self.address = address
        self.rate = rate
        self.random = random.Random(seed)
        catalog = default_catalog()
        self.paths = [f.url_path for f in catalog.files]
        self.projects = sorted(catalog.projects)
        self.statuses: Counter[int] = Counter()  #: every hop's status (0: no answer)
        self.sent = 0  #: client requests (a redirect chain is one)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cutover-lab-traffic", daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(TIMEOUT_S * (MAX_HOPS + 1))

    def _first(self) -> tuple[str, str]:
        kind = self.random.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "index":
            return WAREHOUSE_HOST, f"/simple/{self.random.choice(self.projects)}/"
        path = self.random.choice(self.paths)
        if kind == "miss":
            return FILES_HOST, f"{path}?traffic={self.random.getrandbits(48):x}"
        return (LEGACY_HOST if kind == "legacy" else FILES_HOST), path

    def _run(self) -> None:
        started = time.monotonic()
        with httpx.Client(base_url=f"http://{self.address}", timeout=TIMEOUT_S) as client:
            while not self._stop.is_set():
                due = started + self.sent / self.rate
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                self._chain(client, *self._first())
                self.sent += 1

    def _chain(self, client: httpx.Client, host: str, target: str) -> None:
        for _ in range(MAX_HOPS + 1):
            try:
                response = client.get(target, headers={"Host": host})
            except httpx.HTTPError:
                self.statuses[0] += 1
                return
            self.statuses[response.status_code] += 1
            location = response.headers.get("location")
            if response.status_code not in (301, 302, 303, 307, 308) or not location:
                return
            parts = urlsplit(location)
            if parts.hostname and parts.hostname not in PUBLIC_HOSTS:
                return  # leaves the lab
            host = parts.hostname or host
            target = parts.path + (f"?{parts.query}" if parts.query else "")
