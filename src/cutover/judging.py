"""Judging a stage: probe rounds until its guard decides pass or fail, or the budget ends.

Each round's results go to the guard's incremental tally as they arrive, so a round ends
as soon as the guard can already fail (at the first redirect loop, say) or the operator
stops; every round and every decision is journaled (``probe_round``, ``guard``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from cutover.control import pace
from cutover.events import EventKind
from cutover.guards import Decision, Guard, Verdict
from cutover.metrics.stage import combine, measure
from cutover.metrics.watch import MetricDecision, MetricWatch
from cutover.run_context import Result, RunContext
from cutover.runbook.models import GuardPolicy

MAX_FAILED_CHAINS = 1000  #: failed results (with their chains) kept per round in the journal
MAX_ROUNDS = 10_000  #: a stage never probes more rounds than this, whatever its budget


def judge(
    run: RunContext,
    label: str,
    sets: Sequence[str],
    policy: GuardPolicy,
    *,
    baseline: float | None,
    interruptible: bool = True,
    metrics: MetricWatch | None = None,
) -> Decision:
    """Probe rounds until the guard decides, or the budget ends.

    With ``metrics`` (the stage's metric checks), each round also measures the checks that
    are due and the round's one decision combines both (:func:`cutover.metrics.stage.combine`).

    ``baseline`` is the preflight's failure rate, used when ``policy.baseline`` says so.
    Verifying a rollback is not interruptible by the first Ctrl-C (that one asked for
    the rollback); a second Ctrl-C still stops everything at once.
    """
    guard = Guard(policy, baseline_rate=baseline if policy.baseline else None)
    if metrics is not None:
        return _judge_with_metrics(run, label, sets, policy, guard, metrics)
    if not sets:
        decision = Decision(Verdict.PASS, "no probes in this stage", 0, 0, 0.0, None)
        run.event(
            EventKind.GUARD, stage=label, verdict=decision.verdict.value, reason=decision.reason
        )
        return decision
    reasons: list[Any] = []
    started = run.clock()
    for number in range(1, MAX_ROUNDS + 1):
        if interruptible:
            run.check_stop()
        results = run.prober.probe(sets, *_early_stop(run, guard, reasons, interruptible))
        reasons.extend(r.reason for r in results)
        decision = _not_before(guard(reasons), policy.min_duration, run.clock() - started)
        if decision.verdict is Verdict.HOLD and run.clock() - started >= policy.budget:
            decision = guard.on_budget_end(reasons)
        _journal_round(run, label, number, results, decision)
        if decision.verdict is not Verdict.HOLD:
            return decision
        pace(run, policy.interval, interruptible=interruptible)
    final = guard.on_budget_end(reasons)
    if final.verdict is Verdict.PASS and run.clock() - started < policy.min_duration:
        reason = f"{MAX_ROUNDS} probe rounds ran before min_duration: set a guard.interval"
        return replace(final, verdict=Verdict.FAIL, reason=reason)
    return final


def _not_before(decision: Decision, min_duration: float, elapsed: float) -> Decision:
    """A pass before ``min_duration`` is a hold: the stage keeps being probed (a failure
    still fails at once); "passed" means "held for at least this long"."""
    if decision.verdict is not Verdict.PASS or elapsed >= min_duration:
        return decision
    return replace(
        decision,
        verdict=Verdict.HOLD,
        reason=f"{decision.reason}; probed {elapsed:.1f}s < min_duration {min_duration:g}s: hold",
    )


def _judge_with_metrics(
    run: RunContext,
    label: str,
    sets: Sequence[str],
    policy: GuardPolicy,
    guard: Guard,
    metrics: MetricWatch,
) -> Decision:
    """Rounds of probes (until they decide) and due measurements, one decision per round."""
    reasons: list[Any] = []
    probes = (
        Decision(Verdict.HOLD, "no probe round yet", 0, 0, 0.0, None)
        if sets
        else Decision(Verdict.PASS, "no probes in this stage", 0, 0, 0.0, None)
    )
    started = run.clock()
    for number in range(1, MAX_ROUNDS + 1):
        run.check_stop()
        results: Sequence[Result] = []
        if sets and not probes.decided:
            results = run.prober.probe(sets, *_early_stop(run, guard, reasons, True))
            reasons.extend(r.reason for r in results)
            probes = guard(reasons)
        else:  # nothing to probe this round: wait for the next measurement
            metrics.wait(run.stop, started + policy.budget)
            run.check_stop()
        checks = measure(run, label, metrics)
        decision = combine(probes, checks)
        if decision.verdict is Verdict.HOLD and run.clock() - started >= policy.budget:
            if sets and not probes.decided:
                probes = guard.on_budget_end(reasons)
            decision = combine(probes, metrics.on_budget_end(policy.on_budget))
        _journal_round(run, label, number, results, decision, (probes, checks))
        if decision.verdict is not Verdict.HOLD:
            return decision
    return combine(guard.on_budget_end(reasons), metrics.on_budget_end(policy.on_budget))


def _early_stop(
    run: RunContext, guard: Guard, earlier: Sequence[Any], interruptible: bool
) -> tuple[Callable[[Any], None], threading.Event]:
    """A round ends early once the guard can already fail (or the operator stops):
    decide as fast as the evidence allows, e.g. at the first redirect loop."""
    cancel = threading.Event()
    tally = guard.tally(earlier)

    def seen(result: Any) -> None:
        nonlocal tally
        tally = tally.add(result.reason, guard.zero_tolerance)
        if guard.decide(tally).verdict is Verdict.FAIL or (interruptible and run.stop.is_set()):
            cancel.set()

    return seen, cancel


def _journal_round(
    run: RunContext,
    label: str,
    number: int,
    results: Sequence[Result],
    decision: Decision,
    parts: tuple[Decision, MetricDecision] | None = None,
) -> None:
    """The round's probes (when it probed, or has no metrics) and its one decision; with
    metric checks, the ``guard`` row also says what each part decided: ``probes`` (the
    probes' verdict and why) and ``metrics`` (each check's), so a reader sees which one
    failed the stage."""
    failed = [r for r in results if not r.ok]
    counts = Counter(str(getattr(r.reason, "value", r.reason)) for r in results)
    if results or parts is None:
        run.event(
            EventKind.PROBE_ROUND,
            stage=label,
            round=number,
            probes=len(results),
            failed=len(failed),
            reasons=dict(counts),
            failures=[r.to_dict() for r in failed[:MAX_FAILED_CHAINS]],
        )
    extra: dict[str, Any] = {}
    if parts is not None:
        probes, metrics = parts
        extra = {"probes": f"{probes.verdict.value}: {probes.reason}", "metrics": metrics.checks}
    run.event(
        EventKind.GUARD,
        stage=label,
        verdict=decision.verdict.value,
        reason=decision.reason,
        samples=decision.samples,
        failures=decision.failures,
        **extra,
    )
