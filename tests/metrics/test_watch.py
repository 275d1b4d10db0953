"""Judging metric measurements: each rule, no data, several series, limits, budget end."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from cutover.guards import Decision, Verdict
from cutover.metrics.checks import MetricCheck
from cutover.metrics.sources import Sample
from cutover.metrics.stage import combine
from cutover.metrics.watch import (
    MAX_SERIES,
    MetricDecision,
    MetricWatch,
    Outcome,
    judge_sample,
    judge_value,
)

NAN = math.nan


def check(**fields: Any) -> MetricCheck:
    return MetricCheck.model_validate({"name": "m", "source": "s", "query": "q", **fields})


MAX = {"threshold": {"max": 0.05}}
RANGE = {"threshold": {"min": 1, "max": 2}}
BASE = {"baseline": {"max_increase": 50, "slack": 0.01}}
ARGO = {"success_condition": "result < 0.05"}
BOTH = {"success_condition": "result < 0.05", "failure_condition": "result > 0.2"}
FAIL_ONLY = {"failure_condition": "result > baseline * 2"}


@pytest.mark.parametrize(
    ("fields", "value", "baseline", "outcome", "why"),
    [
        (MAX, 0.01, None, Outcome.SUCCESS, "0.01 within the threshold"),
        (MAX, 0.2, None, Outcome.FAILURE, "0.2 > max 0.05"),
        (RANGE, 0.5, None, Outcome.FAILURE, "0.5 < min 1"),
        (RANGE, 1.5, None, Outcome.SUCCESS, "1.5 within the threshold"),
        (BASE, 0.14, 0.1, Outcome.SUCCESS, "0.14 ≤ baseline 0.1 + 50 % + 0.01 = 0.16"),
        (BASE, 0.17, 0.1, Outcome.FAILURE, "0.17 > baseline 0.1 + 50 % + 0.01 = 0.16"),
        (BASE, 0.005, 0.0, Outcome.SUCCESS, "0.005 ≤ baseline 0 + 50 % + 0.01 = 0.01"),
        (
            BASE,
            0.1,
            None,
            Outcome.INCONCLUSIVE,
            "no baseline was measured: no_data is inconclusive",
        ),
        (ARGO, 0.01, None, Outcome.SUCCESS, "0.01: success_condition `result < 0.05`"),
        (ARGO, 0.1, None, Outcome.FAILURE, "0.1: not success_condition `result < 0.05`"),
        (BOTH, 0.1, None, Outcome.INCONCLUSIVE, "0.1: neither condition holds"),
        (BOTH, 0.3, None, Outcome.FAILURE, "0.3: failure_condition `result > 0.2`"),
        (FAIL_ONLY, 0.3, 0.1, Outcome.FAILURE, "0.3: failure_condition `result > baseline * 2`"),
        (
            FAIL_ONLY,
            0.1,
            0.1,
            Outcome.SUCCESS,
            "0.1: not failure_condition `result > baseline * 2`",
        ),
        (MAX, NAN, None, Outcome.INCONCLUSIVE, "no data (NaN): no_data is inconclusive"),
        ({**MAX, "no_data": "fail"}, NAN, None, Outcome.FAILURE, "no data (NaN): no_data is fail"),
        ({**MAX, "no_data": "pass"}, NAN, None, Outcome.SUCCESS, "no data (NaN): no_data is pass"),
    ],
)
def test_a_value_is_judged(
    fields: dict[str, Any], value: float, baseline: float | None, outcome: Outcome, why: str
) -> None:
    assert judge_value(check(**fields), value, baseline) == (outcome, why)


@pytest.mark.parametrize(
    ("sample", "outcome", "reason"),
    [
        (Sample({}), Outcome.INCONCLUSIVE, "no data (no series): no_data is inconclusive"),
        (
            Sample(error="prometheus: GET /api/v1/query answered 503"),
            Outcome.INCONCLUSIVE,
            "no answer: prometheus: GET /api/v1/query answered 503",
        ),
        (Sample({'{pop="a"}': 0.01, '{pop="b"}': 0.02}), Outcome.SUCCESS, "all 2 series pass"),
        (
            Sample({'{pop="a"}': 0.01, '{pop="b"}': 0.3}),
            Outcome.FAILURE,
            '{pop="b"}: 0.3 > max 0.05',
        ),
        (
            Sample({'{pop="a"}': NAN, '{pop="b"}': 0.3}),
            Outcome.FAILURE,
            '{pop="b"}: 0.3 > max 0.05',
        ),
        (
            Sample({'{pop="a"}': NAN, '{pop="b"}': 0.01}),
            Outcome.INCONCLUSIVE,
            '{pop="a"}: no data (NaN): no_data is inconclusive',
        ),
        (Sample({"": 0.3}), Outcome.FAILURE, "0.3 > max 0.05"),
    ],
)
def test_a_sample_is_judged_per_series(sample: Sample, outcome: Outcome, reason: str) -> None:
    measured = judge_sample(check(**MAX), 1, sample, {})
    assert (measured.outcome, measured.reason) == (outcome, reason)


def test_too_many_series_are_inconclusive_and_not_journaled() -> None:
    sample = Sample({f'{{i="{i}"}}': 0.0 for i in range(MAX_SERIES + 1)})
    measured = judge_sample(check(**MAX), 1, sample, {})
    assert (measured.outcome, measured.values) == (Outcome.INCONCLUSIVE, {})
    assert measured.reason == (
        f"{MAX_SERIES + 1} series, more than {MAX_SERIES}: aggregate the query (sum by, topk…)"
    )
    assert (
        len(
            judge_sample(
                check(**MAX), 1, Sample(dict(list(sample.series.items())[:MAX_SERIES])), {}
            ).values
        )
        == MAX_SERIES
    )


def test_each_series_has_its_own_baseline() -> None:
    measured = judge_sample(check(**BASE), 1, Sample({"a": 0.2, "b": 0.2}), {"a": 0.2, "b": 0.05})
    assert measured.outcome is Outcome.FAILURE
    assert measured.reason == "b: 0.2 > baseline 0.05 + 50 % + 0.01 = 0.085"


class Scripted:
    """A sampler answering a scripted list of samples, then the last one again."""

    def __init__(self, *samples: Sample) -> None:
        self.samples = list(samples)
        self.queries: list[str] = []

    def sample(self, query: str) -> Sample:
        self.queries.append(query)
        return self.samples.pop(0) if len(self.samples) > 1 else self.samples[0]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def watch(fields: dict[str, Any], *samples: Sample) -> tuple[MetricWatch, Clock]:
    clock = Clock()
    return MetricWatch([check(**fields)], {"s": Scripted(*samples)}, clock), clock


def measure_rounds(w: MetricWatch, clock: Clock, rounds: int) -> list[Verdict]:
    out = []
    for _ in range(rounds):
        w.measure_due()
        out.append(w.decision().verdict)
        clock.now += 5.0
    return out


OK, BAD, NONE = Sample({"": 0.01}), Sample({"": 0.5}), Sample({})


@pytest.mark.parametrize(
    ("fields", "samples", "verdicts", "reason"),
    [
        ({**MAX}, [OK], [Verdict.HOLD, Verdict.HOLD, Verdict.PASS], "1 metric checks pass"),
        (
            {**MAX},
            [BAD],
            [Verdict.FAIL],
            "metric m failed: 1 failed measurements > failure_limit 0 (last: 0.5 > max 0.05)",
        ),
        (
            {**MAX, "failure_limit": 1},
            [BAD, OK, OK],
            [Verdict.HOLD, Verdict.HOLD, Verdict.PASS],
            "1 metric checks pass",
        ),
        (
            {**MAX, "failure_limit": 1},
            [BAD, OK, BAD],
            [Verdict.HOLD, Verdict.HOLD, Verdict.FAIL],
            "metric m failed: 2 failed measurements > failure_limit 1 (last: 0.5 > max 0.05)",
        ),
        (
            {**MAX},
            [NONE],
            [Verdict.FAIL],
            "metric m failed: 1 inconclusive measurements > inconclusive_limit 0 (last: no data"
            " (no series): no_data is inconclusive)",
        ),
        (
            {**MAX, "inconclusive_limit": 5, "count": 2},
            [NONE, OK, OK],
            [Verdict.HOLD, Verdict.PASS],
            "1 metric checks pass",
        ),
        ({**MAX, "no_data": "pass", "count": 1}, [NONE], [Verdict.PASS], "1 metric checks pass"),
    ],
)
def test_a_check_decides_by_its_limits(
    fields: dict[str, Any], samples: list[Sample], verdicts: list[Verdict], reason: str
) -> None:
    w, clock = watch(fields, *samples)
    assert measure_rounds(w, clock, len(verdicts)) == verdicts
    assert w.decision().reason == reason


def test_a_check_is_measured_once_per_interval_and_not_after_it_decided() -> None:
    w, clock = watch({**MAX, "interval": 5, "count": 2}, OK)
    assert len(w.measure_due()) == 1
    clock.now = 4.9
    assert w.measure_due() == []
    clock.now = 5.0
    assert len(w.measure_due()) == 1
    clock.now = 100.0
    assert w.measure_due() == []  # passed: no more measurements
    sampler = w.samplers["s"]
    assert isinstance(sampler, Scripted) and sampler.queries == ["q", "q"]


class RecordingStop(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.waited: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waited.append(timeout)
        return False


@pytest.mark.parametrize(
    ("now", "until", "waited"), [(1.0, None, [4.0]), (1.0, 3.0, [2.0]), (6.0, None, [])]
)
def test_wait_sleeps_until_the_next_measurement_or_the_budget(
    now: float, until: float | None, waited: list[float]
) -> None:
    w, clock = watch({**MAX, "interval": 5}, OK)
    w.measure_due()  # at 0: the next one is due at 5
    clock.now = now
    stop = RecordingStop()
    w.wait(stop, until)
    assert stop.waited == waited


@pytest.mark.parametrize(
    ("on_budget", "measured", "verdict"),
    [("fail", True, Verdict.FAIL), ("pass", True, Verdict.PASS), ("pass", False, Verdict.FAIL)],
)
def test_a_hold_at_the_budget_end_follows_on_budget(
    on_budget: str, measured: bool, verdict: Verdict
) -> None:
    w, _ = watch({**MAX}, OK)
    if measured:
        w.measure_due()
    assert w.on_budget_end(on_budget).verdict is verdict


def test_baselines_are_measured_only_for_checks_that_use_one() -> None:
    clock = Clock()
    sampler = Scripted(Sample({"a": 0.1, "b": NAN}))
    w = MetricWatch([check(**BASE), check(**{**MAX, "name": "n"})], {"s": sampler}, clock)
    rows = w.measure_baselines()
    assert rows == [{"check": "m", "values": {"a": 0.1, "b": None}, "error": None}]
    assert w.states[0].baselines == {"a": 0.1}


P = Decision(Verdict.PASS, "probes ok", 30, 0, -5.0)
H = Decision(Verdict.HOLD, "probes hold", 3, 0, -1.0)
F = Decision(Verdict.FAIL, "loop seen", 3, 3, 9.0)
MP = MetricDecision(Verdict.PASS, "1 metric checks pass", {})
MH = MetricDecision(Verdict.HOLD, "metrics hold: m 1/3", {})
MF = MetricDecision(Verdict.FAIL, "metric m failed: x", {})


@pytest.mark.parametrize(
    ("probes", "metrics", "verdict", "reason"),
    [
        (P, MP, Verdict.PASS, "probes: probes ok; 1 metric checks pass"),
        (P, MH, Verdict.HOLD, "probes: probes ok; metrics hold: m 1/3"),
        (H, MP, Verdict.HOLD, "probes: probes hold; 1 metric checks pass"),
        (P, MF, Verdict.FAIL, "metric m failed: x"),
        (F, MP, Verdict.FAIL, "loop seen"),
        (F, MF, Verdict.FAIL, "loop seen; metric m failed: x"),
        (H, MF, Verdict.FAIL, "metric m failed: x"),
    ],
)
def test_one_decision_per_round(
    probes: Decision, metrics: MetricDecision, verdict: Verdict, reason: str
) -> None:
    combined = combine(probes, metrics)
    assert (combined.verdict, combined.reason) == (verdict, reason)
    assert combined.samples == probes.samples
