"""The ``fastly_stats`` metric source: Fastly's real-time analytics of one service.

``GET <api_url>/v1/channel/<service>/ts/<timestamp>`` answers one record per second since
``timestamp``: ``{"Timestamp", "AggregateDelay", "Data": [{"recorded", "aggregated":
{...}, "datacenter": {"<POP>": {...}}}]}``, each measurement a counter of that second
(``requests``, ``status_2xx`` … ``status_5xx``, ``hits``, ``miss``, ``errors``, …). A
query is an expression over those names (``status_5xx / requests``), evaluated on their
sums over the last ``window`` seconds: once for the whole service, or per POP
(``by_datacenter``), each POP a series. A ratio over no requests is NaN: no data.
The lab serves the same endpoint from its own counters (:mod:`cutover.lab.realtime`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Annotated, Any, Literal

import httpx
from pydantic import Field

from cutover.metrics.expression import ExpressionError, parse
from cutover.metrics.sources import MetricSourceKind, Sample, call
from cutover.runbook.types import Duration, Model, SecretRef, Timeout

#: The measurements a query may name (Fastly's names; a missing one counts 0).
FIELDS = (
    "requests",
    "hits",
    "miss",
    "pass",
    "synth",
    "errors",
    "resp_body_bytes",
    "status_1xx",
    "status_2xx",
    "status_3xx",
    "status_4xx",
    "status_5xx",
    "status_200",
    "status_204",
    "status_206",
    "status_301",
    "status_302",
    "status_304",
    "status_400",
    "status_401",
    "status_403",
    "status_404",
    "status_416",
    "status_500",
    "status_501",
    "status_502",
    "status_503",
    "status_504",
    "status_505",
)
AGGREGATED = ""  #: the series name of the whole service


class FastlyStatsSettings(Model):
    """Fastly's real-time analytics API for one service."""

    kind: Literal["fastly_stats"] = "fastly_stats"
    api_url: str = Field(
        "https://rt.fastly.com", min_length=1, max_length=2000, description="its base URL"
    )
    token: SecretRef = Field(description="API token (Fastly-Key), as a secret reference")
    service: str = Field(min_length=1, max_length=200, description="the service ID")
    window: Annotated[Duration, Field(ge=1, le=120)] = Field(
        5.0, description="seconds of records each measurement sums"
    )
    by_datacenter: bool = Field(False, description="one series per POP, not one for the service")
    timeout: Annotated[Timeout, Field(le=120)] = Field(5.0, description="per attempt")
    retries: int = Field(2, ge=0, le=10, description="attempts after a transient failure")


def totals(records: Iterable[Any], by_datacenter: bool) -> dict[str, dict[str, float]]:
    """Per series, the sum of each measurement over ``records`` (0 for a missing one)."""
    out: dict[str, dict[str, float]] = {}
    for record in records:
        if not isinstance(record, dict):
            continue
        if by_datacenter:
            pops = record.get("datacenter")
            groups = pops.items() if isinstance(pops, dict) else ()
            parts = [(f'{{datacenter="{pop}"}}', m) for pop, m in groups]
        else:
            parts = [(AGGREGATED, record.get("aggregated"))]
        for series, measurements in parts:
            if isinstance(measurements, dict):
                found = out.setdefault(series, dict.fromkeys(FIELDS, 0.0))
                for name in FIELDS:
                    value = measurements.get(name)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        found[name] += value
    return out


def latest(body: Any, window: int) -> list[Any]:
    """The records of the last ``window`` seconds the answer holds."""
    data = body.get("Data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return []
    seconds = sorted(
        {r["recorded"] for r in data if isinstance(r, dict) and isinstance(r.get("recorded"), int)}
    )[-window:]
    keep = set(seconds)
    return [r for r in data if isinstance(r, dict) and r.get("recorded") in keep]


class FastlyStatsSampler:
    """Answers ``fastly_stats`` queries for one configured service."""

    def __init__(
        self,
        settings: FastlyStatsSettings,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from cutover.actions.control import ControlPlane
        from cutover.secrets import resolve

        self.settings = settings
        self.clock = clock
        self._api = partial(
            ControlPlane,
            settings.api_url,
            headers={"Fastly-Key": resolve(settings.token)},
            timeout=settings.timeout,
            retries=settings.retries,
            name="fastly real-time stats",
            transport=transport,
        )

    def sample(self, query: str) -> Sample:
        from cutover.errors import ActionError

        window = round(self.settings.window)
        since = int(self.clock()) - window - 2  # a margin for the aggregation delay
        path = f"/v1/channel/{self.settings.service}/ts/{since}"
        try:
            body = call(self._api, "GET", path)
        except ActionError as exc:
            return Sample(error=exc.message)
        expression = parse(query, FIELDS)
        sums = totals(latest(body, window), self.settings.by_datacenter)
        return Sample(
            {series: float(expression.evaluate(values)) for series, values in sums.items()}
        )


def _check_query(query: str) -> None:
    try:
        parse(query, FIELDS)
    except ExpressionError as exc:
        raise ValueError(str(exc)) from None


FASTLY_STATS = MetricSourceKind(
    "fastly_stats",
    FastlyStatsSettings,
    "cutover.metrics.fastly_stats:FastlyStatsSampler",
    _check_query,
    "Fastly real-time analytics of a service (requests, status_5xx, hits, …)",
)
