"""How many requests per second the rehearsal lab serves on this machine.

Prints ``name=value`` lines: cache hits and full miss paths (edge -> shield -> object
store, forced with a unique query string), one keep-alive client and 16 concurrent
clients (threads, one httpx.Client each). Each measurement is bounded by a request
count and a time budget, whichever comes first.

    python benchmarks/lab_throughput.py [--seconds 3] [--max-requests 20000]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from cutover.lab import start_lab
from cutover.lab.packages import default_catalog

FILES = "files.pythonhosted.org"


def _run_client(
    base: str, path: str, unique: bool, deadline: float, budget: int, counter: itertools.count[int]
) -> tuple[int, int]:
    ok = failed = 0
    with httpx.Client(base_url=base, headers={"Host": FILES}) as client:
        for _ in range(budget):
            if time.perf_counter() >= deadline:
                break
            target = f"{path}?bench={next(counter)}" if unique else path
            response = client.get(target)
            if response.status_code == 200:
                ok += 1
            else:
                failed += 1
    return ok, failed


def measure(
    base: str, path: str, *, unique: bool, clients: int, seconds: float, max_requests: int
) -> tuple[float, int]:
    counter = itertools.count()
    results: list[tuple[int, int]] = []
    lock = threading.Lock()
    per_client = max(1, max_requests // clients)
    start = time.perf_counter()
    deadline = start + seconds

    def work() -> None:
        outcome = _run_client(base, path, unique, deadline, per_client, counter)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    elapsed = time.perf_counter() - start
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    return ok / elapsed, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--max-requests", type=int, default=20_000)
    args = parser.parse_args()
    wheel = default_catalog().files[0]
    print(f"python={platform.python_version()}")
    print(f"cpus={os.cpu_count()}")
    with start_lab("pypi-2018") as lab:
        base = f"http://{lab.data_address}"
        # warm up
        measure(base, wheel.url_path, unique=False, clients=1, seconds=0.3, max_requests=200)
        for name, unique, clients in [
            ("hits_per_s_1_client", False, 1),
            ("misses_per_s_1_client", True, 1),
            ("hits_per_s_16_clients", False, 16),
            ("misses_per_s_16_clients", True, 16),
        ]:
            rate, failed = measure(
                base,
                wheel.url_path,
                unique=unique,
                clients=clients,
                seconds=args.seconds,
                max_requests=args.max_requests,
            )
            print(f"{name}={rate:.0f}")
            print(f"{name.replace('per_s', 'failed')}={failed}")


if __name__ == "__main__":
    main()
