"""Metric guards: from the breaking apply to the fail decision, on metrics alone.

The 2018 replay with no probes in its stage, guarded only by a metric check (the files
service's 3xx share, ``threshold: {max: 0.05}``, ``interval: 1s``, ``settle: 1s``), run
as real ``cutover run`` processes, each in a fresh state directory and lab with
background traffic (20 client requests/s):

- ``prometheus``: a real Prometheus (the distribution's package) scraping the lab's
  ``/metrics`` every second (``tests/metrics/replay-prometheus.yml``); skipped without the
  binary;
- ``fastly_stats``: the lab's Fastly real-time endpoint (``tests/metrics/replay-metrics.yml``).

From each run's journal: the time from the step's ``applied`` event to the ``guard`` event
that failed the stage, and the same after the settle, in scrape intervals (1 s; the
target is ≤ 3). Prints ``name=value`` lines: medians and the worst run.

    python benchmarks/metric_guard.py [--runs 3] [--only prometheus,fastly_stats]
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cutover.lab import start_lab  # noqa: E402
from cutover.private_files import private_dir  # noqa: E402
from cutover.target import publish_endpoint, withdraw_endpoint  # noqa: E402
from cutover.testing.cli import run_cutover  # noqa: E402
from cutover.testing.prometheus import (  # noqa: E402
    prometheus_missing,
    running_prometheus,
    scrape_job,
    value_of,
)

SCRAPE_INTERVAL = 1.0
SETTLE = 1.0  #: the runbooks' settle
TARGET_INTERVALS = 3.0
TRAFFIC = 20.0
RUNBOOKS = {
    "prometheus": ROOT / "tests" / "metrics" / "replay-prometheus.yml",
    "fastly_stats": ROOT / "tests" / "metrics" / "replay-metrics.yml",
}


def run(runbook: Path, state: Path, *extra: str) -> float:
    """One rolled-back run; seconds from the breaking apply to the fail decision."""
    proc = run_cutover(
        "run", runbook, "--env", "lab", "--yes", "--state-dir", state, *extra, cwd=ROOT
    )
    if proc.returncode != 1:
        raise SystemExit(f"expected exit 1 (rolled back), got {proc.returncode}:\n{proc.stdout}")
    with contextlib.closing(sqlite3.connect(state / "journal.db")) as db:
        rows = db.execute("SELECT kind, at, data FROM events ORDER BY id").fetchall()
    applied = next(at for kind, at, _ in rows if kind == "applied")
    failed = next(at for kind, at, data in rows if kind == "guard" and '"fail"' in data)
    return (datetime.fromisoformat(failed) - datetime.fromisoformat(applied)).total_seconds()


@contextlib.contextmanager
def prometheus_world(base: Path) -> Iterator[tuple[Path, str]]:
    """A lab with traffic (attached through the state directory) and a Prometheus
    scraping it, ready to answer a rate; the state directory and Prometheus' URL."""
    state = base / "state"
    private_dir(state / "lab")
    with start_lab(state_file=state / "lab" / "pypi-2018.json", traffic=TRAFFIC) as lab:
        endpoint = publish_endpoint(state, lab)
        try:
            job = scrape_job("lab", [f"127.0.0.1:{lab.api_port}"])
            with running_prometheus(base / "prom", [job], scrape_interval=SCRAPE_INTERVAL) as p:
                p.wait_target_up("lab")
                p.wait_query(
                    'sum(rate(cutover_lab_requests_total{service="files"}[3s]))',
                    lambda samples: value_of(samples[0]) > 0,
                )
                yield state, f"http://127.0.0.1:{p.port}"
        finally:
            withdraw_endpoint(endpoint)


def measure(name: str, base: Path) -> float:
    if name == "prometheus":
        with prometheus_world(base) as (state, url):
            return run(RUNBOOKS[name], state, "--var", f"prometheus={url}")
    return run(RUNBOOKS[name], base / "state")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated case names")
    args = parser.parse_args()
    for name in RUNBOOKS:
        if args.only and name not in args.only.split(","):
            continue
        if name == "prometheus" and prometheus_missing() is not None:
            print(f"{name}_skipped={prometheus_missing()}")
            continue
        seconds = []
        for _ in range(max(1, args.runs)):
            with tempfile.TemporaryDirectory(prefix="cutover-metric-guard-") as tmp:
                seconds.append(measure(name, Path(tmp)))
        after = [(s - SETTLE) / SCRAPE_INTERVAL for s in seconds]
        print(f"{name}_runs={len(seconds)}")
        print(f"{name}_median_seconds_apply_to_fail={statistics.median(seconds):.2f}")
        print(f"{name}_max_seconds_apply_to_fail={max(seconds):.2f}")
        print(f"{name}_median_scrape_intervals_after_settle={statistics.median(after):.2f}")
        print(f"{name}_max_scrape_intervals_after_settle={max(after):.2f}")
        met = max(after) <= TARGET_INTERVALS
        print(f"{name}_target_le_{TARGET_INTERVALS:g}_intervals={'ok' if met else 'missed'}")


if __name__ == "__main__":
    main()
