"""Time to safety: from the breaking step's apply to a verified rollback, in the 2018 lab.

Runs the careful runbook without its fix (``--var skip_fix=true``: the 1 % stage loops)
and the 2018 replay, each ``--runs`` times in a fresh state directory (a fresh lab), as
real ``cutover run`` processes. From each run's journal it measures the time between the
``applied`` event of the failing stage's step and the ``rollback_verified`` event, and
counts the probes used to decide (the failing stage's probe rounds). Prints ``name=value``
lines: medians, and the worst run.

The live proxies get the same measure on the real servers (cutover.testing.proxy_worlds):
``haproxy_loop`` runs ``runbooks/haproxy-ramp.yml`` with the new target looping (a live
map change; the 1 % stage fails), ``varnish_503`` runs ``runbooks/varnish-switch.yml``
with the new backend refusing connections (a VCL switch; the stage sees 503s). They are
skipped when haproxy or varnishd is not installed.

    python benchmarks/time_to_safety.py [--runs 5] [--only haproxy_loop,varnish_503]
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cutover.testing.haproxy import haproxy_binary  # noqa: E402
from cutover.testing.proxy_worlds import HaproxyWorld, VarnishWorld  # noqa: E402
from cutover.testing.varnish import varnishd_binary  # noqa: E402

CASES = {
    "no_fix": ["runbooks/pypi-files.yml", "--yes", "--var", "skip_fix=true"],
    "replay": ["runbooks/pypi-2018-replay.yml"],
}


#: the live-proxy cases: runbook, world, extra variables, the binary the world needs
PROXY_CASES: dict[str, tuple[str, Any, tuple[str, ...], Any]] = {
    "haproxy_loop": (
        "runbooks/haproxy-ramp.yml", HaproxyWorld, ("new_target={origin}/loop",), haproxy_binary
    ),
    "varnish_503": ("runbooks/varnish-switch.yml", VarnishWorld, ("new_port=1",), varnishd_binary),
}  # fmt: skip


def measure_proxy(name: str, base: Path) -> dict[str, float]:
    runbook, world_type, extra, _ = PROXY_CASES[name]
    with world_type(base) as world:
        args = [runbook, *world.run_args(extra), "--yes"]
        return measure(args, world.state_dir, env_args=[])


def measure(args: list[str], state: Path, env_args: list[str] | None = None) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    where = ["--env", "lab"] if env_args is None else env_args
    proc = subprocess.run(
        [sys.executable, "-m", "cutover", "run", *args, *where, "--state-dir", str(state)],
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
    parser.add_argument("--only", default="", help="comma-separated case names")
    args = parser.parse_args()
    names = [n for n in [*CASES, *PROXY_CASES] if not args.only or n in args.only.split(",")]
    for name in names:
        if name in PROXY_CASES and PROXY_CASES[name][3]() is None:
            print(f"{name}_skipped=no binary")
            continue
        results = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="cutover-tts-") as tmp:
                if name in PROXY_CASES:
                    results.append(measure_proxy(name, Path(tmp)))
                else:
                    results.append(measure(CASES[name], Path(tmp)))
        seconds = [r["seconds"] for r in results]
        probes = [r["probes"] for r in results]
        print(f"{name}_runs={len(results)}")
        print(f"{name}_median_seconds_to_safety={statistics.median(seconds):.2f}")
        print(f"{name}_max_seconds_to_safety={max(seconds):.2f}")
        print(f"{name}_median_probes_to_decide={statistics.median(probes):.0f}")


if __name__ == "__main__":
    main()
