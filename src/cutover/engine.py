"""The engine: one run of a runbook, stage by stage, with automatic verified rollback.

For each enabled stage: gate → steps (journal ``intent`` with the prior state, apply,
journal ``applied``) → settle → probe rounds until the guard says pass or fail (or the
budget ends: then the policy decides) → next stage. When a guard fails, a step is
refused, or the operator stops the run, every applied step is rolled back, newest
first, and the rollback is verified by probes.

The engine knows no HTTP or file details: actions change things, the prober observes,
the journal remembers, the view shows. ``resume`` and ``rollback`` of an interrupted run
start by reconciling every step that has an ``intent`` but no ``applied`` against live
state, so no step is ever applied twice; ``resume`` then makes the effect of a step found
applied live (:meth:`~cutover.actions.base.Action.finish`: nginx tests and reloads).

A run first compares the runbook's final state with live state (``cutover.final_state``):
when it already holds, the run says so and ends without writing; otherwise each step whose
live state already equals its target is skipped (journaled ``skipped``, never undone).
``again`` forces the full sequence.

Nothing unexpected escapes as a traceback: an exception from any action, guard or probe
code during a stage fails that stage (rollback, verification, exit 1 only if verified);
one while undoing a step fails that step's undo (exit 3); anything else ends the run as
``needs_attention`` (exit 3, with the exact command). The traceback goes to the run's
log file (:func:`cutover.log.run_log_path`), not to the operator's screen. A run that
fails before any step was applied has changed nothing: it says so, with exit 1 (or 4
when stopped), and there is nothing to roll back or verify.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cutover import journal as jr
from cutover.actions.base import Action, Reconciled
from cutover.errors import ActionError, CutoverError, RunExit, TransientActionError
from cutover.events import EventKind, StepState
from cutover.final_state import final_state
from cutover.guards import Decision, Guard, Verdict
from cutover.journal import Journal
from cutover.log import log_traceback, run_log_path
from cutover.runbook.backends import StepBase
from cutover.runbook.kinds import action_for
from cutover.runbook.models import GuardPolicy, Runbook, Stage
from cutover.runbook.types import Model

MAX_FAILED_CHAINS = 1000  #: failed results (with their chains) kept per round in the journal
MAX_ROUNDS = 10_000  #: a stage never probes more rounds than this, whatever its budget
#: a step's undo is tried this many times (each with its backend's full retry budget) while
#: its failure is transient: undo is idempotent, and giving up leaves the change live
ROLLBACK_ATTEMPTS = 3


class Result(Protocol):
    """What the engine needs of a probe result (see ``cutover.probes``)."""

    @property
    def reason(self) -> Any: ...

    @property
    def ok(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


class Prober(Protocol):
    def probe(
        self,
        sets: Sequence[str],
        on_result: Callable[[Any], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Sequence[Result]: ...


View = Callable[[EventKind, dict[str, Any]], None]
Confirm = Callable[[Stage], bool]
ActionMaker = Callable[[Model, StepBase], Action]


class Interrupted(Exception):
    """The operator asked to stop (Ctrl-C, SIGTERM, a declined gate)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _FinishFailed(Exception):
    """Making a reconciled step's effect live failed: the run rolls back, as if its apply
    had failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Outcome:
    exit_code: int
    status: str
    message: str
    still_applied: list[str] = field(default_factory=list)


class Engine:
    """Runs, resumes or rolls back one run of one loaded runbook."""

    def __init__(
        self,
        runbook: Runbook,
        journal: Journal,
        prober: Prober,
        *,
        view: View,
        confirm: Confirm,
        actions: ActionMaker = action_for,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        again: bool = False,
    ) -> None:
        self.runbook = runbook
        self.journal = journal
        self.prober = prober
        self.view = view
        self.confirm = confirm
        self.make_action = actions
        self.stop = stop or threading.Event()
        self.clock = clock
        self.again = again  #: run every step, even those already at their target
        self.run_id = ""
        self.baseline: float | None = None

    # --- entry points -------------------------------------------------------------------------

    def run(self, run_id: str) -> Outcome:
        self.run_id = run_id
        return self._safely("running", self._run)

    def _already_at_target(self) -> bool:
        """Does live state already hold every step's final target? Journaled either way."""
        try:
            found = final_state(self.runbook, self._action)
        except Exception as exc:  # the first step's snapshot will meet it again
            error = self._error("comparing the final state with live state", exc)
            self._event(EventKind.FINAL_STATE_CHECKED, holds=False, error=error)
            return False
        if found.holds:
            self._event(EventKind.ALREADY_AT_TARGET, targets=[c.render() for c in found.targets])
            return True
        self._event(
            EventKind.FINAL_STATE_CHECKED,
            holds=False,
            differs=[c.render() for c in found.differs],
            unknown=found.unknown,
        )
        return False

    def resume(self, run_id: str) -> Outcome:
        """Finish an interrupted run: reconcile, then continue (or finish its rollback)."""
        self.run_id = run_id
        return self._safely("resuming", self._resume)

    def rollback(self, run_id: str, reason: str = "requested by the operator") -> Outcome:
        """Roll back every applied step of a run (after a crash, or by choice)."""
        self.run_id = run_id
        return self._safely("rolling back", lambda: self._rollback(reason))

    def _safely(self, doing: str, body: Callable[[], Outcome]) -> Outcome:
        """The last safety net: whatever escapes ``body`` ends the run as needs-attention,
        with the exact command to finish, never as a traceback."""
        try:
            return body()
        except Exception as exc:  # an error nobody foresaw: see the log
            return self._attention(f"cutover failed while {doing}: {self._error(doing, exc)}")

    def _run(self) -> Outcome:
        self._event(
            EventKind.RUN_STARTED, runbook=self.runbook.name, stages=len(self.runbook.stages)
        )
        if not self.again and self._already_at_target():
            self.journal.set_status(self.run_id, jr.COMPLETED, RunExit.OK)
            return Outcome(
                RunExit.OK,
                jr.COMPLETED,
                "already at target: live state holds the runbook's final state; nothing was"
                " written\n(pass --again to run the full sequence anyway)",
            )
        return self._drive(0, applied=set())

    def _resume(self) -> Outcome:
        run_id = self.run_id
        self.journal.adopt(run_id)
        self._event(EventKind.RESUMED)
        events = self.journal.events(run_id)
        rolling_back = [e for e in events if e.kind == EventKind.ROLLBACK_STARTED]
        try:
            steps = self._reconcile(finish=not rolling_back)
        except _FinishFailed as failed:
            return self._roll_back(failed.reason, RunExit.ROLLED_BACK)
        except Exception as exc:  # an action's error, or one nobody foresaw
            error = self._error("reconciling", exc)
            self._event(EventKind.RECONCILE_FAILED, error=error)
            return self._attention(f"cannot tell from live state what is applied: {error}")
        if rolling_back:
            reason = rolling_back[0].data.get("reason", "")
            # a rollback the operator asked for (Ctrl-C, a declined gate) still ends as one
            kinds = {e.kind for e in events}
            code = RunExit.STOPPED if EventKind.INTERRUPTED in kinds else RunExit.ROLLED_BACK
            return self._roll_back(f"finishing the interrupted rollback ({reason})", code)
        baseline = [e for e in events if e.kind == EventKind.BASELINE]
        if baseline:
            self.baseline = float(baseline[-1].data["rate"])
        passed = {
            e.stage for e in events if e.kind in (EventKind.STAGE_PASSED, EventKind.STAGE_SKIPPED)
        }
        start = next(
            (i for i, s in enumerate(self.runbook.stages) if s.name not in passed),
            len(self.runbook.stages),
        )
        applied = {(s.stage, s.step) for s in steps if s.status == EventKind.APPLIED}
        return self._drive(start, applied=applied)

    def _rollback(self, reason: str) -> Outcome:
        found = self.journal.find_run(self.run_id)
        if found is not None and found.finished and not self.journal.steps(self.run_id):
            return self._unchanged(reason, RunExit.OK)  # before `adopt`: keep its status
        self.journal.adopt(self.run_id)
        try:
            self._reconcile(finish=False)
        except Exception as exc:  # an action's error, or one nobody foresaw
            # the rollback reconciles each step again, and records what it cannot undo
            self._event(EventKind.RECONCILE_FAILED, error=self._error("reconciling", exc))
        return self._roll_back(reason, RunExit.OK)

    # --- the stage loop -----------------------------------------------------------------------

    def _drive(self, start: int, applied: set[tuple[str, int]]) -> Outcome:
        try:
            for index in range(start, len(self.runbook.stages)):
                stage = self.runbook.stages[index]
                try:
                    failed = self._stage(index, stage, applied)
                except Interrupted:
                    raise
                except Exception as exc:  # in an action, guard or probe: roll back
                    where = f"stage {stage.name!r}"
                    failed = f"{where}: {self._error(f'running {where}', exc)}"
                if failed is not None:
                    return self._roll_back(failed, RunExit.ROLLED_BACK)
        except Interrupted as stop:
            self._event(EventKind.INTERRUPTED, reason=stop.reason)
            return self._roll_back(stop.reason, RunExit.STOPPED)
        self._event(EventKind.RUN_COMPLETED)
        self.journal.set_status(self.run_id, jr.COMPLETED, RunExit.OK)
        return Outcome(RunExit.OK, jr.COMPLETED, "completed: every stage passed its guard")

    def _stage(self, index: int, stage: Stage, applied: set[tuple[str, int]]) -> str | None:
        """Run one stage; the failure reason, or None when it passed."""
        self._check_stop()
        if not stage.enabled:
            self._event(EventKind.STAGE_SKIPPED, stage=stage.name, index=index)
            return None
        self._event(EventKind.STAGE_STARTED, stage=stage.name, index=index, gate=stage.gate)
        if stage.gate == "confirm":
            if not self.confirm(stage):
                self._event(EventKind.GATE_DECLINED, stage=stage.name)
                raise Interrupted(f"gate before stage {stage.name!r} declined")
            self._event(EventKind.GATE_APPROVED, stage=stage.name)
        for number, step in enumerate(stage.steps):
            self._check_stop()
            if (stage.name, number) in applied:
                continue  # applied before a crash: never twice
            try:
                self._apply(stage, number, step)
            except ActionError as exc:
                self._event(
                    EventKind.APPLY_FAILED, stage=stage.name, step=number, error=exc.message
                )
                return f"step {step.name!r} failed: {exc.message}"
        if stage.settle and self.stop.wait(stage.settle):
            self._check_stop()
        decision = self._judge(stage.name, stage.probes, self.runbook.guard_for(stage))
        if stage.preflight:
            rate = decision.failures / decision.samples if decision.samples else 0.0
            self.baseline = rate
            self._event(EventKind.BASELINE, stage=stage.name, rate=rate)
        if decision.verdict is Verdict.FAIL:
            self._event(EventKind.STAGE_FAILED, stage=stage.name, reason=decision.reason)
            return f"stage {stage.name!r}: {decision.reason}"
        self._event(EventKind.STAGE_PASSED, stage=stage.name, reason=decision.reason)
        return None

    def _apply(self, stage: Stage, number: int, step: StepBase) -> None:
        action = self._action(step)
        with action:
            prior = action.snapshot()
            if not self.again and action.at_target(prior):
                self._event(
                    EventKind.SKIPPED,
                    stage=stage.name,
                    step=number,
                    name=step.name,
                    reason="already at target: live state holds what the step would write",
                )
                return
            self._event(
                EventKind.INTENT,
                stage=stage.name,
                step=number,
                name=step.name,
                backend=step.backend,
                prior=prior,
            )
            record = action.apply(prior)
            self._event(
                EventKind.APPLIED, stage=stage.name, step=number, name=step.name, record=record
            )

    def _judge(
        self, label: str, sets: Sequence[str], policy: GuardPolicy, *, interruptible: bool = True
    ) -> Decision:
        """Probe rounds until the guard decides, or the budget ends.

        Verifying a rollback is not interruptible by the first Ctrl-C (that one asked for
        the rollback); a second Ctrl-C still stops everything at once.
        """
        guard = Guard(policy, baseline_rate=self.baseline if policy.baseline else None)
        if not sets:
            decision = Decision(Verdict.PASS, "no probes in this stage", 0, 0, 0.0, None)
            self._event(
                EventKind.GUARD, stage=label, verdict=decision.verdict.value, reason=decision.reason
            )
            return decision
        reasons: list[Any] = []
        started = self.clock()
        for number in range(1, MAX_ROUNDS + 1):
            if interruptible:
                self._check_stop()
            results = self.prober.probe(sets, *self._early_stop(guard, reasons, interruptible))
            reasons.extend(r.reason for r in results)
            decision = guard(reasons)
            if decision.verdict is Verdict.HOLD and self.clock() - started >= policy.budget:
                decision = guard.on_budget_end(reasons)
            self._round(label, number, results, decision)
            if decision.verdict is not Verdict.HOLD:
                return decision
        return guard.on_budget_end(reasons)

    def _early_stop(
        self, guard: Guard, earlier: Sequence[Any], interruptible: bool
    ) -> tuple[Callable[[Any], None], threading.Event]:
        """A round ends early once the guard can already fail (or the operator stops):
        decide as fast as the evidence allows, e.g. at the first redirect loop."""
        cancel = threading.Event()
        tally = guard.tally(earlier)

        def seen(result: Any) -> None:
            nonlocal tally
            tally = tally.add(result.reason, guard.zero_tolerance)
            if guard.decide(tally).verdict is Verdict.FAIL or (
                interruptible and self.stop.is_set()
            ):
                cancel.set()

        return seen, cancel

    def _round(
        self, label: str, number: int, results: Sequence[Result], decision: Decision
    ) -> None:
        failed = [r for r in results if not r.ok]
        counts = Counter(str(getattr(r.reason, "value", r.reason)) for r in results)
        self._event(
            EventKind.PROBE_ROUND,
            stage=label,
            round=number,
            probes=len(results),
            failed=len(failed),
            reasons=dict(counts),
            failures=[r.to_dict() for r in failed[:MAX_FAILED_CHAINS]],
        )
        self._event(
            EventKind.GUARD,
            stage=label,
            verdict=decision.verdict.value,
            reason=decision.reason,
            samples=decision.samples,
            failures=decision.failures,
        )

    # --- rollback -----------------------------------------------------------------------------

    def _roll_back(self, reason: str, success_code: RunExit) -> Outcome:
        """Undo every step that may be applied, newest first, then verify with probes."""
        if success_code is not RunExit.OK and not self.journal.steps(self.run_id):
            return self._unchanged(reason, success_code)
        if not self.runbook.rollback.automatic and success_code is RunExit.ROLLED_BACK:
            still = self._still_applied()
            self._event(EventKind.ROLLBACK_SKIPPED, reason=reason)
            self.journal.set_status(self.run_id, jr.NEEDS_ATTENTION, RunExit.NEEDS_ATTENTION)
            return Outcome(
                RunExit.NEEDS_ATTENTION,
                jr.NEEDS_ATTENTION,
                f"{reason}; automatic rollback is off: run `cutover rollback {self.run_id}`",
                still,
            )
        self._event(EventKind.ROLLBACK_STARTED, reason=reason)
        failures: list[str] = []
        undone: set[str] = set()
        for state in reversed(self.journal.steps(self.run_id)):
            if not state.maybe_applied:
                continue
            try:
                if self._undo_persistently(state):
                    undone.add(state.stage)
            except Exception as exc:  # an action's error, or one nobody foresaw
                error = self._error(f"undoing {state.stage}/{state.name}", exc)
                self._event(
                    EventKind.ROLLBACK_FAILED, stage=state.stage, step=state.step, error=error
                )
                failures.append(f"{state.stage}/{state.name}: {error}")
        if failures:
            return self._attention(f"{reason}; the rollback failed: " + "; ".join(failures))
        verify = self.runbook.rollback
        if verify.verify:
            try:
                self._settle_undone(undone)
                policy = self.runbook.guard.model_copy(
                    update={"budget": verify.budget, "baseline": False}
                )
                decision = self._judge("rollback", verify.verify, policy, interruptible=False)
                unverified = None if decision.verdict is Verdict.PASS else decision.reason
            except Exception as exc:  # in the probes or the guard
                unverified = self._error("verifying the rollback", exc)
            if unverified is not None:
                self._event(EventKind.ROLLBACK_UNVERIFIED, reason=unverified)
                return self._attention(
                    f"{reason}; the rollback could not be verified: {unverified}"
                )
        self._event(EventKind.ROLLBACK_VERIFIED, reason=reason)
        status = jr.STOPPED if success_code is RunExit.STOPPED else jr.ROLLED_BACK
        if success_code is RunExit.OK:
            status = jr.ROLLED_BACK
        self.journal.set_status(self.run_id, status, success_code)
        verified = "verified by probes" if verify.verify else "not verified (no probe sets)"
        return Outcome(success_code, status, f"{reason}; rolled back, {verified}")

    def _undo_persistently(self, state: StepState) -> bool:
        """Undo one step, retrying transient failures; False when it was never applied."""
        for attempt in range(1, ROLLBACK_ATTEMPTS + 1):
            try:
                return self._undo(state)
            except TransientActionError as exc:
                if attempt == ROLLBACK_ATTEMPTS:
                    raise
                self._event(
                    EventKind.ROLLBACK_RETRY,
                    stage=state.stage,
                    step=state.step,
                    attempt=attempt,
                    error=exc.message,
                )
        raise AssertionError("unreachable")  # pragma: no cover  (the last attempt raises)

    def _undo(self, state: StepState) -> bool:
        """Undo one step; False when live state shows it was never applied."""
        step = self._step_model(state)
        action = self._action(step)
        with action:
            if state.status == EventKind.INTENT:
                found = action.reconcile(state.prior, None)
                if found is Reconciled.NOT_APPLIED:
                    self._event(
                        EventKind.NOT_APPLIED, stage=state.stage, step=state.step, name=state.name
                    )
                    return False
            action.rollback(state.prior, state.record)
            self._event(EventKind.ROLLED_BACK, stage=state.stage, step=state.step, name=state.name)
        return True

    def _settle_undone(self, stages: set[str]) -> None:
        """Before verifying, wait ``rollback.settle``, by default the longest ``settle`` of
        the stages just undone.

        An undo takes effect as asynchronously as the apply did (``nginx -s reload``
        returns before the new workers answer), so probing at once could judge the old
        configuration. Not interruptible, like the verification itself.
        """
        settle = self.runbook.rollback.settle
        if settle is None:
            settle = max((s.settle for s in self.runbook.stages if s.name in stages), default=0.0)
        if settle > 0:
            time.sleep(settle)

    def _unchanged(self, reason: str, success_code: RunExit) -> Outcome:
        """No step of this run was ever applied: nothing to undo, nothing to verify.

        A failed run (a failed preflight, say) ends ``failed`` with exit 1, a stopped one
        ``stopped`` with exit 4; ``cutover rollback`` of such a finished run is a no-op
        (exit 0) that keeps its status. (An *interrupted* run with nothing applied is
        rolled back as usual: the rollback verifies the world and finishes the run.)
        """
        self._event(EventKind.NOTHING_CHANGED, reason=reason)
        if success_code is RunExit.OK:
            found = self.journal.find_run(self.run_id)
            assert found is not None  # `_rollback` found it finished
            message = "nothing to roll back: no step of this run was ever applied"
            return Outcome(RunExit.OK, found.status, message)
        status = jr.STOPPED if success_code is RunExit.STOPPED else jr.FAILED
        self.journal.set_status(self.run_id, status, success_code)
        return Outcome(
            success_code, status, f"{reason}; nothing was changed (no step had been applied)"
        )

    def _error(self, doing: str, exc: Exception) -> str:
        """What went wrong, for the journal and the outcome: a deliberate error's message,
        or for an unexpected one its type and text, its traceback in the run's log file."""
        if isinstance(exc, CutoverError):
            return exc.message
        logged = log_traceback(run_log_path(self.journal.local_dir, self.run_id), doing, exc)
        error = f"unexpected {type(exc).__name__}: {exc}"
        self._event(EventKind.UNEXPECTED_ERROR, doing=doing, error=error, log=logged)
        return f"{error} (traceback in {logged})"

    def _attention(self, message: str) -> Outcome:
        still = self._still_applied()
        self.journal.set_status(self.run_id, jr.NEEDS_ATTENTION, RunExit.NEEDS_ATTENTION)
        self._event(EventKind.NEEDS_ATTENTION, message=message, still_applied=still)
        return Outcome(
            RunExit.NEEDS_ATTENTION,
            jr.NEEDS_ATTENTION,
            f"{message}\nfinish with: cutover rollback {self.run_id}",
            still,
        )

    def _still_applied(self) -> list[str]:
        return self.journal.still_applied(self.run_id)

    # --- reconciliation after a crash ---------------------------------------------------------

    def _reconcile(self, *, finish: bool) -> list[StepState]:
        """Settle every step left at ``intent`` by asking live state; never re-apply.

        ``finish`` (resume): a step found applied has its effect made live
        (:meth:`Action.finish`: nginx tests and reloads, since the crash may have come
        between the write and the reload) before it is journaled ``applied``. Without
        it (rollback) the step stays at ``intent``: the rollback undoes it.
        """
        for state in self.journal.steps(self.run_id):
            if state.status != EventKind.INTENT:
                continue
            step = self._step_model(state)
            with self._action(step) as action:
                found = action.reconcile(state.prior, None)
                self._event(
                    EventKind.RECONCILED, stage=state.stage, step=state.step, found=found.value
                )
                if found is Reconciled.NOT_APPLIED:
                    self._event(
                        EventKind.NOT_APPLIED, stage=state.stage, step=state.step, name=state.name
                    )
                elif found is Reconciled.APPLIED and finish:
                    try:
                        record = action.finish(state.prior)
                    except ActionError as exc:
                        self._event(
                            EventKind.APPLY_FAILED,
                            stage=state.stage,
                            step=state.step,
                            error=exc.message,
                        )
                        raise _FinishFailed(f"step {state.name!r} failed: {exc.message}") from None
                    self._event(
                        EventKind.APPLIED,
                        stage=state.stage,
                        step=state.step,
                        name=state.name,
                        record=record,
                        reconciled=True,
                    )
        return self.journal.steps(self.run_id)

    # --- helpers ------------------------------------------------------------------------------

    def _step_model(self, state: StepState) -> StepBase:
        for stage in self.runbook.stages:
            if stage.name == state.stage and state.step < len(stage.steps):
                return stage.steps[state.step]
        raise CutoverError(
            f"the journal names step {state.step} of stage {state.stage!r}, which this runbook"
            " no longer has",
            hint="roll back with the runbook version that made the run",
        )

    def _action(self, step: StepBase) -> Action:
        return self.make_action(self.runbook.backends[step.backend], step)

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Interrupted("stopped by the operator")

    def _event(
        self, kind: EventKind, *, stage: str | None = None, step: int | None = None, **data: Any
    ) -> None:
        self.journal.event(self.run_id, kind, stage=stage, step=step, **data)
        self.view(kind, {"stage": stage, "step": step, **data})
