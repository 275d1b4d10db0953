"""Time to safety: from the breaking step's apply to a verified rollback, in the 2018 lab.

Runs the careful runbook without its fix (``--var skip_fix=true``: the 1 % stage loops)
and the 2018 replay, each ``--runs`` times in a fresh state directory (a fresh lab), as
real ``cutover run`` processes. From each run's journal it measures the time between the
``applied`` event of the failing stage's step and the ``rollback_verified`` event, and
counts the probes used to decide (the failing stage's probe rounds). Prints ``name=value``
lines: medians, and the worst run.

    python benchmarks/time_to_safety.py [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "no_fix": ["runbooks/pypi-files.yml", "--yes", "--var", "skip_fix=true"],
    "replay": ["runbooks/pypi-2018-replay.yml"],
}


def measure(args: list[str], state: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run(
        [sys.executable, "-m", "cutover", "run", *args, "--env", "lab", "--state-dir", str(state)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 1:
        raise SystemExit(f"expected exit 1 (rolled back), got {proc.returncode}:\n{proc.stdout}")
    with contextlib.closing(sqlite3.connect(state / "journal.db")) as db:
        rows = db.execute("SELECT kind, stage, at, data FROM events ORDER BY id").fetchall()
    failed_stage = next(stage for kind, stage, _, _ in rows if kind == "stage_failed")
    applied = [at for kind, stage, at, _ in rows if kind == "applied" and stage == failed_stage]
    verified = next(at for kind, _, at, _ in rows if kind == "rollback_verified")
    probes = sum(
        json.loads(data)["probes"]
        for kind, stage, _, data in rows
        if kind == "probe_round" and stage == failed_stage
    )
    seconds = (
        datetime.fromisoformat(verified) - datetime.fromisoformat(applied[-1])
    ).total_seconds()
    return {"seconds": seconds, "probes": probes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for name, case in CASES.items():
        results = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="cutover-tts-") as tmp:
                results.append(measure(case, Path(tmp)))
        seconds = [r["seconds"] for r in results]
        probes = [r["probes"] for r in results]
        print(f"{name}_runs={len(results)}")
        print(f"{name}_median_seconds_to_safety={statistics.median(seconds):.2f}")
        print(f"{name}_max_seconds_to_safety={max(seconds):.2f}")
        print(f"{name}_median_probes_to_decide={statistics.median(probes):.0f}")


if __name__ == "__main__":
    main()
