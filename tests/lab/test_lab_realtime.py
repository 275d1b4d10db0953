"""The lab's traffic counters: Fastly's real-time analytics endpoint (same JSON shape),
Prometheus metrics on /metrics, and the background client mix."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cutover.lab import LabHandle, start_lab
from cutover.lab.messages import Request, Response
from cutover.lab.realtime import KEEP_SECONDS, RealtimeStats
from cutover.lab.traffic import MAX_RATE, parse_rate
from cutover.metrics.fastly_stats import FastlyStatsSampler, FastlyStatsSettings
from cutover.testing import LabClient
from cutover.testing.net import wait_for


class Clock:
    now = 1000.5

    def __call__(self) -> float:
        return self.now


def response(status: int, cache: str = "MISS", **headers: str) -> Response:
    return Response(status, [("X-Cache", f"MISS, {cache}"), *headers.items()], b"body")


@pytest.fixture
def stats() -> tuple[RealtimeStats, Clock]:
    clock = Clock()
    s = RealtimeStats(clock)
    s.record("F", "files", response(200, "HIT"))
    s.record("F", "files", response(200))
    s.record("F", "files", response(301, "MISS", Location="http://x/"))
    s.record("F", "files", response(503, "MISS", **{"X-Lab-Error": "backend-error:shield"}))
    clock.now += 1
    s.record("F", "files", response(404))
    clock.now += 1
    s.record("F", "files", response(200, "HIT"))  # the current second: not yet answered
    return s, clock


def test_a_second_counts_what_the_edge_answered(stats: tuple[RealtimeStats, Clock]) -> None:
    s, _ = stats
    first, second = s.records("F", 0)
    assert first == {
        "recorded": 1000,
        "aggregated": first["datacenter"]["LAB"],
        "datacenter": {"LAB": first["aggregated"]},
    }
    assert first["aggregated"] == {
        "requests": 4,
        "status_2xx": 2,
        "status_200": 2,
        "status_3xx": 1,
        "status_301": 1,
        "status_5xx": 1,
        "status_503": 1,
        "errors": 1,
        "hits": 1,
        "miss": 3,
        "resp_body_bytes": 16,
    }
    assert second["recorded"] == 1001 and second["aggregated"]["status_404"] == 1


@pytest.mark.parametrize(
    ("path", "status", "seconds"),
    [
        ("/v1/channel/F/ts/0", 200, [1000, 1001]),
        ("/v1/channel/F/ts/1000", 200, [1001]),
        ("/v1/channel/F/ts/1001", 200, []),
        ("/v1/channel/F/ts/h", 200, [1000, 1001]),
        ("/v1/channel/F/ts/h/limit/1", 200, [1001]),
        ("/v1/channel/F/ts/h/limit/0", 200, []),
        ("/v1/channel/F/ts/soon", 400, None),
        ("/v1/channel/NOPE/ts/0", 404, None),
        ("/v1/channel/F", 404, None),
    ],
)
def test_the_channel_endpoint(
    stats: tuple[RealtimeStats, Clock], path: str, status: int, seconds: list[int] | None
) -> None:
    s, _ = stats
    answer = s.handle(Request("GET", path), {"F"}.__contains__)
    assert answer.status == status
    if seconds is not None:
        body = json.loads(answer.body)
        assert sorted(body) == ["AggregateDelay", "Data", "Timestamp"]
        assert body["Timestamp"] == 1001 and body["AggregateDelay"] == 0
        assert [r["recorded"] for r in body["Data"]] == seconds


def test_records_are_bounded_per_service() -> None:
    clock = Clock()
    s = RealtimeStats(clock)
    for _ in range(KEEP_SECONDS + 50):
        s.record("F", "files", response(200))
        clock.now += 1
    assert len(s.seconds["F"]) == KEEP_SECONDS


def test_the_lab_serves_its_counters(lab: LabHandle, world: LabClient) -> None:
    files = lab.service_ids["files"]
    wheel = world.file(".whl")
    sent = 0
    for n in range(6):
        assert world.get(world.hash_url(wheel)).status_code == 200
        assert world.get(world.hash_url(wheel, query=f"m={n}")).status_code == 200
        sent += 2
    bare = httpx.get(f"{lab.api_url}/v1/channel/{files}/ts/0", timeout=5)
    assert bare.status_code == 401

    def counted() -> list[Any] | None:
        data = world.ok("GET", f"/v1/channel/{files}/ts/0")["Data"]
        total = sum(r["aggregated"]["requests"] for r in data)
        return data if total == sent else None

    data = wait_for("the lab's second to complete", counted, 5)
    assert sum(r["aggregated"].get("hits", 0) for r in data) == 6
    assert sum(r["aggregated"].get("miss", 0) for r in data) == 6

    metrics = httpx.get(f"{lab.api_url}/metrics", timeout=5)  # no token: Prometheus scrapes
    assert metrics.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    samples = {
        (s.labels["service"], s.labels["status"], s.labels["cache"]): s.value
        for s in families["cutover_lab_requests"].samples
        if s.name == "cutover_lab_requests_total"
    }
    assert samples == {("files", "200", "HIT"): 6.0, ("files", "200", "MISS"): 6.0}

    settings = FastlyStatsSettings(
        api_url=lab.api_url, token="env:CUTOVER_LAB_TOKEN", service=files, window=60
    )
    os.environ["CUTOVER_LAB_TOKEN"] = lab.token  # as `cutover` exports it for a lab
    try:
        sampler = FastlyStatsSampler(settings)
        assert sampler.sample("miss / requests").series == {"": 0.5}
        assert sampler.sample("status_5xx").series == {"": 0.0}
        by_pop = FastlyStatsSampler(settings.model_copy(update={"by_datacenter": True}))
        assert by_pop.sample("hits").series == {'{datacenter="LAB"}': 6.0}
        legacy = FastlyStatsSampler(
            settings.model_copy(update={"service": lab.service_ids["legacy"]})
        )
        assert legacy.sample("status_5xx / requests").series == {}  # no traffic: no data
    finally:
        del os.environ["CUTOVER_LAB_TOKEN"]


@pytest.mark.parametrize(
    ("text", "rate"), [("50/s", 50.0), ("50", 50.0), (" 2.5 /s", 2.5), ("0", 0.0)]
)
def test_traffic_rates(text: str, rate: float) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "'fast' is not a rate; write e.g. 50/s"),
        ("-1/s", f"'-1/s': the rate must be from 0 to {MAX_RATE:g}/s"),
        ("501", f"'501': the rate must be from 0 to {MAX_RATE:g}/s"),
        ("nan", f"'nan': the rate must be from 0 to {MAX_RATE:g}/s"),
    ],
)
def test_bad_traffic_rates(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_rate(text)
    assert str(caught.value) == message


def test_background_traffic_is_a_mix_and_stops_with_the_lab() -> None:
    with start_lab("pypi-2018", traffic=100) as lab:
        traffic = lab.traffic
        assert traffic is not None and traffic.running
        wait_for("80 client requests", lambda: traffic.sent >= 80, 10)
        text = httpx.get(f"{lab.api_url}/metrics", timeout=5).text
    assert not traffic.running
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "cutover_lab_requests"
    ]
    labels = [s.labels for s in family.samples if s.name == "cutover_lab_requests_total"]
    assert {x["service"] for x in labels} == {"files", "legacy", "warehouse"}
    assert {x["cache"] for x in labels} == {"HIT", "MISS"}
    assert set(traffic.statuses) == {200}  # 2018 before the flip: every download works
