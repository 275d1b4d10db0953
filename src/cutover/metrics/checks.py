"""What a guard's ``metrics:`` list may say: one metric check each (docs/guards.md).

A check names a configured metric source (``metric_sources:``), a query in that source's
language, and exactly one way to judge each value: Argo-style conditions
(``success_condition`` / ``failure_condition``, expressions over ``result``), a
Flagger-style ``threshold`` range, or a Kayenta-like ``baseline`` ("not more than +X %
over the value measured before the stage's first step"). Every number is bounded.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from cutover.metrics.expression import ExpressionError, parse
from cutover.runbook.types import Duration, Model

#: the names a condition may use: the measured value, and the baseline (when measured)
CONDITION_NAMES = ("result", "baseline")
MAX_CHECKS = 50  #: metric checks in one guard


class Threshold(Model):
    """Flagger-style range: a value below ``min`` or above ``max`` fails."""

    min: float | None = Field(None, ge=-1e15, le=1e15, description="fail below this")
    max: float | None = Field(None, ge=-1e15, le=1e15, description="fail above this")

    @model_validator(mode="after")
    def _range(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("a threshold needs `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` ({self.min:g}) must not be above `max` ({self.max:g})")
        return self


class BaselineRule(Model):
    """Fail when the value exceeds the one measured before the stage's first step by more
    than ``max_increase`` percent (plus ``slack``, an absolute allowance for a baseline
    of zero)."""

    max_increase: float = Field(
        ge=0, le=100_000, description="percent over the baseline that still passes"
    )
    slack: float = Field(
        0.0, ge=0, le=1e15, description="absolute amount added to the limit (for a baseline of 0)"
    )

    def limit(self, baseline: float) -> float:
        return baseline * (1 + self.max_increase / 100) + self.slack


class MetricCheck(Model):
    """One metric measured every ``interval`` during a stage, and how it is judged."""

    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="names the check in decisions and the journal",
    )
    source: str = Field(min_length=1, description="a name under `metric_sources`")
    query: str = Field(
        min_length=1, max_length=4000, description="in the source's language (PromQL, …)"
    )
    success_condition: str | None = Field(
        None, max_length=500, description="passes when true (over `result`, `baseline`)"
    )
    failure_condition: str | None = Field(
        None, max_length=500, description="fails when true (over `result`, `baseline`)"
    )
    threshold: Threshold | None = None
    baseline: BaselineRule | None = None
    interval: Annotated[Duration, Field(ge=0.1, le=3600)] = Field(
        5.0, description="time between measurements"
    )
    count: int = Field(
        3, ge=1, le=10_000, description="measurements that must be taken before it can pass"
    )
    failure_limit: int = Field(
        0, ge=0, le=10_000, description="failed measurements tolerated (one more fails)"
    )
    inconclusive_limit: int = Field(
        0, ge=0, le=10_000, description="inconclusive measurements tolerated (one more fails)"
    )
    no_data: Literal["fail", "pass", "inconclusive"] = Field(
        "inconclusive", description="what an empty answer or NaN counts as"
    )

    @field_validator("success_condition", "failure_condition")
    @classmethod
    def _condition_parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse(value, CONDITION_NAMES)
            except ExpressionError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _one_way_to_judge(self) -> MetricCheck:
        conditions = self.success_condition is not None or self.failure_condition is not None
        ways = [
            w
            for w, given in (
                ("`success_condition`/`failure_condition`", conditions),
                ("`threshold`", self.threshold is not None),
                ("`baseline`", self.baseline is not None),
            )
            if given
        ]
        if len(ways) != 1:
            raise ValueError(
                "a metric check is judged by exactly one of `success_condition`/"
                f"`failure_condition`, `threshold` or `baseline` (found {len(ways)}"
                + (f": {', '.join(ways)}" if ways else "")
                + ")"
            )
        return self

    @property
    def uses_baseline(self) -> bool:
        """Does judging need the value measured before the stage's first step?"""
        if self.baseline is not None:
            return True
        return any(
            "baseline" in parse(c, CONDITION_NAMES).names
            for c in (self.success_condition, self.failure_condition)
            if c is not None
        )
