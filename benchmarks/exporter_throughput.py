"""The exporter's probes/s against ``cutover check``'s, in the same run. Prints ``name=value``.

    python benchmarks/exporter_throughput.py               # the full run
    python benchmarks/exporter_throughput.py --quick       # small, for the test suite

Serves the lab (``cutover lab serve``, its own process), then, alternating ``--repeat``
times and keeping the best of each:

- ``cutover check checks/pypi-files.yml --env lab --set SET`` (the real command, rounds
  repeated in one process): probes / round duration;
- ``cutover exporter`` (the real command) answering ``/probe?set=SET``: probes / time of
  the request, as a scraper sees it;
- the same exporter answering ``/probe?target=URL&module=SET&sha256=…&size=…`` once per
  file of the set, from ``--clients`` threads (a Prometheus scraping every file as its own
  target): probes / wall time.

The ratios to ``cutover check`` have a target of at least 0.9 (issue #13). Both sides
probe the same files through the same resolve map with the same concurrency (the checks
file's, 8); the target mode pays one HTTP request to the exporter per probe on top, on
the same 2 cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cutover.testing import ServedLab, run_cutover  # noqa: E402
from cutover.testing.exporter import running_exporter  # noqa: E402

CHECKS = ROOT / "checks" / "pypi-files.yml"
TARGET_RATIO = 0.9


def out(name: str, value: object) -> None:
    print(f"{name}={value}", flush=True)


def check_round(state: Path, set_name: str, rounds: int) -> tuple[float, list[dict[str, Any]]]:
    """``cutover check``: the best probes/s of ``rounds`` rounds, and the probes of one."""
    done = run_cutover(
        "check", CHECKS, "--env", "lab", "--set", set_name, "--format", "json",
        "--every", "0.001s", "--count", str(rounds), "--state-dir", state, timeout=600,
    )  # fmt: skip
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    summaries = [line for line in lines if line["type"] == "summary"]
    if done.returncode != 0 or len(summaries) != rounds:
        raise SystemExit(f"cutover check failed ({done.returncode}): {done.stderr[-2000:]}")
    best = max(s["total"] / (s["duration_ms"] / 1000.0) for s in summaries)
    probes = [line for line in lines if line["type"] == "probe" and line["round"] == 1]
    return best, probes


def set_requests(client: httpx.Client, set_name: str, rounds: int) -> tuple[float, int]:
    """``/probe?set=``: the best probes/s of ``rounds`` requests; the probes per request."""
    best, total = 0.0, 0
    for _ in range(rounds):
        clock = time.perf_counter()
        answer = client.get("/probe", params={"set": set_name})
        elapsed = time.perf_counter() - clock
        answer.raise_for_status()
        total = int(sum(_values(answer.text, "cutover_set_probes")))
        best = max(best, total / elapsed)
    return best, total


def target_requests(
    address: str, set_name: str, probes: list[dict[str, Any]], clients: int
) -> tuple[float, int]:
    """One ``/probe?target=`` per file, from ``clients`` threads: probes/s and failures.

    The scraper side is ``http.client`` on kept-alive connections (Prometheus's own cost
    is not on the exporter's cores; httpx here would cost the exporter's 2 cores ~3 times
    as much as the requests it sends)."""
    host, port = address.rsplit(":", 1)
    local = threading.local()

    def one(index: int) -> bool:
        probe = probes[index]
        query = urlencode({"target": probe["url"], "module": set_name,
                           "sha256": probe["sha256"], "size": str(probe["size"])})  # fmt: skip
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(host, int(port), timeout=60)
        connection.request("GET", "/probe?" + query)
        answer = connection.getresponse()
        body = answer.read().decode()
        return answer.status == 200 and "cutover_probe_success 1.0" in body

    clock = time.perf_counter()
    with ThreadPoolExecutor(clients) as executor:
        passed = list(executor.map(one, range(len(probes))))
    elapsed = time.perf_counter() - clock
    return len(probes) / elapsed, passed.count(False)


def _values(text: str, name: str) -> list[float]:
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(name + "{")]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small numbers, for tests")
    parser.add_argument("--set", default="files-hit", help="the probe set (default files-hit)")
    parser.add_argument("--repeat", type=int, default=0, help="runs per figure (best kept)")
    parser.add_argument("--clients", type=int, default=8, help="scraper threads, target mode")
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    rounds = 2 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="cutover-bench-") as tmp:
        state = Path(tmp) / "state"
        with ServedLab(state) as lab:
            exporter_args = ("--checks", CHECKS, "--env", "lab", "--state-dir", lab.state_dir)
            with running_exporter(*exporter_args) as exporter:
                base = exporter.url("")
                check_best = set_best = target_best = 0.0
                failures = 0
                with httpx.Client(base_url=base, timeout=120) as client:
                    for _ in range(repeat):
                        rate, probes = check_round(lab.state_dir, args.set, rounds)
                        check_best = max(check_best, rate)
                        rate, total = set_requests(client, args.set, rounds)
                        set_best = max(set_best, rate)
                        rate, failed = target_requests(
                            exporter.address, args.set, probes, args.clients
                        )
                        target_best = max(target_best, rate)
                        failures += failed
    out("set", args.set)
    out("probes_per_round", len(probes))
    out("probes_per_set_request", total)
    out("check_probes_per_s", f"{check_best:.0f}")
    out("exporter_set_probes_per_s", f"{set_best:.0f}")
    out("exporter_target_probes_per_s", f"{target_best:.0f}")
    out("exporter_target_failed", failures)
    set_ratio, target_ratio = set_best / check_best, target_best / check_best
    out("ratio_set_to_check", f"{set_ratio:.2f}")
    out("ratio_target_to_check", f"{target_ratio:.2f}")
    out("target.ratio_set_ge_0.9", "ok" if set_ratio >= TARGET_RATIO else "missed")
    out("target.ratio_target_ge_0.9", "ok" if target_ratio >= TARGET_RATIO else "missed")


if __name__ == "__main__":
    main()
