"""A stage's metric checks in a run: watched from before its first step, and combined
with its probes into one decision per round (:mod:`cutover.judging`)."""

from __future__ import annotations

import dataclasses

from cutover.events import EventKind
from cutover.guards import Decision, Verdict
from cutover.metrics.sources import METRIC_SOURCES, Sampler
from cutover.metrics.watch import MetricDecision, MetricWatch
from cutover.run_context import RunContext
from cutover.runbook.models import GuardPolicy


def watch_metrics(run: RunContext, stage: str, policy: GuardPolicy) -> MetricWatch | None:
    """The stage's metric checks, their baselines measured and journaled now (before
    its first step); None when the stage's guard has none."""
    if not policy.metrics:
        return None
    samplers: dict[str, Sampler] = {}
    for check in policy.metrics:
        if check.source not in samplers:
            settings = run.runbook.metric_sources[check.source]
            kind = METRIC_SOURCES.get(getattr(settings, "kind", ""))
            samplers[check.source] = kind.make_sampler(settings)
    watch = MetricWatch(policy.metrics, samplers, run.clock)
    for row in watch.measure_baselines():
        run.event(EventKind.METRIC_BASELINE, stage=stage, **row)
    return watch


def measure(run: RunContext, stage: str, watch: MetricWatch) -> MetricDecision:
    """Measure what is due, journal each measurement, and decide."""
    for measurement in watch.measure_due():
        run.event(EventKind.METRIC, stage=stage, **measurement.journal())
    return watch.decision()


def combine(probes: Decision, metrics: MetricDecision) -> Decision:
    """One decision of a round: any failure fails, all passing passes, else hold."""
    both = ((probes.verdict, probes.reason), (metrics.verdict, metrics.reason))
    if any(v is Verdict.FAIL for v, _ in both):
        verdict = Verdict.FAIL
        reason = "; ".join(r for v, r in both if v is Verdict.FAIL)
    else:
        verdict = Verdict.PASS if all(v is Verdict.PASS for v, _ in both) else Verdict.HOLD
        reason = f"probes: {probes.reason}; {metrics.reason}"
    return dataclasses.replace(probes, verdict=verdict, reason=reason)
