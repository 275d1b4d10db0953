"""The runbook model (format v1): what a runbook file may say, validated by pydantic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from cutover.metrics.checks import MAX_CHECKS, MetricCheck
from cutover.metrics.sources import AnyMetricSource
from cutover.reasons import ZERO_TOLERANCE_DEFAULT, Reason
from cutover.runbook.control_models import Gate, NotifyTarget, ReportFile, gate_shorthand
from cutover.runbook.environment import Environment
from cutover.runbook.kinds import KINDS, AnySettings, AnyStep
from cutover.runbook.probe_models import ProbeSet
from cutover.runbook.rollback_purge import RollbackPurge
from cutover.runbook.state_settings import StateSettings
from cutover.runbook.types import Duration, Model

#: a step and a backend's settings, of any kind registered when the runbook is validated
Step = AnyStep
Backend = AnySettings


class GuardPolicy(Model):
    """How a stage's probe results are judged (see docs/guards.md).

    Zero-tolerance reasons fail at once. Otherwise a sequential probability ratio test
    weighs ``acceptable_rate`` against ``unacceptable_rate`` with error bounds
    ``false_rollback`` (deciding fail when all is well) and ``missed_failure`` (deciding
    pass when it is not). Fewer than ``min_samples`` results never pass.
    """

    zero_tolerance: list[Reason] = Field(default_factory=lambda: list(ZERO_TOLERANCE_DEFAULT))
    acceptable_rate: float = Field(0.01, gt=0, lt=1, description="failure rate that is fine")
    unacceptable_rate: float = Field(0.10, gt=0, lt=1, description="failure rate that is not")
    false_rollback: float = Field(0.001, gt=0, lt=0.5, description="alpha of the sequential test")
    missed_failure: float = Field(0.01, gt=0, lt=0.5, description="beta of the sequential test")
    min_samples: int = Field(20, ge=1, le=100_000, description="never pass on fewer results")
    budget: Duration = Field(120.0, gt=0, description="time a stage may probe before deciding")
    on_budget: Literal["fail", "pass"] = Field(
        "fail", description="decision when the budget ends undecided (holding is not passing)"
    )
    baseline: bool = Field(
        False, description="also fail if the rate exceeds the preflight rate by `baseline_margin`"
    )
    baseline_margin: float = Field(0.02, ge=0, le=1)
    interval: Duration = Field(1.0, description="time between probe rounds (docs/guards.md)")
    min_duration: Duration = Field(
        0.0, description="a stage cannot pass before it has been probed this long"
    )
    metrics: list[MetricCheck] = Field(
        default_factory=list,
        max_length=MAX_CHECKS,
        description="metric checks judged with the probes (docs/guards.md)",
    )

    @model_validator(mode="after")
    def _rates_ordered(self) -> GuardPolicy:
        if self.unacceptable_rate <= self.acceptable_rate:
            raise ValueError(
                f"`unacceptable_rate` ({self.unacceptable_rate:g}) must be greater than"
                f" `acceptable_rate` ({self.acceptable_rate:g})"
            )
        if self.min_duration > self.budget:
            raise ValueError(
                f"`min_duration` ({self.min_duration:g}s) must not exceed `budget`"
                f" ({self.budget:g}s): the stage could never pass"
            )
        return self


def _constrained(info: FieldInfo) -> Any:
    """A field's type with its constraints (bounds, validators) attached."""
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


#: A stage's override: any subset of the guard policy fields, each with the same bounds
#: as in the policy. The rules across fields are checked on the merged, effective policy
#: (:meth:`Runbook._effective_guards`).
GuardOverride = create_model(  # type: ignore[call-overload]
    "GuardOverride",
    __base__=Model,
    **{name: (_constrained(info) | None, None) for name, info in GuardPolicy.model_fields.items()},
)


class Stage(Model):
    name: str = Field(min_length=1)
    description: str = ""
    enabled: bool = Field(True, description="false skips the stage (templatable)")
    gate: Annotated[Gate | None, BeforeValidator(gate_shorthand)] = Field(
        None, description="`confirm`, or {confirm, on_decline, approvers}: docs/run.md"
    )
    steps: list[Step] = Field(default_factory=list)
    settle: Duration = Field(0.0, description="wait after the steps before probing")
    pause: Duration | None = Field(
        None, description="a timed soak after the stage passed (`cutover promote` ends it)"
    )
    probes: list[str] = Field(default_factory=list, description="probe sets to run (names)")
    guard: GuardOverride | None = None
    preflight: bool = Field(
        False, description="this stage measures the baseline failure rate (no steps)"
    )


class RollbackPolicy(Model):
    automatic: bool = Field(True, description="roll back by itself when a guard fails")
    verify: list[str] = Field(default_factory=list, description="probe sets that verify it")
    budget: Duration = Field(60.0, gt=0, description="time the verification may take")
    settle: Duration | None = Field(
        None,
        description="wait after undoing, before verifying (default: the longest `settle` of"
        " the stages undone)",
    )
    purge: list[RollbackPurge] = Field(
        default_factory=list,
        description="CDN purges after undoing, before verifying (a cached redirect stops)",
    )


class Runbook(Model):
    version: Literal[1] = 1
    name: str = Field(min_length=1)
    description: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)
    environments: dict[str, Environment] = Field(min_length=1)
    backends: dict[str, Backend] = Field(default_factory=dict)
    metric_sources: dict[str, AnyMetricSource] = Field(
        default_factory=dict, description="where metric checks' values come from, by name"
    )
    probes: dict[str, ProbeSet] = Field(default_factory=dict)
    guard: GuardPolicy = Field(default_factory=GuardPolicy)
    stages: list[Stage] = Field(min_length=1)
    rollback: RollbackPolicy = Field(default_factory=RollbackPolicy)
    state: StateSettings = Field(default_factory=StateSettings)
    notify: list[NotifyTarget] = Field(
        default_factory=list, description="where notifications go (docs/notify.md)"
    )
    report: ReportFile | None = Field(
        None, description="the run's report file, written when it ends (docs/report.md)"
    )

    @model_validator(mode="before")
    @classmethod
    def _steps_take_their_backend_kind(cls, data: Any) -> Any:
        """Each step's kind is its backend's kind; it selects the step's model."""
        if not isinstance(data, dict):
            return data
        backends = data.get("backends")
        stages = data.get("stages")
        if not isinstance(backends, dict) or not isinstance(stages, list):
            return data
        known = KINDS.names()
        kinds = {
            name: b.get("kind")
            for name, b in backends.items()
            if isinstance(b, dict) and isinstance(b.get("kind"), str) and b["kind"] in known
        }
        new_stages = []
        for stage in stages:
            if isinstance(stage, dict) and isinstance(stage.get("steps"), list):
                steps = [
                    {"kind": kinds[s["backend"]], **s}
                    if isinstance(s, dict)
                    and "kind" not in s
                    and isinstance(s.get("backend"), str)
                    and isinstance(kinds.get(s["backend"]), str)
                    else s
                    for s in stage["steps"]
                ]
                stage = {**stage, "steps": steps}
            new_stages.append(stage)
        return {**data, "stages": new_stages}

    @model_validator(mode="after")
    def _effective_guards(self) -> Runbook:
        """Every stage's effective guard policy (its override merged over ``guard``) is
        valid, so a runbook that loads never fails when a stage starts; each problem is
        located at the override."""
        errors: list[InitErrorDetails] = []
        for index, stage in enumerate(self.stages):
            if stage.guard is None:
                continue
            try:
                self.guard_for(stage)
            except ValidationError as exc:
                errors.extend(_at_override(exc, index, stage.guard.model_dump(exclude_none=True)))
        if errors:
            raise ValidationError.from_exception_data("Runbook", errors)
        return self

    def guard_for(self, stage: Stage) -> GuardPolicy:
        """The stage's effective guard policy: the default with its overrides."""
        if stage.guard is None:
            return self.guard
        update = stage.guard.model_dump(exclude_none=True)
        return GuardPolicy.model_validate({**self.guard.model_dump(), **update})


def _at_override(
    exc: ValidationError, index: int, override: dict[str, Any]
) -> list[InitErrorDetails]:
    """The errors of a stage's effective guard policy, located at its override: at the
    overridden key the message names (a rule across fields), else at ``guard``."""
    out: list[InitErrorDetails] = []
    for err in exc.errors(include_url=False):
        message = str(err["msg"]).removeprefix("Value error, ")
        key = next((k for k in override if f"`{k}`" in message), None)
        loc = err["loc"] or ((key,) if key else ())
        out.append(
            {
                "type": PydanticCustomError(
                    "effective_guard",
                    "{message} (in this stage's effective guard)",
                    {
                        "message": message,
                        "hint": "a stage's guard is the runbook's `guard` with its override"
                        " on top: override the other value too, or change the default",
                    },
                ),
                "loc": ("stages", index, "guard", *loc),
                "input": override,
            }
        )
    return out
