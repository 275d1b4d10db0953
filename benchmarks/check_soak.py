"""``cutover check --every`` for many rounds: memory, descriptors, round times. ``name=value``.

    python benchmarks/check_soak.py            # 1,000 rounds (about 15 minutes here)
    python benchmarks/check_soak.py --quick    # 20 rounds, for the test suite

Runs the real CLI in a subprocess, as cron's or systemd's long-running service would:
``cutover check checks/pypi-files.yml --env lab --every 1ms --count N --format json`` with
a fresh state directory, so the check starts the embedded lab in its own process (the lab's
caches, cache-busted entries included, grow in that process: what is measured). ``1ms`` is
the shortest interval in practice: every round overruns it, so the rounds run back to back
and every one of them is reported as an overrun (counted here).

Reads the JSON lines as they come (each round's lines are flushed when the round ends).
At the summary of each checkpoint round it reads the child's ``VmRSS`` and counts its open
descriptors in ``/proc/PID/fd``. Prints:

- ``rss_mb_round_R`` and ``fds_round_R`` at the checkpoints (10, 100, 1,000; 2, 10, 20
  with ``--quick``);
- ``round_ms_p50``, ``round_ms_p99`` (each summary's ``duration_ms``), ``rounds``,
  ``statuses`` (count per status), ``overrun_reports`` (stderr lines saying so);
- ``rss_growth_mb`` and ``fds_growth`` between the last two checkpoints, and the targets:
  ``target.rss_growth_le_10mb`` and ``target.fds_flat`` (``ok`` or ``MISSED``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cutover.testing import cli_env, cutover_argv  # noqa: E402

FULL = (10, 100, 1000)
QUICK = (2, 10, 20)
RSS_GROWTH_TARGET_MB = 10.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 rounds, for tests")
    args = parser.parse_args()
    checkpoints = QUICK if args.quick else FULL
    rounds = checkpoints[-1]
    with tempfile.TemporaryDirectory(prefix="cutover-soak-") as tmp:
        argv = cutover_argv(
            "check", ROOT / "checks" / "pypi-files.yml", "--env", "lab", "--every", "1ms",
            "--count", str(rounds), "--format", "json", "--state-dir", Path(tmp) / "state",
        )  # fmt: skip
        proc = subprocess.Popen(
            argv,
            env=cli_env(),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        overruns = Counter[str]()

        def read_stderr() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                overruns["overrun" if "overran" in line else "other"] += 1

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        durations: list[float] = []
        statuses = Counter[str]()
        samples: dict[int, tuple[float, int]] = {}
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                data = json.loads(line)
                if data["type"] != "summary":
                    continue
                number = int(data["round"])
                durations.append(float(data["duration_ms"]))
                statuses[data["status"]] += 1
                if number in checkpoints:
                    samples[number] = (rss_mb(proc.pid), open_fds(proc.pid))
        finally:
            code = proc.wait(timeout=600)
            reader.join(timeout=10)
    if len(samples) != len(checkpoints):
        raise SystemExit(f"the check exited {code} after {len(durations)} round(s)")
    for number in checkpoints:
        rss, fds = samples[number]
        print(f"rss_mb_round_{number}={rss:.1f}")
        print(f"fds_round_{number}={fds}")
    print(f"rounds={len(durations)}")
    print(f"exit_code={code}")
    print("statuses=" + ",".join(f"{k}:{v}" for k, v in sorted(statuses.items())))
    print(f"overrun_reports={overruns['overrun']}")
    print(f"other_stderr_lines={overruns['other']}")
    print(f"round_ms_p50={statistics.median(durations):.1f}")
    print(f"round_ms_p99={percentile(durations, 0.99):.1f}")
    (rss_a, fds_a), (rss_b, fds_b) = samples[checkpoints[-2]], samples[checkpoints[-1]]
    print(f"rss_growth_mb={rss_b - rss_a:.1f}")
    print(f"fds_growth={fds_b - fds_a}")
    rss_ok, fds_ok = rss_b - rss_a <= RSS_GROWTH_TARGET_MB, fds_b <= fds_a
    print(f"target.rss_growth_le_10mb={'ok' if rss_ok else 'MISSED'}")
    print(f"target.fds_flat={'ok' if fds_ok else 'MISSED'}")


if __name__ == "__main__":
    main()
