"""Reconciliation after a crash: every step left at ``intent`` is settled by asking live
state, so no step is ever applied twice.

``resume`` and ``rollback`` of an interrupted run start here. A step found not applied is
journaled ``not_applied``; with ``finish`` (resume) a step found applied has its effect
made live (:meth:`~cutover.actions.base.Action.finish`: nginx tests and reloads, since the
crash may have come between the write and the reload) before it is journaled ``applied``.
"""

from __future__ import annotations

from cutover.actions.base import Reconciled
from cutover.errors import ActionError
from cutover.events import EventKind, StepState
from cutover.run_context import RunContext


class FinishFailed(Exception):
    """Making a reconciled step's effect live failed: the run rolls back, as if its apply
    had failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def reconcile(run: RunContext, *, finish: bool) -> list[StepState]:
    """Settle every step left at ``intent`` by asking live state; never re-apply.

    ``finish`` (resume): a step found applied has its effect made live before it is
    journaled ``applied``. Without it (rollback) the step stays at ``intent``: the
    rollback undoes it. Returns every step's state afterwards.
    """
    for state in run.journal.steps(run.run_id):
        if state.status != EventKind.INTENT:
            continue
        step = run.step_model(state)
        with run.action(step) as action:
            found = action.reconcile(state.prior, None)
            run.event(EventKind.RECONCILED, stage=state.stage, step=state.step, found=found.value)
            if found is Reconciled.NOT_APPLIED:
                run.event(
                    EventKind.NOT_APPLIED, stage=state.stage, step=state.step, name=state.name
                )
            elif found is Reconciled.APPLIED and finish:
                try:
                    record = action.finish(state.prior)
                except ActionError as exc:
                    run.event(
                        EventKind.APPLY_FAILED,
                        stage=state.stage,
                        step=state.step,
                        error=exc.message,
                    )
                    raise FinishFailed(f"step {state.name!r} failed: {exc.message}") from None
                run.event(
                    EventKind.APPLIED,
                    stage=state.stage,
                    step=state.step,
                    name=state.name,
                    record=record,
                    reconciled=True,
                )
    return run.journal.steps(run.run_id)
