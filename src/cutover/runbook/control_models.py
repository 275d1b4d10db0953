"""What a runbook may say about the people around a run: gates, notifications, reports."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from cutover.runbook.types import Model, SecretRef, Timeout

#: The events a notification target may subscribe to (docs/notify.md), in run order.
NotifyEvent = Literal[
    "run_started",
    "stage_passed",
    "gate_waiting",
    "guard_failed",
    "rolled_back",
    "needs_attention",
    "completed",
]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = get_args(NotifyEvent)


class Gate(Model):
    """Before a stage: ask the operator at the terminal (``confirm``), and/or wait for
    ``approvers`` distinct people to run ``cutover approve RUN`` (docs/run.md, "Gates")."""

    confirm: bool = Field(False, description="ask at the terminal (or --yes) before the stage")
    on_decline: Literal["rollback", "hold"] = Field(
        "rollback",
        description="when the gate is declined (at the terminal or `cutover decline RUN`): roll"
        " back every applied step, or hold"
        " (leave them in place, exit 3; continue later with `cutover resume RUN`)",
    )
    approvers: int = Field(
        0, ge=0, le=10, description="distinct identities that must run `cutover approve RUN`"
    )

    @model_validator(mode="after")
    def _asks_someone(self) -> Gate:
        if not self.confirm and self.approvers == 0:
            raise ValueError("a gate needs `confirm: true` or `approvers` of at least 1")
        return self

    def describe(self) -> str:
        """``confirm``, ``2 approvers``, ``confirm, on decline: hold``… for views and rows."""
        parts = ["confirm"] if self.confirm else []
        if self.approvers:
            parts.append(f"{self.approvers} approver{'s' if self.approvers > 1 else ''}")
        if self.on_decline == "hold":
            parts.append("on decline: hold")
        return ", ".join(parts)


def gate_shorthand(value: object) -> object:
    """``gate: confirm`` (format v1's only gate) is ``gate: {confirm: true}``; any other
    text is refused as a literal (``invalid value 'x'``, hint ``expected 'confirm'``)."""
    if value == "confirm":
        return {"confirm": True}
    if isinstance(value, str):
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": "'confirm'"}
        )
    return value


class NotifyTarget(Model):
    """Where notifications go: an apprise URL (from a secret reference: webhook URLs carry
    tokens) and which events it receives (docs/notify.md)."""

    url: SecretRef = Field(description="env:NAME or file:PATH holding an apprise URL")
    kind: str = Field("apprise", min_length=1, description="the notifier (a registered name)")
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS), description="events sent here (default all)"
    )
    timeout: Timeout = Field(5.0, description="bound of one delivery (connect and read)")
    link: str | None = Field(
        None, description="a URL template for the run's report, `{run_id}` filled in"
    )


class ReportFile(Model):
    """The run's report, written when the run (or its resume or rollback) ends
    (docs/report.md, "Written by the run"); ``--report FILE`` takes precedence."""

    path: str = Field(
        min_length=1,
        description="where: `{run_id}` filled in, relative to the runbook's folder; the"
        " suffix gives the format (.json, .md, else HTML)",
    )
