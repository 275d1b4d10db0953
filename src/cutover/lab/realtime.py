"""The lab's traffic counters: Fastly's real-time analytics, and Prometheus metrics.

Every request the client-facing edge answers is counted for the service its Host
belongs to, in one-second records (``requests``, ``status_2xx`` … ``status_5xx``, the
common exact statuses, ``hits``, ``miss``, ``pass``, ``synth``, ``errors``,
``resp_body_bytes``), kept for :data:`KEEP_SECONDS` seconds. The API port serves them as
Fastly's real-time API does, same JSON shape::

    GET /v1/channel/{service_id}/ts/{timestamp}    records after timestamp (0: all kept)
    GET /v1/channel/{service_id}/ts/h              the last 120 seconds
    GET /v1/channel/{service_id}/ts/h/limit/{n}    the last n records

    {"Timestamp": 1712345678, "AggregateDelay": 0,
     "Data": [{"recorded": 1712345677, "aggregated": {"requests": 52, ...},
               "datacenter": {"LAB": {"requests": 52, ...}}}]}

Only complete seconds are answered (the current one is still counting), and they need
the ``Fastly-Key`` token. ``GET /metrics`` (no token, as Prometheus scrapes) answers the
running totals as Prometheus counters, ``cutover_lab_requests_total{service, status,
cache}`` and ``cutover_lab_response_body_bytes_total{service}``.
"""

from __future__ import annotations

import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

from cutover.lab.messages import Request, Response, json_response

KEEP_SECONDS = 600  #: one-second records kept per service
POP = "LAB"  #: the datacenter the lab's edge reports as
_EXACT = frozenset(
    {200, 204, 206, 301, 302, 304, 400, 401, 403, 404, 416, 500, 501, 502, 503, 504, 505}
)
_CHANNEL = re.compile(r"^/v1/channel/(?P<service>[^/]+)/ts/(?P<rest>.+)$")


def _cache_state(response: Response) -> str:
    seen = (response.header("X-Cache") or "").split(",")
    return seen[-1].strip().upper() or "MISS"


class RealtimeStats:
    """Per service, per second counters of what the edge answered."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        #: service id → deque of (second, counters), oldest first
        self.seconds: dict[str, deque[tuple[int, Counter[str]]]] = {}
        #: (service name, status, cache state) → requests, since the lab started
        self.totals: Counter[tuple[str, str, str]] = Counter()
        self.body_bytes: Counter[str] = Counter()

    def record(self, service_id: str, service_name: str, response: Response) -> None:
        second = int(self.clock())
        records = self.seconds.setdefault(service_id, deque(maxlen=KEEP_SECONDS))
        if not records or records[-1][0] != second:
            records.append((second, Counter()))
        counts = records[-1][1]
        status = response.status
        cache = _cache_state(response)
        counts["requests"] += 1
        counts[f"status_{status // 100}xx"] += 1
        if status in _EXACT:
            counts[f"status_{status}"] += 1
        lab_error = response.header("X-Lab-Error") or ""
        if lab_error.startswith("backend-"):
            counts["errors"] += 1
        if response.header("Location") is not None and cache == "HIT" and status in (301, 302):
            counts["synth"] += 1  # the legacy redirect: made at the edge
        elif cache == "HIT":
            counts["hits"] += 1
        else:
            counts["miss"] += 1
        counts["resp_body_bytes"] += len(response.body)
        self.totals[(service_name, str(status), cache)] += 1
        self.body_bytes[service_name] += len(response.body)

    def records(self, service_id: str, after: int, limit: int | None = None) -> list[Any]:
        """Complete seconds after ``after``, oldest first, in Fastly's record shape."""
        now = int(self.clock())
        done = [
            (second, counts)
            for second, counts in self.seconds.get(service_id, ())
            if after < second < now
        ]
        if limit is not None:
            done = done[-limit:] if limit > 0 else []
        return [
            {"recorded": second, "aggregated": dict(counts), "datacenter": {POP: dict(counts)}}
            for second, counts in done
        ]

    def handle(self, request: Request, known: Callable[[str], bool]) -> Response:
        """``GET /v1/channel/…`` (the token is checked by the caller)."""
        found = _CHANNEL.match(request.path)
        if request.method != "GET" or found is None:
            return json_response(404, {"Error": "not found"})
        service, rest = found.group("service"), found.group("rest")
        if not known(service):
            return json_response(404, {"Error": f"unknown service {service}"})
        now = int(self.clock())
        if rest == "h":
            data = self.records(service, now - 121)
        elif rest.startswith("h/limit/") and rest[8:].isdigit():
            data = self.records(service, 0, min(int(rest[8:]), KEEP_SECONDS))
        elif rest.isdigit():
            data = self.records(service, int(rest))
        else:
            return json_response(400, {"Error": f"bad timestamp {rest!r}"})
        return json_response(200, {"Timestamp": now - 1, "AggregateDelay": 0, "Data": data})

    def exposition(self) -> Response:
        """``GET /metrics``: the running totals in Prometheus' text format."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import CounterMetricFamily
        from prometheus_client.registry import Collector

        stats = self

        class _Totals(Collector):
            def collect(self) -> Iterator[CounterMetricFamily]:
                requests = CounterMetricFamily(
                    "cutover_lab_requests",
                    "Requests the lab's edge answered, by service, status and cache state",
                    labels=["service", "status", "cache"],
                )
                for (service, status, cache), count in sorted(stats.totals.items()):
                    requests.add_metric([service, status, cache], count)
                yield requests
                body = CounterMetricFamily(
                    "cutover_lab_response_body_bytes",
                    "Body bytes the lab's edge sent, by service",
                    labels=["service"],
                )
                for service, count in sorted(stats.body_bytes.items()):
                    body.add_metric([service], count)
                yield body

        registry = CollectorRegistry()
        registry.register(_Totals())
        return Response(
            200,
            [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
            generate_latest(registry),
        )
