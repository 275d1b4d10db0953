"""CLI start-up cost: median wall time of `cutover --help` and `cutover validate`.

Prints `name=value` lines, each command also as a ratio to `python -c pass` measured in
the same run (machines are noisy: compare ratios, not seconds).

    python benchmarks/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(argv: list[str], runs: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    baseline = median_seconds([py, "-c", "pass"], args.runs)
    cases = {
        "help": [py, "-m", "cutover", "--help"],
        "validate": [py, "-m", "cutover", "validate", "runbooks/pypi-files.yml"],
    }
    print(f"python_pass_s={baseline:.4f}")
    for name, argv in cases.items():
        seconds = median_seconds(argv, args.runs)
        print(f"{name}_s={seconds:.4f}")
        print(f"{name}_ratio={seconds / baseline:.2f}")


if __name__ == "__main__":
    main()
