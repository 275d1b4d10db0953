"""A real Prometheus on loopback: a temp config and data directory, your scrape jobs.

The server is the distribution's package (``apt-get install prometheus``; its system
service is never used: ``.ci/run`` installs it and the tests run their own). It listens on
127.0.0.1 on a free port, scrapes the jobs the caller gives every ``scrape_interval``
(1 s in tests), keeps its TSDB in a temporary directory, and is stopped with SIGTERM (a
clean shutdown, checked) when the block ends::

    job = scrape_job("lab", [f"127.0.0.1:{port}"])
    with running_prometheus(tmp / "prom", [job]) as prom:
        prom.wait_target_up("lab")
        series = prom.wait_query('up{job="lab"} == 1')

:func:`prometheus_missing` says why no server can be started; tests skip on it, except
when ``$CI`` or ``$CUTOVER_REQUIRE_PROMETHEUS=1`` is set, where they fail (see
:func:`required`, and the ``prometheus`` fixture in ``tests/conftest.py``).

Import it as ``cutover.testing.prometheus`` (it is not re-exported by ``cutover.testing``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cutover.testing.net import free_port, wait_for
from cutover.testing.proxy_process import Exited, ListensOnLoopback, find_binary, running_process

REQUIRE_ENV = "CUTOVER_REQUIRE_PROMETHEUS"
PORT_ATTEMPTS = 3  #: a free port can be taken between asking and binding
QUERY_TIMEOUT_S = 5.0
WAIT_TIMEOUT_S = 30.0

#: one sample of an instant vector, as the HTTP API answers it: labels and value
Sample = dict[str, Any]


def prometheus_binary() -> str | None:
    """The prometheus on PATH (the Debian package puts it in /usr/bin), else in sbin."""
    return find_binary("prometheus")


def prometheus_missing() -> str | None:
    """Why no Prometheus server can be started here, or None."""
    if prometheus_binary() is None:
        return "no prometheus binary on PATH (apt-get install prometheus)"
    return None


def required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get(REQUIRE_ENV) == "1"


def scrape_job(
    name: str,
    targets: Sequence[str],
    *,
    metrics_path: str = "/metrics",
    params: Mapping[str, Sequence[str]] | None = None,
    relabel_configs: Sequence[Mapping[str, Any]] = (),
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One ``scrape_configs`` entry: static ``targets`` (``HOST:PORT``, or any string when
    ``relabel_configs`` rewrite ``__address__``, as blackbox users do), with ``labels``."""
    job: dict[str, Any] = {
        "job_name": name,
        "metrics_path": metrics_path,
        "static_configs": [{"targets": list(targets), "labels": dict(labels or {})}],
    }
    if params:
        job["params"] = {key: list(values) for key, values in params.items()}
    if relabel_configs:
        job["relabel_configs"] = [dict(rule) for rule in relabel_configs]
    return job


def blackbox_job(
    name: str,
    exporter: str,
    targets: Sequence[str],
    module: str,
    *,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A job scraping ``exporter`` (``HOST:PORT``) once per target with the relabeling
    blackbox_exporter's users know (docs/exporter.md): ``/probe?module=…&target=URL``,
    the URL kept as ``instance``, and ``labels`` (a ``region``, say) on every series."""
    relabel: list[dict[str, Any]] = [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": exporter},
    ]
    return scrape_job(
        name, targets, metrics_path="/probe", params={"module": [module]},
        relabel_configs=relabel, labels=labels,
    )  # fmt: skip


def config_text(jobs: Sequence[Mapping[str, Any]], scrape_interval: float) -> str:
    """``prometheus.yml`` (JSON is YAML): a global interval, timeout = interval."""
    interval = _duration(scrape_interval)
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "scrape_configs": [dict(job) for job in jobs],
    }
    return json.dumps(config, indent=2) + "\n"


def _duration(seconds: float) -> str:
    """A Prometheus duration: whole milliseconds (``1s`` is ``1000ms``)."""
    return f"{max(1, round(seconds * 1000))}ms"


class PrometheusError(RuntimeError):
    """The HTTP API answered an error (a bad query, the server not ready)."""


@dataclass(frozen=True)
class PrometheusServer(ListensOnLoopback):
    """A running Prometheus: its port, directory and HTTP API."""

    binary: str
    directory: Path
    port: int
    scrape_interval: float

    @property
    def config(self) -> Path:
        return self.directory / "prometheus.yml"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "prometheus.log"

    def ready(self) -> bool:
        """Does ``/-/ready`` answer 200 (the TSDB is open, the server serves queries)?"""
        try:
            return httpx.get(self.url("/-/ready"), timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _api(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        response = httpx.get(self.url(path), params=params, timeout=QUERY_TIMEOUT_S)
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(f"{path}: HTTP {response.status_code}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str) -> list[Sample]:
        """An instant query; the vector's samples, each ``{"metric": {...}, "value": [t, "v"]}``."""
        data = self._api("/api/v1/query", {"query": promql})
        if data.get("resultType") != "vector":
            raise PrometheusError(f"{promql!r} is a {data.get('resultType')}, not a vector")
        return list(data["result"])

    def targets(self) -> list[dict[str, Any]]:
        """The active targets (``labels``, ``health``, ``lastError``, ``scrapeUrl``...)."""
        return list(self._api("/api/v1/targets", {"state": "active"})["activeTargets"])

    def wait_target_up(
        self, job: str, count: int = 1, timeout: float = WAIT_TIMEOUT_S
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` targets of ``job`` were scraped successfully; they."""

        def up() -> list[dict[str, Any]]:
            mine = [t for t in self.targets() if t["labels"].get("job") == job]
            healthy = [t for t in mine if t.get("health") == "up"]
            return healthy if len(healthy) >= count else []

        return wait_for(f"{count} target(s) of job {job!r} up in Prometheus", up, timeout)

    def wait_query(
        self,
        promql: str,
        accept: Callable[[list[Sample]], bool] = bool,
        timeout: float = WAIT_TIMEOUT_S,
    ) -> list[Sample]:
        """Poll an instant query until ``accept`` takes its samples (default: any); them."""

        def answered() -> list[Sample] | None:
            samples = self.query(promql)
            return samples if samples and accept(samples) else None

        return wait_for(f"Prometheus to answer {promql!r}", answered, timeout)


def value_of(sample: Sample) -> float:
    """The float value of one sample of an instant vector (``NaN`` stays NaN)."""
    return float(sample["value"][1])


@contextmanager
def running_prometheus(
    directory: Path,
    jobs: Sequence[Mapping[str, Any]],
    *,
    scrape_interval: float = 1.0,
) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping ``jobs`` (see :func:`scrape_job`) on a free loopback
    port, its config and data under ``directory``, until the block ends (then stopped
    with SIGTERM; a clean exit and a closed port are checked)."""
    binary = prometheus_binary()
    if binary is None:
        raise RuntimeError(prometheus_missing() or "no prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        server = PrometheusServer(binary, directory, free_port(), scrape_interval)
        server.config.write_text(config_text(jobs, scrape_interval), encoding="utf-8")
        argv = [
            binary,
            f"--config.file={server.config}",
            f"--storage.tsdb.path={server.data}",
            f"--web.listen-address=127.0.0.1:{server.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
        try:
            with running_process("prometheus", argv, server.port, server.log, server.ready):
                yield server
            return
        except Exited:
            if attempt == PORT_ATTEMPTS:
                raise
