"""``cutover.testing.prometheus``: a real Prometheus on loopback, and its fixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cutover.testing.net import port_closed, serving
from cutover.testing.prometheus import (
    REQUIRE_ENV,
    config_text,
    scrape_job,
    value_of,
)

ROOT = Path(__file__).resolve().parents[1]


class _Metrics(BaseHTTPRequestHandler):
    """``/metrics`` and ``/probe``: one gauge, labelled with the query's ``target``."""

    def do_GET(self) -> None:
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(self.path)
        target = parse_qs(parts.query).get("target", ["none"])[0]
        body = f'answer{{seen="{target}"}} 42\n'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def exporter() -> Iterator[str]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)) as server:
        yield f"127.0.0.1:{server.server_address[1]}"


def test_the_config_is_yaml_with_the_interval_as_timeout() -> None:
    job = scrape_job("lab", ["127.0.0.1:9"], params={"module": ["smoke"]})
    config = json.loads(config_text([job], 1.0))
    assert config["global"] == {
        "scrape_interval": "1000ms",
        "scrape_timeout": "1000ms",
        "evaluation_interval": "1000ms",
    }
    assert config["scrape_configs"] == [
        {
            "job_name": "lab",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": ["127.0.0.1:9"], "labels": {}}],
            "params": {"module": ["smoke"]},
        }
    ]


@pytest.mark.slow
def test_a_real_prometheus_scrapes_a_target_and_answers_promql(
    prometheus: Any, exporter: str
) -> None:
    prom = prometheus([scrape_job("lab", [exporter], labels={"region": "here"})])
    assert prom.ready()
    (target,) = prom.wait_target_up("lab")
    assert target["scrapeUrl"] == f"http://{exporter}/metrics"
    (sample,) = prom.wait_query('answer{job="lab"}')
    assert value_of(sample) == 42
    assert sample["metric"]["region"] == "here"
    assert sample["metric"]["seen"] == "none"


@pytest.mark.slow
def test_blackbox_relabeling_sends_the_target_as_a_parameter(
    prometheus: Any, exporter: str
) -> None:
    relabel = [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": exporter},
    ]
    job = scrape_job("probe", ["https://files.example/a.whl"], metrics_path="/probe",
                     relabel_configs=relabel)  # fmt: skip
    prom = prometheus([job])
    (target,) = prom.wait_target_up("probe")
    assert target["scrapeUrl"] == (
        f"http://{exporter}/probe?target=https%3A%2F%2Ffiles.example%2Fa.whl"
    )
    (sample,) = prom.wait_query('answer{job="probe"}')
    assert sample["metric"]["instance"] == "https://files.example/a.whl"
    assert sample["metric"]["seen"] == "https://files.example/a.whl"


def test_the_server_is_stopped_and_its_port_closed_after_the_block(tmp_path: Path) -> None:
    from cutover.testing import prometheus as prom

    if prom.prometheus_missing():
        pytest.skip(prom.prometheus_missing() or "")
    with prom.running_prometheus(tmp_path / "p", []) as server:
        assert not port_closed(f"127.0.0.1:{server.port}")
        assert server.config.exists() and server.data.is_dir()
    assert port_closed(f"127.0.0.1:{server.port}")


def test_the_fixture_starts_a_server(prometheus: Any) -> None:
    """Run on its own (below) without a binary: skipped, or failed when required."""
    assert prometheus([]).ready()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("required", "outcome", "message"),
    [
        ("0", "1 skipped", "no prometheus binary on PATH (apt-get install prometheus)"),
        ("1", "1 error", f"Prometheus is required here ({REQUIRE_ENV}/CI): no prometheus"),
    ],
)
def test_without_the_binary_the_fixture_skips_unless_required(
    tmp_path: Path, required: str, outcome: str, message: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update({"PATH": str(bin_dir), REQUIRE_ENV: required})
    node = f"{Path(__file__).name}::test_the_fixture_starts_a_server"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:randomly", "-p", "no:cacheprovider",
         f"tests/{node}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert outcome in done.stdout, done.stdout + done.stderr
    assert message in done.stdout
    assert done.returncode == (0 if required == "0" else 1)
