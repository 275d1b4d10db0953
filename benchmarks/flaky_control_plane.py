"""Flaky control plane: N real ``cutover run`` of ``runbooks/pypi-files.yml`` through a faulty API.

Prints ``name=value`` lines. Each run:

1. resets a lab served in its own process (``cutover lab serve``) to the 2018 state, and
   turns its API fault injection on, seeded (``--seed`` * 1000 + run index): by default
   20 % of API calls answer 500/502/503, 10 % hang past the client timeout and are
   dropped, 10 % answer late. Every other run, "late" is later than the client's timeout:
   the lab has done the write, the client never hears it and retries (a lost answer).
   The probes are not touched: they hit the data plane, which has no faults here;
2. runs ``cutover run runbooks/pypi-files.yml --env lab --yes`` as a subprocess, every
   other run with ``--var skip_fix=true`` (the first ramp stage then loops: rollback);
3. turns the faults off and checks the outcome:

   - exit 0 (only without ``skip_fix``): the journal says ``completed`` and the lab serves
     the migrated state (derived from the initial state by hand, in ``migrated``);
   - exit 1: the journal says ``rolled_back`` and the lab serves the initial state;
   - exit 3: the journal says ``needs_attention``; a ``cutover rollback RUN`` with the
     faults off must then exit 0 and leave the initial state (counted as ``recovered``);
   - anything else is ``unexpected_exit``; a state that is not the expected one is
     ``wrong_state``; a step with two ``applied`` rows in the journal, or more versions
     activated on a service than the runbook has version steps for it, is
     ``double_applied``.

The benchmark exits 1 if any run was double-applied, in a wrong state or exited
unexpectedly. Usage::

    python benchmarks/flaky_control_plane.py                 # 50 runs, 2 labs in parallel
    python benchmarks/flaky_control_plane.py --runs 4 --jobs 1 --verbose
    python benchmarks/flaky_control_plane.py --retries 4     # the shipped default budget
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import cutover.testing as h  # noqa: E402

PYPI_FILES = ROOT / "runbooks" / "pypi-files.yml"

#: version steps of runbooks/pypi-files.yml per service: at most this many activations
VERSION_STEPS = {"files": 1, "legacy": 1, "warehouse": 0}
LATE_MS = 500  #: a slow answer, in time
LOST_MS = 3000  #: a slow answer after the lab environment's 2 s client timeout
RUN_TIMEOUT_S = 900.0


RETRY = "control-plane call failed; retrying"  #: the fastly action's log line for a retry


@dataclass(frozen=True)
class Profile:
    error_rate: float = 0.20
    timeout_rate: float = 0.10
    slow_rate: float = 0.10
    timeout_seconds: float = 5.0  #: the lab holds the connection this long, then drops it
    retries: int | None = None  #: override the runbook's lab retry budget

    def faults(self, seed: int, slow_ms: int) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "error_statuses": [500, 502, 503],
            "timeout_rate": self.timeout_rate,
            "timeout_seconds": self.timeout_seconds,
            "slow_rate": self.slow_rate,
            "slow_ms": slow_ms,
            "seed": seed,
        }


@dataclass(frozen=True)
class Plan:
    index: int
    seed: int
    skip_fix: bool
    lost_answers: bool

    @staticmethod
    def of(index: int, base_seed: int) -> Plan:
        return Plan(index, base_seed * 1000 + index, index % 2 == 1, (index // 2) % 2 == 1)

    def label(self) -> str:
        variant = "skip_fix" if self.skip_fix else "full"
        return f"#{self.index} seed={self.seed} {variant} {'lost' if self.lost_answers else 'late'}"


@dataclass
class Result:
    plan: Plan
    run_id: str
    exit_code: int
    status: str
    outcome: str  #: completed | rolled_back | needs_attention | unexpected
    step_failed: bool  #: a step exhausted its retries (rather than a guard failing)
    recovered: bool | None  #: for needs_attention: did a later rollback finish it?
    wrong_state: bool
    double_applied: bool
    retries_logged: int
    drafts_left: int
    seconds: float
    problems: list[str] = field(default_factory=list)


def one_run(lab: h.ServedLab, state_dir: Path, plan: Plan, profile: Profile) -> Result:
    """One faulty run against ``lab`` (attached through ``state_dir``), checked."""
    lab.reset()
    before = lab.state()
    initial = h.fingerprint(before)
    lab.api_faults(**profile.faults(plan.seed, LOST_MS if plan.lost_answers else LATE_MS))
    args: list[str] = ["--env", "lab", "--yes", "--state-dir", str(state_dir)]
    if plan.skip_fix:
        args += ["--var", "skip_fix=true"]
    if profile.retries is not None:
        args += ["--var", f"fastly_retries={profile.retries}"]
    started = time.monotonic()
    try:
        proc = h.run_cutover("run", PYPI_FILES, *args, timeout=RUN_TIMEOUT_S)
    finally:
        lab.clear_faults()
    seconds = time.monotonic() - started
    run_id = h.run_id_of(proc.stdout)
    # the actions' log lines (each retry) go to the run's log file, not stderr
    log = state_dir / "logs" / f"{run_id}.log"
    retries = log.read_text(encoding="utf-8").count(RETRY) if log.exists() else 0
    status = str(h.run_row(state_dir, run_id)["status"])
    kinds = [e.kind for e in h.events(state_dir, run_id)]
    after = lab.state()
    final = h.fingerprint(after)
    problems: list[str] = []
    recovered: bool | None = None
    code = proc.returncode
    if code == 0 and not plan.skip_fix:
        outcome, expected, want_status = "completed", h.migrated(initial), "completed"
    elif code == 1:
        outcome, expected, want_status = "rolled_back", initial, "rolled_back"
    elif code == 3:
        outcome, expected, want_status = "needs_attention", initial, "needs_attention"
    else:
        outcome, expected, want_status = "unexpected", initial, status
        problems.append(f"exit {code}: {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    if status != want_status:
        problems.append(f"journal status {status}, expected {want_status}")
    if code == 3:  # the control plane is healthy again: the operator finishes the rollback
        again = h.run_cutover(
            "rollback", run_id, "--state-dir", str(state_dir), timeout=RUN_TIMEOUT_S
        )
        final = h.fingerprint(lab.state())
        recovered = again.returncode == 0 and final == initial
        if not recovered:
            problems.append(
                f"rollback after exit 3: exit {again.returncode}: {again.stdout[-800:]}"
            )
    wrong_state = outcome != "unexpected" and final != expected
    if wrong_state:
        problems.append(f"lab state is not the {outcome} state: {final}")
    twice = h.applied_twice(state_dir, run_id)
    activated = {
        name: h.locked_versions(after)[name] - count
        for name, count in h.locked_versions(before).items()
    }
    too_many = {n: c for n, c in activated.items() if c > VERSION_STEPS.get(n, 0)}
    if outcome == "completed" and activated != VERSION_STEPS:
        too_many = {n: c for n, c in activated.items() if c != VERSION_STEPS.get(n, 0)}
    if twice or too_many:
        problems.append(f"applied twice: journal {twice}, versions activated {activated}")
    drafts = sum(h.draft_versions(after).values()) - sum(h.draft_versions(before).values())
    return Result(
        plan=plan,
        run_id=run_id,
        exit_code=code,
        status=status,
        outcome=outcome,
        step_failed="apply_failed" in kinds,
        recovered=recovered,
        wrong_state=wrong_state,
        double_applied=bool(twice or too_many),
        retries_logged=retries,
        drafts_left=drafts,
        seconds=seconds,
        problems=problems,
    )


def run_all(
    runs: int, base_seed: int, jobs: int, profile: Profile, workdir: Path, verbose: bool
) -> list[Result]:
    todo: queue.Queue[Plan] = queue.Queue()
    for index in range(runs):
        todo.put(Plan.of(index, base_seed))
    results: list[Result] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    stopping = threading.Event()  # Ctrl-C: finish the runs in flight, stop every lab

    def worker(number: int) -> None:
        state_dir = workdir / f"lab{number}"
        try:
            with h.ServedLab(state_dir, seed=base_seed) as lab:
                while not stopping.is_set():
                    try:
                        plan = todo.get_nowait()
                    except queue.Empty:
                        return
                    result = one_run(lab, state_dir, plan, profile)
                    with lock:
                        results.append(result)
                        if verbose:
                            print(describe(result), file=sys.stderr, flush=True)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        stopping.set()
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[0]
    return sorted(results, key=lambda r: r.plan.index)


def describe(r: Result) -> str:
    text = (
        f"{r.plan.label()}: exit {r.exit_code} {r.outcome}"
        f"{' (a step exhausted its retries)' if r.step_failed else ''}"
        f" retries={r.retries_logged} drafts={r.drafts_left} {r.seconds:.1f}s run {r.run_id}"
    )
    return text + "".join(f"\n    PROBLEM: {p}" for p in r.problems)


def figures(results: list[Result], profile: Profile) -> dict[str, Any]:
    def count(predicate: Any) -> int:
        return sum(1 for r in results if predicate(r))

    return {
        "runs": len(results),
        "completed": count(lambda r: r.outcome == "completed"),
        "rolled_back": count(lambda r: r.outcome == "rolled_back"),
        "rolled_back_step_failed": count(lambda r: r.outcome == "rolled_back" and r.step_failed),
        "needs_attention": count(lambda r: r.outcome == "needs_attention"),
        "recovered": count(lambda r: r.recovered is True),
        "unexpected_exit": count(lambda r: r.outcome == "unexpected"),
        "double_applied": count(lambda r: r.double_applied),
        "wrong_state": count(lambda r: r.wrong_state),
        "retries_logged": sum(r.retries_logged for r in results),
        "draft_versions_left": sum(r.drafts_left for r in results),
        "skip_fix_runs": count(lambda r: r.plan.skip_fix),
        "lost_answer_runs": count(lambda r: r.plan.lost_answers),
        "api_error_rate": profile.error_rate,
        "api_timeout_rate": profile.timeout_rate,
        "api_slow_rate": profile.slow_rate,
        "retries": "runbook" if profile.retries is None else profile.retries,
        "run_s_median": round(statistics.median(r.seconds for r in results), 1) if results else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1, help="base seed (run seed = seed*1000+i)")
    parser.add_argument("--jobs", type=int, default=2, help="labs (and runs) in parallel")
    parser.add_argument("--retries", type=int, default=None, help="override fastly_retries")
    parser.add_argument("--error-rate", type=float, default=0.20)
    parser.add_argument("--timeout-rate", type=float, default=0.10)
    parser.add_argument("--slow-rate", type=float, default=0.10)
    parser.add_argument("--verbose", action="store_true", help="one line per run on stderr")
    parser.add_argument("--keep", type=Path, default=None, help="keep state directories here")
    args = parser.parse_args(argv)
    profile = Profile(args.error_rate, args.timeout_rate, args.slow_rate, retries=args.retries)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = run_all(args.runs, args.seed, args.jobs, profile, args.keep, args.verbose)
    else:
        with tempfile.TemporaryDirectory(prefix="cutover-flaky-") as tmp:
            results = run_all(args.runs, args.seed, args.jobs, profile, Path(tmp), args.verbose)
    for name, value in figures(results, profile).items():
        print(f"{name}={value}")
    for result in results:
        if result.problems:
            print(describe(result), file=sys.stderr)
    bad = [r for r in results if r.double_applied or r.wrong_state or r.outcome == "unexpected"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
