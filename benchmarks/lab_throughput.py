"""How many requests per second the rehearsal lab serves on this machine.

Prints ``name=value`` lines: cache hits and full miss paths (edge -> shield -> object
store, forced with a unique query string), one keep-alive client and 16 concurrent
clients (threads, one httpx.Client each). Each measurement is bounded by a request
count and a time budget, whichever comes first.

The lab runs every node's VCL (the pypi-2018 scenario's). On a shared machine the
wall-clock rates fall with the load (printed beside them: ``load_1m``); the CPU time the
process spent per request (``*_cpu_us``: client and lab together, in one process and so
on one core at a time, the GIL) does not, and ``*_cpu_capacity`` (requests/s) = 1e6 / that is the
rate one free core would give. ``lab_*_cpu_us`` is the lab alone (the edge, shield and
origin work of one request, called in-process, no sockets, no client): what is left of
a request's cost once the HTTP client is taken away.

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
from cutover.lab.messages import Request
from cutover.lab.packages import default_catalog
from cutover.lab.world import World

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
) -> tuple[float, int, float]:
    counter = itertools.count()
    results: list[tuple[int, int]] = []
    lock = threading.Lock()
    per_client = max(1, max_requests // clients)
    start = time.perf_counter()
    cpu = time.process_time()
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
    cpu_s = time.process_time() - cpu
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    return ok / elapsed, failed, cpu_s * 1e6 / max(1, ok + failed)


def lab_cpu_us(path: str, *, unique: bool, requests: int) -> float:
    """CPU microseconds per request of the lab alone (in-process, no sockets)."""
    world = World("pypi-2018", None, 0)
    headers = {"host": FILES, "user-agent": "bench", "accept": "*/*"}
    for i in range(50):  # warm up (compiled programs, caches)
        world.handle_data(Request("GET", path, f"warm={i}" if unique else "", headers))
    start = time.process_time()
    for i in range(requests):
        response = world.handle_data(Request("GET", path, f"bench={i}" if unique else "", headers))
        assert response.status == 200, response.status
    return (time.process_time() - start) * 1e6 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--max-requests", type=int, default=20_000)
    args = parser.parse_args()
    wheel = default_catalog().files[0]
    print(f"python={platform.python_version()}")
    print(f"cpus={os.cpu_count()}")
    print(f"load_1m={os.getloadavg()[0]:.2f}")
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
            rate, failed, cpu_us = measure(
                base,
                wheel.url_path,
                unique=unique,
                clients=clients,
                seconds=args.seconds,
                max_requests=args.max_requests,
            )
            print(f"{name}={rate:.0f}")
            print(f"{name.replace('per_s', 'failed')}={failed}")
            print(f"{name.replace('per_s', 'cpu_us')}={cpu_us:.0f}")
            print(f"{name.replace('per_s', 'cpu_capacity')}={1e6 / cpu_us:.0f}")
        print(f"load_1m_after={os.getloadavg()[0]:.2f}")
    for name, unique in [("lab_hit_cpu_us", False), ("lab_miss_cpu_us", True)]:
        print(f"{name}={lab_cpu_us(wheel.url_path, unique=unique, requests=2_000):.0f}")


if __name__ == "__main__":
    main()
