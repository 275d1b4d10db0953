"""Measuring a stage's metric checks and deciding on them, round by round.

Each check is measured every ``interval`` (the first time as soon as the stage judges).
A measurement answers one value per series; each series is judged on its own (a
failed series is named in the decision) and the measurement is a **success** when every
series succeeds, a **failure** when one fails, and **inconclusive** otherwise: the source
could not answer (after its retries), or it answered no data and ``no_data`` says so.

A check **fails** as soon as its failed measurements exceed ``failure_limit`` or its
inconclusive ones exceed ``inconclusive_limit``; it **passes** once ``count``
measurements are in without that; until then it **holds**. All the checks of a stage
decide together: one failure fails, all passing passes, anything else holds (and the
stage's guard, :mod:`cutover.judging`, combines that with the probes' decision).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cutover.guards import Verdict
from cutover.metrics.checks import CONDITION_NAMES, MetricCheck
from cutover.metrics.expression import parse
from cutover.metrics.sources import Sample, Sampler

MAX_SERIES = 1000  #: series one measurement judges (and the journal keeps)


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    INCONCLUSIVE = "inconclusive"


_NO_DATA = {"fail": Outcome.FAILURE, "pass": Outcome.SUCCESS, "inconclusive": Outcome.INCONCLUSIVE}


def series_name(series: str) -> str:
    return series or "the service"


def _num(value: float) -> str:
    return f"{value:.4g}"


def judge_value(check: MetricCheck, value: float, baseline: float | None) -> tuple[Outcome, str]:
    """One series' value, judged by the check's rule: the outcome and why."""
    if math.isnan(value):
        return _NO_DATA[check.no_data], f"no data (NaN): no_data is {check.no_data}"
    if check.threshold is not None:
        low, high = check.threshold.min, check.threshold.max
        if low is not None and value < low:
            return Outcome.FAILURE, f"{_num(value)} < min {_num(low)}"
        if high is not None and value > high:
            return Outcome.FAILURE, f"{_num(value)} > max {_num(high)}"
        return Outcome.SUCCESS, f"{_num(value)} within the threshold"
    if (check.uses_baseline) and (baseline is None or math.isnan(baseline)):
        return _NO_DATA[check.no_data], f"no baseline was measured: no_data is {check.no_data}"
    if check.baseline is not None:
        assert baseline is not None
        limit = check.baseline.limit(baseline)
        rule = f"baseline {_num(baseline)} + {check.baseline.max_increase:g} %"
        if check.baseline.slack:
            rule += f" + {_num(check.baseline.slack)}"
        if value > limit:
            return Outcome.FAILURE, f"{_num(value)} > {rule} = {_num(limit)}"
        return Outcome.SUCCESS, f"{_num(value)} ≤ {rule} = {_num(limit)}"
    values = {"result": value, "baseline": math.nan if baseline is None else baseline}
    failure = check.failure_condition
    if failure is not None and parse(failure, CONDITION_NAMES).evaluate(values):
        return Outcome.FAILURE, f"{_num(value)}: failure_condition `{check.failure_condition}`"
    if check.success_condition is not None:
        if parse(check.success_condition, CONDITION_NAMES).evaluate(values):
            return Outcome.SUCCESS, f"{_num(value)}: success_condition `{check.success_condition}`"
        if check.failure_condition is None:
            return Outcome.FAILURE, (
                f"{_num(value)}: not success_condition `{check.success_condition}`"
            )
        return Outcome.INCONCLUSIVE, f"{_num(value)}: neither condition holds"
    return Outcome.SUCCESS, f"{_num(value)}: not failure_condition `{check.failure_condition}`"


def _journal_value(value: float) -> float | None:
    """A value as the journal stores it (JSON has no NaN or infinity)."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Measurement:
    """One measurement of one check, judged."""

    check: str
    number: int
    values: dict[str, float]
    outcome: Outcome
    reason: str

    def journal(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "measurement": self.number,
            "values": {s: _journal_value(v) for s, v in self.values.items()},
            "outcome": self.outcome.value,
            "reason": self.reason,
        }


def judge_sample(
    check: MetricCheck, number: int, sample: Sample, baselines: Mapping[str, float]
) -> Measurement:
    """A sample as a measurement: every series judged, the worst one deciding."""
    if sample.error is not None:
        return Measurement(
            check.name, number, {}, Outcome.INCONCLUSIVE, f"no answer: {sample.error}"
        )
    if len(sample.series) > MAX_SERIES:
        why = (
            f"{len(sample.series)} series, more than {MAX_SERIES}: aggregate the query"
            " (sum by, topk…)"
        )
        return Measurement(check.name, number, {}, Outcome.INCONCLUSIVE, why)
    if not sample.series:
        outcome = _NO_DATA[check.no_data]
        why = f"no data (no series): no_data is {check.no_data}"
        return Measurement(check.name, number, {}, outcome, why)
    judged = {
        s: judge_value(check, v, _baseline(baselines, s)) for s, v in sorted(sample.series.items())
    }
    several = len(judged) > 1
    for wanted in (Outcome.FAILURE, Outcome.INCONCLUSIVE):
        hits = [(s, why) for s, (o, why) in judged.items() if o is wanted]
        if hits:
            named = "; ".join(
                f"{series_name(s)}: {why}" if several or s else why for s, why in hits
            )
            return Measurement(check.name, number, dict(sample.series), wanted, named)
    first = next(iter(judged.values()))[1]
    why = f"all {len(judged)} series pass" if several else first
    return Measurement(check.name, number, dict(sample.series), Outcome.SUCCESS, why)


def _baseline(baselines: Mapping[str, float], series: str) -> float | None:
    """The series' own baseline, or the only one measured (a query of one series)."""
    if series in baselines:
        return baselines[series]
    return next(iter(baselines.values())) if len(baselines) == 1 else None


@dataclass
class CheckState:
    """Where one check stands in a stage."""

    check: MetricCheck
    baselines: dict[str, float] = field(default_factory=dict)
    taken: list[Measurement] = field(default_factory=list)
    next_due: float = 0.0

    def count(self, outcome: Outcome) -> int:
        return sum(m.outcome is outcome for m in self.taken)

    def verdict(self) -> tuple[Verdict, str]:
        c = self.check
        failed, unsure = self.count(Outcome.FAILURE), self.count(Outcome.INCONCLUSIVE)
        last = self.taken[-1].reason if self.taken else ""
        if failed > c.failure_limit:
            return Verdict.FAIL, (
                f"{failed} failed measurements > failure_limit {c.failure_limit} (last: {last})"
            )
        if unsure > c.inconclusive_limit:
            return Verdict.FAIL, (
                f"{unsure} inconclusive measurements > inconclusive_limit"
                f" {c.inconclusive_limit} (last: {last})"
            )
        if len(self.taken) >= c.count:
            return Verdict.PASS, f"{len(self.taken)} measurements, {failed} failed (last: {last})"
        return Verdict.HOLD, f"{len(self.taken)}/{c.count} measurements" + (
            f" (last: {last})" if last else ""
        )


@dataclass(frozen=True)
class MetricDecision:
    """The metric checks' decision this round, with each check's verdict and why."""

    verdict: Verdict
    reason: str
    checks: dict[str, str]  #: check name → "verdict: why"


class MetricWatch:
    """The metric checks of one stage, their samplers and what they measured."""

    def __init__(
        self,
        checks: Sequence[MetricCheck],
        samplers: Mapping[str, Sampler],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.states = [CheckState(c) for c in checks]
        self.samplers = samplers
        self.clock = clock

    def measure_baselines(self) -> list[dict[str, Any]]:
        """The value of every check that compares with a baseline, before the first step;
        one journal row each."""
        rows = []
        for state in self.states:
            if not state.check.uses_baseline:
                continue
            sample = self.samplers[state.check.source].sample(state.check.query)
            state.baselines = {s: v for s, v in sample.series.items() if math.isfinite(v)}
            rows.append(
                {
                    "check": state.check.name,
                    "values": {s: _journal_value(v) for s, v in sample.series.items()},
                    "error": sample.error,
                }
            )
        return rows

    def _undecided(self) -> list[CheckState]:
        return [s for s in self.states if s.verdict()[0] is Verdict.HOLD]

    def measure_due(self) -> list[Measurement]:
        """Measure every undecided check whose interval has passed."""
        now = self.clock()
        taken = []
        for state in self._undecided():
            if now < state.next_due:
                continue
            check = state.check
            sample = self.samplers[check.source].sample(check.query)
            measurement = judge_sample(check, len(state.taken) + 1, sample, state.baselines)
            state.taken.append(measurement)
            state.next_due = now + check.interval
            taken.append(measurement)
        return taken

    def wait(self, stop: threading.Event, until: float | None = None) -> None:
        """Sleep until the next measurement is due (or ``until``, or a stop)."""
        pending = [s.next_due for s in self._undecided()]
        if not pending:
            return
        due = min(pending) if until is None else min(min(pending), until)
        delay = due - self.clock()
        if delay > 0:
            stop.wait(delay)

    def decision(self) -> MetricDecision:
        verdicts = {s.check.name: s.verdict() for s in self.states}
        checks = {name: f"{v.value}: {why}" for name, (v, why) in verdicts.items()}
        failed = [
            f"metric {n} failed: {why}" for n, (v, why) in verdicts.items() if v is Verdict.FAIL
        ]
        if failed:
            return MetricDecision(Verdict.FAIL, "; ".join(failed), checks)
        if all(v is Verdict.PASS for v, _ in verdicts.values()):
            return MetricDecision(Verdict.PASS, f"{len(verdicts)} metric checks pass", checks)
        holding = [f"{n} {why}" for n, (v, why) in verdicts.items() if v is Verdict.HOLD]
        return MetricDecision(Verdict.HOLD, "metrics hold: " + "; ".join(holding), checks)

    def on_budget_end(self, on_budget: str) -> MetricDecision:
        """The final decision when the stage's budget ends: a hold becomes ``pass`` only
        when the policy says ``on_budget: pass`` and every check measured at least once."""
        d = self.decision()
        if d.verdict is not Verdict.HOLD:
            return d
        if on_budget == "pass" and all(s.taken for s in self.states):
            return MetricDecision(
                Verdict.PASS, f"{d.reason}: budget ended, on_budget: pass", d.checks
            )
        return MetricDecision(Verdict.FAIL, f"{d.reason}: budget ended undecided", d.checks)
