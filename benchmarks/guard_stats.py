"""Guard statistics: false rollbacks and probes-to-decide, by simulation.

Prints ``name=value`` lines. Each row simulates ``--stages`` stages (10,000 by default)
with a seeded ``random.Random``: every probe fails independently (``http_5xx``) with the
row's rate, otherwise passes (``ok``). Two ways of asking the guard:

- ``roundN`` — as the engine does: results arrive in rounds of ``--round-size`` probes and
  the guard is called after each round with the whole list (``Guard.__call__``); the
  probes used are a multiple of the round size.
- ``probe`` — the guard is asked after every single probe (``Guard.decide`` on an
  incrementally kept ``Tally``, the same decision in O(1)); this is the evidence-limited
  number of probes, what a round size of 1 would use.

A stage that is still undecided after ``--cap`` probes (500) counts as undecided (the
engine would then hit the stage's time budget). Usage::

    python benchmarks/guard_stats.py              # 10,000 stages per row
    python benchmarks/guard_stats.py --stages 1000 --round-size 10
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cutover.guards import Guard, Tally, Verdict
from cutover.reasons import Reason
from cutover.runbook.models import GuardPolicy

#: (hard failure rate, flaky rate) per row; flaky results count half (FLAKY_WEIGHT).
ROWS = ((0.0, 0.0), (0.01, 0.0), (0.05, 0.0), (0.20, 0.0), (1.00, 0.0), (0.01, 0.02))


@dataclass
class Row:
    passed: int = 0
    failed: int = 0
    undecided: int = 0
    probes: list[int] | None = None  # probes used by decided stages


def draw(rng: random.Random, rate: float, flaky: float) -> Reason:
    x = rng.random()
    if x < rate:
        return Reason.HTTP_5XX
    return Reason.FLAKY if x < rate + flaky else Reason.OK


def simulate_rounds(
    guard: Guard, rate: float, flaky: float, rng: random.Random, round_size: int, cap: int
) -> tuple[Verdict, int]:
    results: list[Reason] = []
    while len(results) < cap:
        for _ in range(min(round_size, cap - len(results))):
            results.append(draw(rng, rate, flaky))
        d = guard(results)
        if d.decided:
            return d.verdict, len(results)
    return Verdict.HOLD, len(results)


def simulate_probes(
    guard: Guard, rate: float, flaky: float, rng: random.Random, cap: int
) -> tuple[Verdict, int]:
    tally = Tally()
    zt = guard.zero_tolerance
    while tally.samples < cap:
        tally = tally.add(draw(rng, rate, flaky), zt)
        d = guard.decide(tally)
        if d.decided:
            return d.verdict, tally.samples
    return Verdict.HOLD, tally.samples


def p95(values: list[int]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))])


def run_row(
    guard: Guard, rate: float, flaky: float, mode: str, args: argparse.Namespace, seed: int
) -> Row:
    rng = random.Random(seed)
    row = Row(probes=[])
    assert row.probes is not None
    for _ in range(args.stages):
        if mode == "probe":
            verdict, used = simulate_probes(guard, rate, flaky, rng, args.cap)
        else:
            verdict, used = simulate_rounds(guard, rate, flaky, rng, args.round_size, args.cap)
        if verdict is Verdict.PASS:
            row.passed += 1
        elif verdict is Verdict.FAIL:
            row.failed += 1
        else:
            row.undecided += 1
            continue
        row.probes.append(used)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=10_000, help="stages per row")
    parser.add_argument("--round-size", type=int, default=20, help="probes per round")
    parser.add_argument("--cap", type=int, default=500, help="probes before giving up")
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--acceptable", type=float, help="override acceptable_rate (p0)")
    parser.add_argument("--unacceptable", type=float, help="override unacceptable_rate (p1)")
    parser.add_argument("--alpha", type=float, help="override false_rollback")
    parser.add_argument("--beta", type=float, help="override missed_failure")
    parser.add_argument("--min-samples", type=int, help="override min_samples")
    args = parser.parse_args(argv)

    overrides = {
        "acceptable_rate": args.acceptable,
        "unacceptable_rate": args.unacceptable,
        "false_rollback": args.alpha,
        "missed_failure": args.beta,
        "min_samples": args.min_samples,
    }
    policy = GuardPolicy.model_validate({k: v for k, v in overrides.items() if v is not None})
    guard = Guard(policy)
    started = time.perf_counter()
    print(f"stages_per_row={args.stages}")
    print(f"round_size={args.round_size}")
    print(f"cap={args.cap}")
    print(f"seed={args.seed}")
    print(
        f"policy=p0:{policy.acceptable_rate},p1:{policy.unacceptable_rate},"
        f"alpha:{policy.false_rollback},beta:{policy.missed_failure},"
        f"min_samples:{policy.min_samples}"
    )
    print(f"sprt_upper={guard.sprt.upper:.4f}")
    print(f"sprt_lower={guard.sprt.lower:.4f}")
    headline: dict[str, float] = {}
    for mode in (f"round{args.round_size}", "probe"):
        for i, (rate, flaky) in enumerate(ROWS):
            row = run_row(guard, rate, flaky, mode, args, args.seed + i)
            n = args.stages
            probes = row.probes or []
            key = f"{mode}.fail{rate:g}" + (f"+flaky{flaky:g}" if flaky else "")
            print(f"{key}.pass_fraction={row.passed / n:.4f}")
            print(f"{key}.fail_fraction={row.failed / n:.4f}")
            print(f"{key}.decided_within_cap={(row.passed + row.failed) / n:.4f}")
            mean = statistics.fmean(probes) if probes else float("nan")
            print(f"{key}.probes_mean={mean:.1f}")
            print(f"{key}.probes_p95={p95(probes):.0f}")
            print(f"{key}.probes_max={max(probes) if probes else float('nan'):.0f}")
            if rate == 0.01 and not flaky:
                headline[f"{mode}.false_rollback_rate"] = row.failed / n
            if rate == 1.0:
                headline[f"{mode}.full_failure_probes_max"] = max(probes)
    for name, value in headline.items():
        print(f"{name}={value:g}")
    probe_fr = headline["probe.false_rollback_rate"]
    round_fr = headline[f"round{args.round_size}.false_rollback_rate"]
    worst = max(probe_fr, round_fr)
    print(f"target.false_rollback_le_0.001={'ok' if worst <= 0.001 else 'MISSED'}")
    full = headline["probe.full_failure_probes_max"]
    print(f"target.full_failure_decided_le_10_probes={'ok' if full <= 10 else 'MISSED'}")
    print(f"elapsed_seconds={time.perf_counter() - started:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
