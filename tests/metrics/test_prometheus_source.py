"""The prometheus source against a fake Prometheus HTTP API (httpx.MockTransport): every
answer shape, no data, NaN, several series, refusals, failures and slow answers."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cutover.errors import InputError
from cutover.metrics.prometheus import PrometheusSampler, PrometheusSettings
from cutover.metrics.sources import Sample

Handler = Callable[[httpx.Request], httpx.Response]


def vector(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": m, "value": [1712345678.1, v]} for m, v in series],
        },
    }


def sampler(handler: Handler, **settings: Any) -> tuple[PrometheusSampler, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    config = PrometheusSettings.model_validate({"url": "http://prom:9090", **settings})
    return PrometheusSampler(config, transport=httpx.MockTransport(record)), seen


def answer(status: int, body: Any) -> Handler:
    return lambda request: httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("body", "series"),
    [
        (vector(({}, "0.25")), {"{}": 0.25}),
        (
            vector(({"region": "eu", "job": "x"}, "1"), ({"region": "us", "job": "x"}, "0.5")),
            {'{job="x", region="eu"}': 1.0, '{job="x", region="us"}': 0.5},
        ),
        (vector(), {}),
        (vector(({"a": "b"}, "+Inf")), {'{a="b"}': math.inf}),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "3"]}}, {"": 3.0}),
    ],
)
def test_answers_are_values_per_series(body: Any, series: dict[str, float]) -> None:
    s, seen = sampler(answer(200, body))
    assert s.sample("sum(rate(x[1m]))") == Sample(series)
    assert seen[0].url.path == "/api/v1/query"
    assert seen[0].url.params["query"] == "sum(rate(x[1m]))"


def test_nan_is_kept_as_nan_for_no_data_to_judge() -> None:
    s, _ = sampler(answer(200, vector(({"a": "b"}, "NaN"))))
    assert math.isnan(s.sample("q").series['{a="b"}'])


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            400,
            {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"},
            "prometheus: GET /api/v1/query refused: 400 parse error at char 3",
        ),
        (
            401,
            {"status": "error", "error": "unauthorized"},
            "prometheus: GET /api/v1/query refused: 401 unauthorized",
        ),
        (
            200,
            {"status": "success", "data": {"resultType": "matrix", "result": []}},
            "the query answers a matrix, not an instant vector or a scalar",
        ),
        (200, {"status": "error", "error": "query timed out"}, "the query failed: query timed out"),
    ],
)
def test_refusals_are_errors_at_once(status: int, body: Any, error: str) -> None:
    s, seen = sampler(answer(status, body), retries=3)
    assert s.sample("q") == Sample(error=error)
    assert len(seen) == 1  # a refusal is never retried


def failing_then(failure: Handler, times: int, then: Handler) -> Handler:
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return failure(request) if calls["n"] <= times else then(request)

    return handle


def slow(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("too slow", request=request)


def reset(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


TRANSIENT = [
    (answer(503, {"status": "error", "error": "overloaded"}), "answered 503"),
    (answer(429, {}), "answered 429"),
    (slow, "timed out"),
    (reset, "failed: connection refused"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("failure", "said"), TRANSIENT)
def test_transient_failures_are_retried(failure: Handler, said: str) -> None:
    s, seen = sampler(failing_then(failure, 2, answer(200, vector(({}, "1")))), retries=2)
    assert s.sample("q") == Sample({"{}": 1.0})
    assert len(seen) == 3


@pytest.mark.parametrize(("failure", "said"), TRANSIENT)
def test_transient_failures_past_the_retries_are_an_error(failure: Handler, said: str) -> None:
    s, seen = sampler(failure, retries=1)
    assert s.sample("q") == Sample(error=f"prometheus: GET /api/v1/query {said}")
    assert len(seen) == 2


def test_auth_header_and_basic_auth_come_from_secret_references(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROM_TOKEN", "Bearer s3cret-token")
    monkeypatch.setenv("PROM_PASSWORD", "pa55word")
    s, seen = sampler(answer(200, vector()), auth_header="env:PROM_TOKEN")
    s.sample("q")
    assert seen[0].headers["authorization"] == "Bearer s3cret-token"
    s, seen = sampler(
        answer(200, vector()), basic_auth={"username": "cutover", "password": "env:PROM_PASSWORD"}
    )
    s.sample("q")
    assert (
        seen[0].headers["authorization"]
        == "Basic " + base64.b64encode(b"cutover:pa55word").decode()
    )


def test_a_missing_ca_bundle_is_an_error_before_any_query(tmp_path: Any) -> None:
    config = PrometheusSettings(url="https://prom", ca_bundle=str(tmp_path / "none.pem"))
    with pytest.raises(InputError) as caught:
        PrometheusSampler(config)
    assert caught.value.message.startswith(
        f"prometheus: cannot read the CA bundle {tmp_path / 'none.pem'}: [Errno 2]"
    )
