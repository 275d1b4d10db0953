"""Guards: the decision over a stage's probe results (pass, hold or fail).

A guard is a configurable callable (the structlog-processor shape): settings in
``__init__``, work in ``__call__``. The engine calls it after every probe round with
*all* of the stage's results so far, in order, and stops probing at the first verdict
that is not ``hold``. The rules, in order of precedence (``docs/guards.md`` has the math):

1. **Zero tolerance.** A result whose reason is in ``policy.zero_tolerance`` fails the
   stage at once, whatever else was seen and however few results there are.
2. **Sequential test.** Wald's SPRT over Bernoulli failures weighs
   ``acceptable_rate`` (p0) against ``unacceptable_rate`` (p1) with error bounds
   ``false_rollback`` (alpha) and ``missed_failure`` (beta). The log-likelihood ratio
   ``L = f·ln(p1/p0) + (n-f)·ln((1-p1)/(1-p0))`` fails the stage when
   ``L ≥ ln((1-beta)/alpha)`` — at *any* sample count, even below ``min_samples``
   (Ville's inequality bounds the false-rollback probability by ``alpha/(1-beta)``
   however often the test is looked at) — and passes it when ``L ≤ ln(beta/(1-alpha))``
   and at least ``min_samples`` results are in.
3. **Baseline** (``policy.baseline`` and a preflight ``baseline_rate``): a second,
   fail-only sequential test of ``q = baseline_rate + baseline_margin`` against
   ``q + (p1 - p0)``, same alpha: fails when the rate is credibly above the tolerated
   ``q`` (skipped when ``q`` is 0 or 1).
4. Otherwise **hold**: fewer than ``min_samples`` results (zero included) never pass.

A result counts as a failure when ``not reason.passed``. A ``flaky`` result (passed only
after a retry) counts as **half** a failure for the rate (``FLAKY_WEIGHT``): its first
attempt failed, which a client without retries would have seen, but the download did
succeed, which a client with retries (pip) would see. It is reported separately
(``Decision.flaky``) and named in the reason.

Decisions depend only on the counts in the list (and, for the trigger, the first
zero-tolerance result), so they are deterministic, independent of the order results
completed in within a round, and computed in one O(n) pass (``Tally.of``); a caller that
keeps a ``Tally`` incrementally can use ``Guard.decide`` in O(1).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cutover.reasons import Reason
from cutover.runbook.models import GuardPolicy

__all__ = ["FLAKY_WEIGHT", "Decision", "Guard", "SprtBounds", "Tally", "Verdict"]

#: How much of a failure one ``flaky`` result counts for in the failure rate.
FLAKY_WEIGHT = 0.5


class Verdict(StrEnum):
    PASS = "pass"
    HOLD = "hold"
    FAIL = "fail"


@dataclass(frozen=True)
class Decision:
    """A guard's verdict on a stage's results so far, with the evidence behind it."""

    verdict: Verdict
    #: one human sentence: what was seen and which rule decided
    reason: str
    #: results judged (the whole list)
    samples: int
    #: results that did not pass (``not reason.passed``); flaky results are not in here
    failures: int
    #: the main SPRT statistic over all samples (0.0 on zero samples)
    log_likelihood_ratio: float
    #: the zero-tolerance reason that fired (the first one in the list), if any
    trigger: Reason | None = None
    #: results that passed only after a retry (counted as ``FLAKY_WEIGHT`` of a failure)
    flaky: int = 0

    @property
    def decided(self) -> bool:
        return self.verdict is not Verdict.HOLD


@dataclass(frozen=True)
class Tally:
    """The counts a decision depends on; build with ``Tally.of`` or grow with ``add``."""

    samples: int = 0
    failures: int = 0
    flaky: int = 0
    #: first zero-tolerance reason seen, if any
    trigger: Reason | None = None

    @classmethod
    def of(cls, reasons: Sequence[Reason], zero_tolerance: Iterable[Reason] = ()) -> Tally:
        """Count ``reasons`` in one pass (C-speed ``Counter``; a second scan only on a hit)."""
        counts = Counter(reasons)
        samples = len(reasons)
        ok = counts.get(Reason.OK, 0)
        flaky = counts.get(Reason.FLAKY, 0)
        zt = frozenset(zero_tolerance)
        trigger = None
        if any(r in counts for r in zt):
            trigger = next(r for r in reasons if r in zt)
        return cls(samples, samples - ok - flaky, flaky, trigger)

    def add(self, reason: Reason, zero_tolerance: Iterable[Reason] = ()) -> Tally:
        """This tally with one more result (for callers that count incrementally)."""
        trigger = self.trigger
        if trigger is None and reason in frozenset(zero_tolerance):
            trigger = reason
        return Tally(
            self.samples + 1,
            self.failures + (not reason.passed),
            self.flaky + (reason is Reason.FLAKY),
            trigger,
        )

    @property
    def weighted_failures(self) -> float:
        return self.failures + FLAKY_WEIGHT * self.flaky


@dataclass(frozen=True)
class SprtBounds:
    """Wald's sequential probability ratio test for a Bernoulli rate, p0 against p1."""

    p0: float
    p1: float
    alpha: float
    beta: float

    def __post_init__(self) -> None:
        if not 0 < self.p0 < self.p1 < 1:
            raise ValueError(f"need 0 < p0 < p1 < 1, got p0={self.p0}, p1={self.p1}")
        if not (0 < self.alpha < 1 and 0 < self.beta < 1 and self.alpha + self.beta < 1):
            raise ValueError(
                f"need 0 < alpha, beta and alpha + beta < 1, got {self.alpha}, {self.beta}"
            )

    @property
    def fail_step(self) -> float:
        """Log-LR added by one failure: ln(p1/p0) > 0."""
        return math.log(self.p1 / self.p0)

    @property
    def pass_step(self) -> float:
        """Log-LR added by one pass: ln((1-p1)/(1-p0)) < 0."""
        return math.log((1 - self.p1) / (1 - self.p0))

    @property
    def upper(self) -> float:
        """Fail at or above this: ln((1-beta)/alpha)."""
        return math.log((1 - self.beta) / self.alpha)

    @property
    def lower(self) -> float:
        """Pass at or below this: ln(beta/(1-alpha))."""
        return math.log(self.beta / (1 - self.alpha))

    def llr(self, samples: int, failures: float) -> float:
        return failures * self.fail_step + (samples - failures) * self.pass_step


def _pct(x: float) -> str:
    return f"{x * 100:.3g} %"


class Guard:
    """Decide pass, hold or fail over a stage's probe results, by ``policy``.

    ``baseline_rate`` is the failure rate measured in the preflight stage (a fraction);
    it is used only when ``policy.baseline`` is true.
    """

    def __init__(self, policy: GuardPolicy, *, baseline_rate: float | None = None) -> None:
        if baseline_rate is not None and not 0 <= baseline_rate <= 1:
            raise ValueError(f"baseline_rate must be a fraction in [0, 1], got {baseline_rate}")
        self.policy = policy
        self.baseline_rate = baseline_rate
        self.zero_tolerance = frozenset(policy.zero_tolerance)
        self.sprt = SprtBounds(
            policy.acceptable_rate,
            policy.unacceptable_rate,
            policy.false_rollback,
            policy.missed_failure,
        )
        self.baseline_sprt: SprtBounds | None = None
        if policy.baseline and baseline_rate is not None:
            # A tolerated rate of 0 (perfect preflight, margin 0) would make every failure
            # infinite evidence, i.e. zero tolerance for all reasons; that is what
            # `zero_tolerance` is for, so the comparison is skipped (and so is it at >= 1).
            q0 = baseline_rate + policy.baseline_margin
            if 0 < q0 < 1:
                q1 = min(q0 + (policy.unacceptable_rate - policy.acceptable_rate), (q0 + 1) / 2)
                self.baseline_sprt = SprtBounds(
                    q0, q1, policy.false_rollback, policy.missed_failure
                )
        # Precomputed once: decide() is O(1).
        self._fail_step = self.sprt.fail_step
        self._pass_step = self.sprt.pass_step
        self._upper = self.sprt.upper
        self._lower = self.sprt.lower

    def __repr__(self) -> str:
        return f"Guard({self.policy!r}, baseline_rate={self.baseline_rate!r})"

    def tally(self, reasons: Sequence[Reason]) -> Tally:
        return Tally.of(reasons, self.zero_tolerance)

    def __call__(self, reasons: Sequence[Reason]) -> Decision:
        """The decision over all of a stage's results so far, in order."""
        return self.decide(self.tally(reasons))

    def decide(self, tally: Tally) -> Decision:
        """The decision over a tally (what ``__call__`` does after counting)."""
        n, fails, flaky = tally.samples, tally.failures, tally.flaky
        weighted = tally.weighted_failures
        llr = weighted * self._fail_step + (n - weighted) * self._pass_step

        def decision(verdict: Verdict, reason: str) -> Decision:
            return Decision(verdict, reason, n, fails, llr, tally.trigger, flaky)

        if tally.trigger is not None:
            return decision(Verdict.FAIL, f"{tally.trigger} seen (zero tolerance)")
        if n == 0:
            return decision(Verdict.HOLD, "no samples yet: hold")

        observed = self._observed(tally)
        p = self.policy
        if llr >= self._upper:
            return decision(
                Verdict.FAIL,
                f"failure rate {observed} exceeds acceptable {_pct(p.acceptable_rate)} "
                f"(SPRT log-LR {llr:.2f} ≥ {self._upper:.2f})",
            )
        if self.baseline_sprt is not None:
            b = self.baseline_sprt
            blr = b.llr(n, weighted)
            if blr >= b.upper:
                return decision(
                    Verdict.FAIL,
                    f"failure rate {observed} exceeds baseline {_pct(self.baseline_rate or 0.0)}"
                    f" + margin {_pct(p.baseline_margin)} "
                    f"(baseline log-LR {blr:.2f} ≥ {b.upper:.2f})",
                )
        if n < p.min_samples:
            return decision(
                Verdict.HOLD,
                f"{n} samples < min {p.min_samples}: hold (failure rate {observed}, "
                f"SPRT log-LR {llr:.2f})",
            )
        if llr <= self._lower:
            return decision(
                Verdict.PASS,
                f"failure rate {observed} within acceptable {_pct(p.acceptable_rate)} "
                f"(SPRT log-LR {llr:.2f} ≤ {self._lower:.2f})",
            )
        return decision(
            Verdict.HOLD,
            f"failure rate {observed}: undecided (SPRT log-LR {llr:.2f} between "
            f"{self._lower:.2f} and {self._upper:.2f}): hold",
        )

    def on_budget_end(self, reasons: Sequence[Reason]) -> Decision:
        """The final decision when the stage's time budget ends; never ``hold``.

        A decided verdict stands. An undecided one (hold) becomes ``pass`` only when the
        policy says ``on_budget: pass`` *and* at least ``min_samples`` results are in;
        otherwise it becomes ``fail``: holding is not passing, and zero samples never pass.
        """
        d = self(reasons)
        if d.decided:
            return d
        if self.policy.on_budget == "pass" and d.samples >= self.policy.min_samples:
            verdict, why = Verdict.PASS, "on_budget: pass"
        elif self.policy.on_budget == "pass":
            verdict, why = Verdict.FAIL, f"on_budget: pass needs {self.policy.min_samples} samples"
        else:
            verdict, why = Verdict.FAIL, "on_budget: fail"
        return Decision(
            verdict,
            f"budget ended undecided after {d.samples} samples [{d.reason}]: {why}",
            d.samples,
            d.failures,
            d.log_likelihood_ratio,
            d.trigger,
            d.flaky,
        )

    def _observed(self, tally: Tally) -> str:
        n = tally.samples
        if tally.flaky:
            w = tally.weighted_failures
            return (
                f"{tally.failures} + {tally.flaky} flaky × {FLAKY_WEIGHT:g} = {w:g}/{n} "
                f"({_pct(w / n)})"
            )
        return f"{tally.failures}/{n} ({_pct(tally.failures / n)})"
