"""The ``prometheus`` metric source: PromQL instant queries against a Prometheus HTTP API.

``GET <url>/api/v1/query?query=…`` (the API every Prometheus, Thanos Query and Mimir
serve). An instant vector is judged per series, each named by its labels; a scalar is one
series. The calls go through :class:`~cutover.actions.control.ControlPlane`: a timeout
per attempt, tenacity retries of a 5xx, 429, timeout or reset connection, a 4xx (a bad
query, a refused token) at once as an error. An error, an empty vector or ``NaN`` is
never a value: the check's ``no_data`` (or its inconclusive count) decides.
"""

from __future__ import annotations

import base64
import math
import ssl
from functools import partial
from typing import Annotated, Any, Literal

import httpx
from pydantic import Field, model_validator

from cutover.metrics.sources import MetricSourceKind, Sample, call
from cutover.runbook.types import Model, SecretRef, Timeout


class BasicAuth(Model):
    username: str = Field(min_length=1, max_length=256)
    password: SecretRef = Field(description="as a secret reference")


class PrometheusSettings(Model):
    """A Prometheus-compatible HTTP API."""

    kind: Literal["prometheus"] = "prometheus"
    url: str = Field(
        min_length=1, max_length=2000, description="base URL, e.g. http://prometheus:9090"
    )
    auth_header: SecretRef | None = Field(
        None, description="the whole `Authorization` value (`Bearer …`), as a secret reference"
    )
    basic_auth: BasicAuth | None = None
    ca_bundle: str | None = Field(None, description="CA bundle file for TLS verification")
    timeout: Annotated[Timeout, Field(le=120)] = Field(5.0, description="per attempt")
    retries: int = Field(2, ge=0, le=10, description="attempts after a transient failure")

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusSettings:
        if self.auth_header is not None and self.basic_auth is not None:
            raise ValueError("give `auth_header` or `basic_auth`, not both")
        return self


def _labels(metric: Any) -> str:
    if not isinstance(metric, dict) or not metric:
        return "{}"
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"


def _number(value: Any) -> float:
    """A sample's ``[timestamp, "value"]`` → the value (NaN if it is not a number)."""
    try:
        return float(value[1])
    except (TypeError, ValueError, IndexError):
        return math.nan


def parse_answer(body: Any) -> Sample:
    """A ``/api/v1/query`` answer as a value per series."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        return Sample(error=f"the query failed: {error or 'not a success answer'}")
    data = body.get("data")
    kind = data.get("resultType") if isinstance(data, dict) else None
    result = data.get("result") if isinstance(data, dict) else None
    if kind == "scalar":
        return Sample({"": _number(result)})
    if kind == "vector" and isinstance(result, list):
        return Sample(
            {
                _labels(s.get("metric")): _number(s.get("value"))
                for s in result
                if isinstance(s, dict)
            }
        )
    return Sample(error=f"the query answers a {kind}, not an instant vector or a scalar")


class PrometheusSampler:
    """Answers PromQL instant queries against one configured Prometheus."""

    def __init__(
        self, settings: PrometheusSettings, transport: httpx.BaseTransport | None = None
    ) -> None:
        from cutover.actions.control import ControlPlane
        from cutover.errors import InputError
        from cutover.secrets import resolve

        headers: dict[str, str] = {}
        if settings.auth_header is not None:
            headers["Authorization"] = resolve(settings.auth_header)
        elif settings.basic_auth is not None:
            pair = f"{settings.basic_auth.username}:{resolve(settings.basic_auth.password)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        verify: ssl.SSLContext | bool = True
        if settings.ca_bundle is not None:
            try:
                verify = ssl.create_default_context(cafile=settings.ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise InputError(
                    f"prometheus: cannot read the CA bundle {settings.ca_bundle}: {exc}",
                    hint="`ca_bundle` names a PEM file of CA certificates",
                ) from None
        self._api = partial(
            ControlPlane,
            settings.url,
            headers=headers,
            timeout=settings.timeout,
            retries=settings.retries,
            name="prometheus",
            transport=transport,
            verify=verify,
        )

    def sample(self, query: str) -> Sample:
        from cutover.errors import ActionError

        try:
            body = call(self._api, "GET", "/api/v1/query", params={"query": query})
        except ActionError as exc:
            return Sample(error=exc.message)
        return parse_answer(body)


def _check_query(query: str) -> None:
    if not query.strip():
        raise ValueError("the PromQL query is empty")


PROMETHEUS = MetricSourceKind(
    "prometheus",
    PrometheusSettings,
    "cutover.metrics.prometheus:PrometheusSampler",
    _check_query,
    "PromQL instant queries against a Prometheus HTTP API",
)
