"""Probe throughput and memory, against a real local server. Prints ``name=value`` lines.

    python benchmarks/probe_throughput.py            # the full run (a few minutes)
    python benchmarks/probe_throughput.py --quick    # small, for the test suite

Starts nginx on a free loopback port (temp config and prefix; installed with apt-get when
missing and we are root), serving a 100 KB file and a 1 GiB sparse file; without nginx it
falls back to Python's threaded http.server (``server=`` says which). Then, in the same run:

- probes/s of cutover's ``ProbeRunner`` and of the best bare-httpx loop doing the same
  download + sha256, at concurrency 1, 8 and 32, and their ratio (target ≥ 0.9, ≥ 1,000/s);
  bare candidates: a plain ``httpx.Client`` loop (concurrency 1), threads with one client
  each, threads sharing one client, ``httpx.AsyncClient`` with N tasks. Each figure is the
  best of ``--repeat`` alternating runs (to even out noise).
- peak RSS of a process running one 10,000-probe round (target ≤ 150 MB);
- peak RSS of a process probing one 1 GiB body (target ≤ 64 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.server
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cutover.testing import nginx_binary, running_nginx, serving  # noqa: E402

SMALL = 100 * 1024
HUGE = 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small numbers, for tests")
    parser.add_argument("--child", choices=["round", "huge"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--sha256", default="", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=0, help="runs per figure (best kept)")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    n = 150 if args.quick else 3000
    round_n = 500 if args.quick else 10_000
    huge = 16 * 1024**2 if args.quick else HUGE
    repeat = args.repeat or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="cutover-bench-") as tmp:
        Path(tmp).chmod(0o755)  # nginx workers run as an unprivileged user
        root = Path(tmp) / "html"
        root.mkdir(mode=0o755)
        small = os.urandom(SMALL)
        (root / "small.bin").write_bytes(small)
        with (root / "huge.bin").open("wb") as handle:
            handle.truncate(huge)  # sparse: costs no disk
        with local_server(Path(tmp), root) as (kind, port):
            out("server", kind)
            base = f"http://127.0.0.1:{port}"
            digest = hashlib.sha256(small).hexdigest()
            throughput(f"{base}/small.bin", digest, n, repeat)
            rss_child(
                "rss_round",
                [
                    "--child",
                    "round",
                    "--url",
                    f"{base}/small.bin",
                    "--n",
                    str(round_n),
                    "--size",
                    str(SMALL),
                    "--sha256",
                    digest,
                ],
            )
            huge_sha = zeros_sha256(huge)
            rss_child(
                "rss_huge",
                [
                    "--child",
                    "huge",
                    "--url",
                    f"{base}/huge.bin",
                    "--size",
                    str(huge),
                    "--sha256",
                    huge_sha,
                ],
            )
    out("round_probes", round_n)
    out("huge_body_bytes", huge)


def out(name: str, value: object) -> None:
    print(f"{name}={value}", flush=True)


# --- the server -----------------------------------------------------------------------

NGINX_HTTP = "sendfile on;\nkeepalive_requests 1000000;"
NGINX_SERVER = "root {root};"


def find_nginx() -> str | None:
    """nginx, installed with apt-get when missing and we are root."""
    found = nginx_binary()
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for package in ("nginx-light", "nginx"):
        done = subprocess.run(
            ["apt-get", "install", "-y", "-qq", package],
            env=env,
            capture_output=True,
            timeout=600,
            check=False,
        )
        if done.returncode == 0:
            break
    return nginx_binary()


@contextmanager
def local_server(prefix: Path, root: Path) -> Iterator[tuple[str, int]]:
    nginx = find_nginx()
    if nginx is not None:
        version = (
            subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
            .stderr.strip()
            .rsplit("/", 1)[-1]
        )
        server = NGINX_SERVER.replace("{root}", str(root))
        with running_nginx(prefix / "nginx", server, http=NGINX_HTTP, connections=1024) as up:
            yield f"nginx-{version}", up.port
        return
    handler = type(
        "Quiet",
        (http.server.SimpleHTTPRequestHandler,),
        {"protocol_version": "HTTP/1.1", "log_message": lambda *a: None},
    )
    fallback = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root))
    )
    fallback.daemon_threads = True
    with serving(fallback):
        yield "python-http.server", int(fallback.server_address[1])


# --- throughput ------------------------------------------------------------------------


def fetch(client: object, url: str) -> str:
    import httpx

    assert isinstance(client, httpx.Client)
    digest = hashlib.sha256()
    with client.stream("GET", url) as response:
        for chunk in response.iter_raw():
            digest.update(chunk)
    return digest.hexdigest()


def bare_sync(url: str, n: int, concurrency: int) -> float:
    import httpx

    with httpx.Client() as client:
        fetch(client, url)
        start = time.perf_counter()
        for _ in range(n):
            fetch(client, url)
        return n / (time.perf_counter() - start)


def bare_threads(url: str, n: int, concurrency: int, *, shared: bool) -> float:
    import httpx

    lock = threading.Lock()
    todo = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency)
    one = httpx.Client(limits=limits) if shared else None
    clients: list[httpx.Client] = [one] if one else []

    def work() -> None:
        client = one or httpx.Client()
        if one is None:
            with lock:
                clients.append(client)
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            fetch(client, url)

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = n / (time.perf_counter() - start)
    for client in clients:
        client.close()
    return rate


def bare_async(url: str, n: int, concurrency: int) -> float:
    import httpx

    async def run() -> float:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:
            todo = iter(range(n))

            async def work() -> None:
                for _ in todo:
                    digest = hashlib.sha256()
                    async with client.stream("GET", url) as response:
                        async for chunk in response.aiter_raw():
                            digest.update(chunk)

            start = time.perf_counter()
            await asyncio.gather(*(work() for _ in range(concurrency)))
            return n / (time.perf_counter() - start)

    return asyncio.run(run())


def cutover_runner(url: str, digest: str, n: int, concurrency: int) -> float:
    from cutover.probes import ProbeRunner, Reason
    from cutover.runbook.probe_models import ProbeSpec

    spec = ProbeSpec.model_validate({"url": url, "expect": {"sha256": digest, "size": SMALL}})
    specs = [("bench", spec)] * n
    with ProbeRunner(concurrency=concurrency) as runner:
        runner.run(specs[:concurrency])  # warm: connections open, threads started
        start = time.perf_counter()
        results = runner.run(specs)
        rate = n / (time.perf_counter() - start)
    bad = [r for r in results if r.reason is not Reason.OK]
    if bad:
        raise SystemExit(f"benchmark probe failed: {bad[0].reason.value}: {bad[0].detail}")
    return rate


def throughput(url: str, digest: str, n: int, repeat: int) -> None:
    for concurrency in (1, 8, 32):
        bare: dict[str, Callable[[], float]] = {
            "threads": lambda c=concurrency: bare_threads(url, n, c, shared=False),
            "threads-shared-client": lambda c=concurrency: bare_threads(url, n, c, shared=True),
            "async": lambda c=concurrency: bare_async(url, n, c),
        }
        if concurrency == 1:
            bare = {"sync-loop": lambda: bare_sync(url, n, 1), **bare}
        best_bare: dict[str, float] = {}
        best_cutover = 0.0
        for _ in range(repeat):  # alternate, so drift hits both sides alike
            for name, measure in bare.items():
                best_bare[name] = max(best_bare.get(name, 0.0), measure())
            best_cutover = max(best_cutover, cutover_runner(url, digest, n, concurrency))
        model, rate = max(best_bare.items(), key=lambda item: item[1])
        prefix = f"c{concurrency}"
        for name, value in best_bare.items():
            out(f"{prefix}_httpx_{name.replace('-', '_')}_per_s", f"{value:.0f}")
        out(f"{prefix}_httpx_best_model", model)
        out(f"{prefix}_httpx_best_per_s", f"{rate:.0f}")
        out(f"{prefix}_cutover_per_s", f"{best_cutover:.0f}")
        out(f"{prefix}_ratio", f"{best_cutover / rate:.3f}")


# --- memory, measured in a child process ------------------------------------------------


def zeros_sha256(size: int) -> str:
    digest = hashlib.sha256()
    block = bytes(1024 * 1024)
    for _ in range(size // len(block)):
        digest.update(block)
    digest.update(bytes(size % len(block)))
    return digest.hexdigest()


def rss_child(name: str, args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{name}: child failed: {done.stderr.strip()[-2000:]}")
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        out(f"{name}_{key}", value)


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, because ru_maxrss survives exec on Linux and would
    report the parent's peak at fork time."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(args: argparse.Namespace) -> None:
    from cutover.probes import ProbeRunner
    from cutover.runbook.probe_models import ProbeSpec

    expect = {"sha256": args.sha256, "size": args.size}
    with ProbeRunner(concurrency=8 if args.child == "round" else 1) as runner:
        baseline = peak_rss_mb()
        start = time.perf_counter()
        if args.child == "round":
            spec = ProbeSpec.model_validate({"url": args.url, "expect": expect})
            # distinct specs, as an expanded set would have
            specs = [
                ("bench", spec.model_copy(update={"name": f"probe-{i}"})) for i in range(args.n)
            ]
            results = runner.run(specs)
        else:
            spec = ProbeSpec.model_validate(
                {"url": args.url, "expect": expect, "max_bytes": args.size, "timeout": 600}
            )
            results = [runner.probe(spec, "bench")]
        took = time.perf_counter() - start
    peak = peak_rss_mb()
    reasons = sorted({r.reason.value for r in results})
    out("peak_mb", f"{peak:.1f}")
    out("baseline_mb", f"{baseline:.1f}")
    out("results", len(results))
    out("reasons", ",".join(reasons))
    out("seconds", f"{took:.2f}")


if __name__ == "__main__":
    main()
