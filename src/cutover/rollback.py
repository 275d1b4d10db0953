"""Rolling a run back: every step that may be applied is undone, newest first (each from
its journaled prior state, transient failures retried), then, after the stages' settle
time, ``rollback.purge`` empties the CDN caches it names (:mod:`cutover.rollback_purges`)
and the rollback is verified by probes.

How it ends: verified (exit 1 after a failed guard or refused step, 4 when the operator
stopped, 0 when asked for), or needs-attention (exit 3, with the exact command) when an
undo failed or the verification did not pass. A run with no step ever applied changed
nothing: there is nothing to undo or verify (:func:`unchanged`).
"""

from __future__ import annotations

import time

from cutover import journal as jr
from cutover.actions.base import Reconciled
from cutover.errors import RunExit, TransientActionError
from cutover.events import EventKind, StepState
from cutover.guards import Verdict
from cutover.judging import judge
from cutover.rollback_purges import purge_after_rollback
from cutover.run_context import Outcome, RunContext

#: a step's undo is tried this many times (each with its backend's full retry budget) while
#: its failure is transient: undo is idempotent, and giving up leaves the change live
ROLLBACK_ATTEMPTS = 3


def roll_back(run: RunContext, reason: str, success_code: RunExit) -> Outcome:
    """Undo every step that may be applied, newest first, then verify with probes."""
    if success_code is not RunExit.OK and not run.journal.steps(run.run_id):
        return unchanged(run, reason, success_code)
    if not run.runbook.rollback.automatic and success_code is RunExit.ROLLED_BACK:
        still = run.still_applied()
        run.event(EventKind.ROLLBACK_SKIPPED, reason=reason)
        run.journal.set_status(run.run_id, jr.NEEDS_ATTENTION, RunExit.NEEDS_ATTENTION)
        return Outcome(
            RunExit.NEEDS_ATTENTION,
            jr.NEEDS_ATTENTION,
            f"{reason}; automatic rollback is off: run `cutover rollback {run.run_id}`",
            still,
        )
    run.event(EventKind.ROLLBACK_STARTED, reason=reason)
    undone, failures = _undo_newest_first(run)
    if failures:
        return run.attention(f"{reason}; the rollback failed: " + "; ".join(failures))
    verify = run.runbook.rollback
    if verify.verify or verify.purge:
        _settle_undone(run, undone)  # purged before the undo is live, a cache would refill
    purge_failures = purge_after_rollback(run)
    if purge_failures:
        return run.attention(
            f"{reason}; the purge after the rollback failed: " + "; ".join(purge_failures)
        )
    if verify.verify:
        unverified = _verify(run)
        if unverified is not None:
            run.event(EventKind.ROLLBACK_UNVERIFIED, reason=unverified)
            return run.attention(f"{reason}; the rollback could not be verified: {unverified}")
    run.event(EventKind.ROLLBACK_VERIFIED, reason=reason)
    status = jr.STOPPED if success_code is RunExit.STOPPED else jr.ROLLED_BACK
    if success_code is RunExit.OK:
        status = jr.ROLLED_BACK
    run.journal.set_status(run.run_id, status, success_code)
    verified = "verified by probes" if verify.verify else "not verified (no probe sets)"
    return Outcome(success_code, status, f"{reason}; rolled back, {verified}")


def _undo_newest_first(run: RunContext) -> tuple[set[str], list[str]]:
    """Undo every step that may be applied, newest first: the stages that had a step
    undone, and what could not be undone (each failure journaled, the others still tried)."""
    failures: list[str] = []
    undone: set[str] = set()
    for state in reversed(run.journal.steps(run.run_id)):
        if not state.maybe_applied:
            continue
        try:
            if _undo_persistently(run, state):
                undone.add(state.stage)
        except Exception as exc:  # an action's error, or one nobody foresaw
            error = run.error(f"undoing {state.stage}/{state.name}", exc)
            run.event(EventKind.ROLLBACK_FAILED, stage=state.stage, step=state.step, error=error)
            failures.append(f"{state.stage}/{state.name}: {error}")
    return undone, failures


def _undo_persistently(run: RunContext, state: StepState) -> bool:
    """Undo one step, retrying transient failures; False when it was never applied."""
    for attempt in range(1, ROLLBACK_ATTEMPTS + 1):
        try:
            return _undo(run, state)
        except TransientActionError as exc:
            if attempt == ROLLBACK_ATTEMPTS:
                raise
            run.event(
                EventKind.ROLLBACK_RETRY,
                stage=state.stage,
                step=state.step,
                attempt=attempt,
                error=exc.message,
            )
    raise AssertionError("unreachable")  # pragma: no cover  (the last attempt raises)


def _undo(run: RunContext, state: StepState) -> bool:
    """Undo one step; False when live state shows it was never applied."""
    step = run.step_model(state)
    action = run.action(step)
    with action:
        if state.status == EventKind.INTENT:
            found = action.reconcile(state.prior, None)
            if found is Reconciled.NOT_APPLIED:
                run.event(
                    EventKind.NOT_APPLIED, stage=state.stage, step=state.step, name=state.name
                )
                return False
        action.rollback(state.prior, state.record)
        run.event(EventKind.ROLLED_BACK, stage=state.stage, step=state.step, name=state.name)
    return True


def _verify(run: RunContext) -> str | None:
    """Probe the rollback's verification sets under the runbook's guard (no baseline, the
    rollback's budget): why it is unverified, or None when it passed."""
    verify = run.runbook.rollback
    try:
        policy = run.runbook.guard.model_copy(
            update={"budget": verify.budget, "baseline": False, "min_duration": 0.0}
        )
        decision = judge(run, "rollback", verify.verify, policy, baseline=None, interruptible=False)
        return None if decision.verdict is Verdict.PASS else decision.reason
    except Exception as exc:  # in the probes or the guard
        return run.error("verifying the rollback", exc)


def _settle_undone(run: RunContext, stages: set[str]) -> None:
    """Before purging and verifying, wait ``rollback.settle``, by default the longest ``settle`` of
    the stages just undone.

    An undo takes effect as asynchronously as the apply did (``nginx -s reload``
    returns before the new workers answer), so probing at once could judge the old
    configuration. Not interruptible, like the verification itself.
    """
    settle = run.runbook.rollback.settle
    if settle is None:
        settle = max((s.settle for s in run.runbook.stages if s.name in stages), default=0.0)
    if settle > 0:
        time.sleep(settle)


def unchanged(run: RunContext, reason: str, success_code: RunExit) -> Outcome:
    """No step of this run was ever applied: nothing to undo, nothing to verify.

    A failed run (a failed preflight, say) ends ``failed`` with exit 1, a stopped one
    ``stopped`` with exit 4; ``cutover rollback`` of such a finished run is a no-op
    (exit 0) that keeps its status. (An *interrupted* run with nothing applied is
    rolled back as usual: the rollback verifies the world and finishes the run.)
    """
    run.event(EventKind.NOTHING_CHANGED, reason=reason)
    if success_code is RunExit.OK:
        found = run.journal.find_run(run.run_id)
        assert found is not None  # `Engine.rollback` found it finished
        message = "nothing to roll back: no step of this run was ever applied"
        return Outcome(RunExit.OK, found.status, message)
    status = jr.STOPPED if success_code is RunExit.STOPPED else jr.FAILED
    run.journal.set_status(run.run_id, status, success_code)
    return Outcome(
        success_code, status, f"{reason}; nothing was changed (no step had been applied)"
    )
