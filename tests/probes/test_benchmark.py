"""The benchmark runs (small) and prints parseable name=value lines. No times asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark_prints_every_figure() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "probe_throughput.py"), "--quick"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = dict(line.split("=", 1) for line in done.stdout.splitlines())
    for concurrency in (1, 8, 32):
        for key in ("cutover_per_s", "httpx_best_per_s", "ratio"):
            assert float(figures[f"c{concurrency}_{key}"]) > 0
    models = ("sync-loop", "threads", "threads-shared-client", "async")
    assert figures["c1_httpx_best_model"] in models
    assert figures["server"].startswith(("nginx-", "python-http.server"))
    assert (figures["rss_round_results"], figures["rss_round_reasons"]) == ("500", "ok")
    assert (figures["rss_huge_results"], figures["rss_huge_reasons"]) == ("1", "ok")
    assert float(figures["rss_round_peak_mb"]) > 0
    assert figures["huge_body_bytes"] == str(16 * 1024**2)
