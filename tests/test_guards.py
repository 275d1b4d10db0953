"""The guard: hand-computed decisions, properties, and one seeded statistical check."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cutover.guards import FLAKY_WEIGHT, Decision, Guard, SprtBounds, Tally, Verdict
from cutover.reasons import ZERO_TOLERANCE_DEFAULT, Reason
from cutover.runbook.models import GuardPolicy

OK, FLAKY, E5 = Reason.OK, Reason.FLAKY, Reason.HTTP_5XX
DEFAULT = GuardPolicy()

# Default policy, by hand: p0 = 0.01, p1 = 0.10, alpha = 0.001, beta = 0.01
FAIL_STEP = math.log(0.10 / 0.01)  # 2.302585 per failure
PASS_STEP = math.log(0.90 / 0.99)  # -0.095310 per pass
UPPER = math.log(0.99 / 0.001)  # 6.897705: fail at or above
LOWER = math.log(0.01 / 0.999)  # -4.604170: pass at or below


def guard(**policy: object) -> Guard:
    return Guard(GuardPolicy.model_validate(policy))


# --- hand-computed cases ------------------------------------------------------------------


def test_bounds_are_walds() -> None:
    g = Guard(DEFAULT)
    assert g.sprt.upper == pytest.approx(UPPER)
    assert g.sprt.lower == pytest.approx(LOWER)
    assert g.sprt.fail_step == pytest.approx(FAIL_STEP)
    assert g.sprt.pass_step == pytest.approx(PASS_STEP)


def test_zero_samples_hold() -> None:
    d = Guard(DEFAULT)([])
    assert d == Decision(Verdict.HOLD, "no samples yet: hold", 0, 0, 0.0, None, 0)


@pytest.mark.parametrize("reason", ZERO_TOLERANCE_DEFAULT)
def test_zero_tolerance_fails_on_the_first_result(reason: Reason) -> None:
    d = Guard(DEFAULT)([reason])
    assert d.verdict is Verdict.FAIL
    assert d.trigger is reason
    assert d.reason == f"{reason} seen (zero tolerance)"
    assert (d.samples, d.failures) == (1, 1)


def test_zero_tolerance_wins_over_a_pass_and_names_the_first() -> None:
    results = [OK] * 100 + [Reason.CHECKSUM_MISMATCH, Reason.REDIRECT_LOOP]
    d = Guard(DEFAULT)(results)
    assert d.verdict is Verdict.FAIL
    assert d.trigger is Reason.CHECKSUM_MISMATCH


def test_zero_tolerance_is_the_policys_list() -> None:
    g = guard(zero_tolerance=[Reason.HTTP_5XX])
    assert g([OK, E5]).trigger is E5
    assert g([Reason.REDIRECT_LOOP]).verdict is Verdict.HOLD  # no longer zero tolerance


def test_min_samples_hold() -> None:
    d = Guard(DEFAULT)([OK] * 12)
    assert d.verdict is Verdict.HOLD
    assert d.reason.startswith("12 samples < min 20: hold")


def test_min_samples_holds_a_pass_the_test_has_reached() -> None:
    # p0 = 0.01, p1 = 0.5, alpha = beta = 0.05: each pass adds ln(0.5/0.99) = -0.683,
    # the pass bound is ln(0.05/0.95) = -2.944, reached after 5 passes; min 20 holds it.
    g = guard(acceptable_rate=0.01, unacceptable_rate=0.5, false_rollback=0.05, missed_failure=0.05)
    assert 5 * math.log(0.5 / 0.99) <= math.log(0.05 / 0.95) < 4 * math.log(0.5 / 0.99)
    for n in range(1, 20):
        assert g([OK] * n).verdict is Verdict.HOLD, n
    assert g([OK] * 20).verdict is Verdict.PASS


def test_all_pass_reaches_pass_at_the_sprt_count() -> None:
    # n* = ceil(LOWER / PASS_STEP) = ceil(48.31) = 49
    assert math.ceil(LOWER / PASS_STEP) == 49
    g = Guard(DEFAULT)
    assert g([OK] * 48).verdict is Verdict.HOLD
    d = g([OK] * 49)
    assert d.verdict is Verdict.PASS
    assert d.log_likelihood_ratio == pytest.approx(49 * PASS_STEP)
    assert d.reason == "failure rate 0/49 (0 %) within acceptable 1 % (SPRT log-LR -4.67 ≤ -4.60)"


def test_one_failure_delays_the_pass_to_74() -> None:
    # FAIL_STEP + (n-1)·PASS_STEP ≤ LOWER  ⇔  n-1 ≥ 72.47  ⇔  n ≥ 74
    g = Guard(DEFAULT)
    assert g([E5] + [OK] * 72).verdict is Verdict.HOLD
    assert g([E5] + [OK] * 73).verdict is Verdict.PASS


def test_full_failure_fails_at_the_third_probe() -> None:
    # 2·FAIL_STEP = 4.61 < UPPER ≤ 3·FAIL_STEP = 6.91: below min_samples, on evidence alone
    g = Guard(DEFAULT)
    assert g([E5] * 2).verdict is Verdict.HOLD
    d = g([E5] * 3)
    assert d.verdict is Verdict.FAIL
    assert d.trigger is None
    assert d.reason == "failure rate 3/3 (100 %) exceeds acceptable 1 % (SPRT log-LR 6.91 ≥ 6.90)"


def test_one_pass_among_the_first_failures_needs_a_fourth() -> None:
    # 3·FAIL_STEP + PASS_STEP = 6.81 < UPPER
    g = Guard(DEFAULT)
    assert g([OK, E5, E5, E5]).verdict is Verdict.HOLD
    assert g([OK, E5, E5, E5, E5]).verdict is Verdict.FAIL


def test_rate_failure_reason() -> None:
    d = Guard(DEFAULT)([E5] * 7 + [OK] * 33)
    assert d.verdict is Verdict.FAIL
    assert (d.samples, d.failures) == (40, 7)
    assert d.log_likelihood_ratio == pytest.approx(7 * FAIL_STEP + 33 * PASS_STEP)
    assert d.reason.startswith("failure rate 7/40 (17.5 %) exceeds acceptable 1 %")


def test_every_non_passing_reason_is_a_failure() -> None:
    g = guard(zero_tolerance=[])
    for reason in Reason:
        d = g([reason])
        assert d.failures == (0 if reason.passed else 1)


def test_flaky_counts_half_and_is_surfaced() -> None:
    assert FLAKY_WEIGHT == 0.5
    g = Guard(DEFAULT)
    # two flaky weigh one failure: same thresholds as test_one_failure_delays_the_pass_to_74
    assert g([FLAKY, FLAKY] + [OK] * 71).verdict is Verdict.HOLD
    d = g([FLAKY, FLAKY] + [OK] * 72)
    assert d.verdict is Verdict.PASS
    assert (d.failures, d.flaky) == (0, 2)
    assert "2 flaky × 0.5 = 1/74" in d.reason
    # six flaky (three failures' worth) fail like three failures would
    assert g([FLAKY] * 5).verdict is Verdict.HOLD
    assert g([FLAKY] * 6).verdict is Verdict.HOLD  # 3·2.30 + 3·(-0.095) = 6.62 < 6.90
    assert g([FLAKY] * 7).verdict is Verdict.FAIL  # 3.5·2.30 + 3.5·(-0.095) = 7.73


def test_intermediate_rate_holds() -> None:
    d = Guard(DEFAULT)([E5] * 2 + [OK] * 38)
    assert d.verdict is Verdict.HOLD
    assert "undecided" in d.reason


# --- baseline -----------------------------------------------------------------------------

LOOSE = {"acceptable_rate": 0.05, "unacceptable_rate": 0.20}


def test_baseline_fails_what_the_absolute_test_holds() -> None:
    # q0 = 0.005 + 0.02 = 0.025, q1 = q0 + (0.20 - 0.05) = 0.175:
    # 4 failures + 5 passes: 4·ln(7) + 5·ln(0.825/0.975) = 6.95 ≥ 6.90
    # main test: 4·ln(4) + 5·ln(0.8/0.95) = 4.69 < 6.90
    results = [E5] * 4 + [OK] * 5
    assert 4 * math.log(7) + 5 * math.log(0.825 / 0.975) >= UPPER
    assert 4 * math.log(4) + 5 * math.log(0.8 / 0.95) < UPPER
    with_baseline = Guard(GuardPolicy(**LOOSE, baseline=True), baseline_rate=0.005)
    d = with_baseline(results)
    assert d.verdict is Verdict.FAIL
    assert "exceeds baseline 0.5 % + margin 2 %" in d.reason
    assert with_baseline([*results, OK]).verdict is Verdict.HOLD  # 6.78 < 6.90
    # off by policy, or no preflight measurement: only the absolute test
    assert Guard(GuardPolicy(**LOOSE), baseline_rate=0.005)(results).verdict is Verdict.HOLD
    assert Guard(GuardPolicy(**LOOSE, baseline=True))(results).verdict is Verdict.HOLD


def test_baseline_does_not_stop_a_healthy_stage_passing() -> None:
    g = Guard(GuardPolicy(**LOOSE, baseline=True), baseline_rate=0.005)
    assert g([OK] * 200).verdict is Verdict.PASS


def test_baseline_with_nothing_tolerated_is_skipped() -> None:
    g = Guard(GuardPolicy(**LOOSE, baseline=True, baseline_margin=0), baseline_rate=0.0)
    assert g.baseline_sprt is None
    assert g([E5] + [OK] * 8).verdict is Verdict.HOLD


def test_baseline_rate_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="baseline_rate"):
        Guard(DEFAULT, baseline_rate=3.0)


def test_sprt_bounds_validate() -> None:
    with pytest.raises(ValueError):
        SprtBounds(0.1, 0.1, 0.01, 0.01)
    with pytest.raises(ValueError):
        SprtBounds(0.01, 0.1, 0.6, 0.6)


# --- budget end ---------------------------------------------------------------------------


def test_budget_end_keeps_a_decision() -> None:
    g = Guard(DEFAULT)
    assert g.on_budget_end([OK] * 49).verdict is Verdict.PASS
    assert g.on_budget_end([E5] * 3).verdict is Verdict.FAIL
    assert g.on_budget_end([Reason.REDIRECT_LOOP]).trigger is Reason.REDIRECT_LOOP


def test_budget_end_fails_an_undecided_stage_by_default() -> None:
    d = Guard(DEFAULT).on_budget_end([OK] * 30)
    assert d.verdict is Verdict.FAIL
    assert d.reason.startswith("budget ended undecided after 30 samples")
    assert d.reason.endswith("on_budget: fail")


def test_budget_end_passes_only_when_the_policy_says_so_and_min_samples_met() -> None:
    g = guard(on_budget="pass")
    assert g.on_budget_end([OK] * 30).verdict is Verdict.PASS
    assert g.on_budget_end([OK] * 19).verdict is Verdict.FAIL
    assert g.on_budget_end([]).verdict is Verdict.FAIL
    assert g.on_budget_end([OK] * 19).reason.endswith("on_budget: pass needs 20 samples")


# --- properties ---------------------------------------------------------------------------


@st.composite
def policies(draw: st.DrawFn) -> GuardPolicy:
    p0 = draw(st.floats(0.001, 0.3))
    p1 = draw(st.floats(p0 * 1.2, 0.9))
    return GuardPolicy(
        acceptable_rate=p0,
        unacceptable_rate=p1,
        false_rollback=draw(st.floats(0.0001, 0.2)),
        missed_failure=draw(st.floats(0.0001, 0.2)),
        min_samples=draw(st.integers(1, 60)),
        on_budget=draw(st.sampled_from(["fail", "pass"])),
        baseline=draw(st.booleans()),
        baseline_margin=draw(st.floats(0, 0.2)),
    )


reasons_lists = st.lists(
    st.sampled_from([OK, FLAKY, E5, Reason.TIMEOUT, Reason.SLOW, *list(Reason)]), max_size=120
)
baselines = st.none() | st.floats(0, 0.5)


@given(policies(), baselines, reasons_lists)
def test_never_pass_below_min_samples(
    policy: GuardPolicy, b: float | None, rs: list[Reason]
) -> None:
    g = Guard(policy, baseline_rate=b)
    if len(rs) < policy.min_samples:
        assert g(rs).verdict is not Verdict.PASS
        assert g.on_budget_end(rs).verdict is Verdict.FAIL


@given(policies(), baselines, reasons_lists, st.sampled_from(ZERO_TOLERANCE_DEFAULT), st.data())
def test_never_pass_with_a_zero_tolerance_reason(
    policy: GuardPolicy, b: float | None, rs: list[Reason], zt: Reason, data: st.DataObject
) -> None:
    rs = list(rs)
    rs.insert(data.draw(st.integers(0, len(rs))), zt)
    g = Guard(policy, baseline_rate=b)
    for d in (g(rs), g.on_budget_end(rs)):
        assert d.verdict is Verdict.FAIL
        assert d.trigger in ZERO_TOLERANCE_DEFAULT


@given(policies(), baselines, reasons_lists, st.data())
def test_adding_a_failure_never_moves_fail_to_pass(
    policy: GuardPolicy, b: float | None, rs: list[Reason], data: st.DataObject
) -> None:
    g = Guard(policy, baseline_rate=b)
    before = g(rs)
    more = list(rs)
    more.insert(data.draw(st.integers(0, len(rs))), data.draw(st.sampled_from([E5, Reason.SLOW])))
    after = g(more)
    if before.verdict is Verdict.FAIL:
        assert after.verdict is Verdict.FAIL
    assert after.log_likelihood_ratio >= before.log_likelihood_ratio


@given(policies(), baselines, reasons_lists, reasons_lists)
def test_decision_is_a_pure_function_of_the_list(
    policy: GuardPolicy, b: float | None, rs: list[Reason], other: list[Reason]
) -> None:
    g = Guard(policy, baseline_rate=b)
    first = g(rs)
    g(other)
    g.on_budget_end(other)
    assert g(rs) == first
    assert g(tuple(rs)) == first
    assert Guard(policy, baseline_rate=b)(rs) == first
    # the incremental tally gives the same decision as counting the list
    tally = Tally()
    for r in rs:
        tally = tally.add(r, g.zero_tolerance)
    assert tally == g.tally(rs)
    assert g.decide(tally) == first
    # order within the list does not matter (only which zero-tolerance reason is named)
    assert g(list(reversed(rs))).verdict is first.verdict


@given(policies(), baselines, reasons_lists)
def test_budget_end_always_decides(policy: GuardPolicy, b: float | None, rs: list[Reason]) -> None:
    g = Guard(policy, baseline_rate=b)
    d = g.on_budget_end(rs)
    assert d.decided
    if d.verdict is Verdict.PASS:
        assert len(rs) >= policy.min_samples
        assert g(rs).verdict is Verdict.PASS or policy.on_budget == "pass"


# --- a small statistical check (seeded; no timing) ----------------------------------------


def run_stage(g: Guard, rate: float, rng: random.Random, round_size: int = 20) -> Decision:
    results: list[Reason] = []
    while len(results) < 500:
        results += [E5 if rng.random() < rate else OK for _ in range(round_size)]
        d = g(results)
        if d.decided:
            return d
    return g.on_budget_end(results)


def test_statistics_on_seeded_stages() -> None:
    g = Guard(DEFAULT)
    rng = random.Random(20180416)
    healthy = [run_stage(g, 0.01, rng) for _ in range(2000)]
    rollbacks = sum(d.verdict is Verdict.FAIL for d in healthy)
    assert rollbacks <= 4  # the benchmark measures ~0.01-0.02 %; alpha is 0.1 %
    broken = [run_stage(g, 0.20, rng) for _ in range(500)]
    assert all(d.verdict is Verdict.FAIL for d in broken)
    assert sum(d.samples for d in broken) / len(broken) < 40
    dead = [run_stage(g, 1.0, rng, round_size=1) for _ in range(50)]
    assert all(d.verdict is Verdict.FAIL and d.samples == 3 for d in dead)
