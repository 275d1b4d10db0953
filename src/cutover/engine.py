"""The engine: one run of a runbook, stage by stage, with automatic verified rollback.

For each enabled stage: gate → steps (journal ``intent`` with the prior state, apply,
journal ``applied``) → settle → probe rounds until the guard says pass or fail (or the
budget ends: then the policy decides) → next stage. When a guard fails, a step is
refused, or the operator stops the run, every applied step is rolled back, newest
first, and the rollback is verified by probes.

The engine knows no HTTP or file details: actions change things, the prober observes,
the journal remembers, the view shows. The pieces have their own modules: judging a
stage's probe rounds (:mod:`cutover.judging`), the rollback (:mod:`cutover.rollback`),
reconciliation after a crash (:mod:`cutover.reconcile`), and what they all share
(:mod:`cutover.run_context`). ``resume`` and ``rollback`` of an interrupted run
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

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field

from cutover import control
from cutover import journal as jr
from cutover.actions.base import planned_changes
from cutover.errors import ActionError, RunExit
from cutover.events import EventKind
from cutover.final_state import final_state
from cutover.guards import Verdict
from cutover.judging import judge
from cutover.metrics.stage import watch_metrics
from cutover.reconcile import FinishFailed, reconcile
from cutover.rollback import roll_back, unchanged
from cutover.run_context import (
    Confirm,
    Interrupted,
    Outcome,
    RunContext,
)
from cutover.runbook.backends import StepBase
from cutover.runbook.models import Stage

__all__ = ["Engine", "Interrupted", "Outcome"]


@dataclass(eq=False, repr=False)  # a repr would print the whole runbook
class Engine(RunContext):
    """Runs, resumes or rolls back one run of one loaded runbook."""

    _: KW_ONLY
    confirm: Confirm
    again: bool = False  #: run every step, even those already at their target
    baseline: float | None = field(default=None, init=False)  #: the preflight's failure rate

    # --- entry points -------------------------------------------------------------------------

    def run(self, run_id: str) -> Outcome:
        self.run_id = run_id
        return self._safely("running", self._run)

    def _already_at_target(self) -> bool:
        """Does live state already hold every step's final target? Journaled either way."""
        try:
            found = final_state(self.runbook, self.action)
        except Exception as exc:  # the first step's snapshot will meet it again
            error = self.error("comparing the final state with live state", exc)
            self.event(EventKind.FINAL_STATE_CHECKED, holds=False, error=error)
            return False
        if found.holds:
            self.event(EventKind.ALREADY_AT_TARGET, targets=[c.render() for c in found.targets])
            return True
        self.event(
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
            self.controls = control.Controller(self.journal, self.run_id, self.stop)
            self.controls.start()  # promote/abort/pause/approve from any terminal or host
            return body()
        except Exception as exc:  # an error nobody foresaw: see the log
            return self.attention(f"cutover failed while {doing}: {self.error(doing, exc)}")
        finally:
            if self.controls is not None:
                self.controls.close()

    def _run(self) -> Outcome:
        self.event(
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
        self.event(EventKind.RESUMED)
        events = self.journal.events(run_id)
        rolling_back = [e for e in events if e.kind == EventKind.ROLLBACK_STARTED]
        try:
            steps = reconcile(self, finish=not rolling_back)
        except FinishFailed as failed:
            return roll_back(self, failed.reason, RunExit.ROLLED_BACK)
        except Exception as exc:  # an action's error, or one nobody foresaw
            error = self.error("reconciling", exc)
            self.event(EventKind.RECONCILE_FAILED, error=error)
            return self.attention(f"cannot tell from live state what is applied: {error}")
        if rolling_back:
            reason = rolling_back[0].data.get("reason", "")
            # a rollback the operator asked for (Ctrl-C, a declined gate) still ends as one
            kinds = {e.kind for e in events}
            code = RunExit.STOPPED if EventKind.INTERRUPTED in kinds else RunExit.ROLLED_BACK
            return roll_back(self, f"finishing the interrupted rollback ({reason})", code)
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
            return unchanged(self, reason, RunExit.OK)  # before `adopt`: keep its status
        self.journal.adopt(self.run_id)
        try:
            reconcile(self, finish=False)
        except Exception as exc:  # an action's error, or one nobody foresaw
            # the rollback reconciles each step again, and records what it cannot undo
            self.event(EventKind.RECONCILE_FAILED, error=self.error("reconciling", exc))
        return roll_back(self, reason, RunExit.OK)

    # --- the stage loop -----------------------------------------------------------------------

    def _drive(self, start: int, applied: set[tuple[str, int]]) -> Outcome:
        try:
            for index in range(start, len(self.runbook.stages)):
                stage = self.runbook.stages[index]
                try:
                    failed = self._stage(index, stage, applied)
                except (Interrupted, control.Held):
                    raise
                except Exception as exc:  # in an action, guard or probe: roll back
                    where = f"stage {stage.name!r}"
                    failed = f"{where}: {self.error(f'running {where}', exc)}"
                if failed is not None:
                    return roll_back(self, failed, RunExit.ROLLED_BACK)
        except Interrupted as stop:
            self.event(EventKind.INTERRUPTED, reason=stop.reason)
            return roll_back(self, stop.reason, RunExit.STOPPED)
        except control.Held as held:
            return held.outcome(self)
        self.event(EventKind.RUN_COMPLETED)
        self.journal.set_status(self.run_id, jr.COMPLETED, RunExit.OK)
        return Outcome(RunExit.OK, jr.COMPLETED, "completed: every stage passed its guard")

    def _stage(self, index: int, stage: Stage, applied: set[tuple[str, int]]) -> str | None:
        """Run one stage; the failure reason, or None when it passed."""
        self.check_stop()
        if not stage.enabled:
            self.event(EventKind.STAGE_SKIPPED, stage=stage.name, index=index)
            return None
        gate = stage.gate.describe() if stage.gate else None
        self.event(EventKind.STAGE_STARTED, stage=stage.name, index=index, gate=gate)
        if stage.gate is not None:
            control.pass_gate(self, stage, self.confirm)
        metrics = watch_metrics(self, stage.name, self.runbook.guard_for(stage))
        for number, step in enumerate(stage.steps):
            self.check_stop()
            if (stage.name, number) in applied:
                continue  # applied before a crash: never twice
            try:
                self._apply(stage, number, step)
            except ActionError as exc:
                self.event(EventKind.APPLY_FAILED, stage=stage.name, step=number, error=exc.message)
                return f"step {step.name!r} failed: {exc.message}"
        if stage.settle and self.stop.wait(stage.settle):
            self.check_stop()
        policy = self.runbook.guard_for(stage)
        decision = judge(
            self, stage.name, stage.probes, policy, baseline=self.baseline, metrics=metrics
        )
        if stage.preflight:
            rate = decision.failures / decision.samples if decision.samples else 0.0
            self.baseline = rate
            self.event(EventKind.BASELINE, stage=stage.name, rate=rate)
        if decision.verdict is Verdict.FAIL:
            self.event(EventKind.STAGE_FAILED, stage=stage.name, reason=decision.reason)
            return f"stage {stage.name!r}: {decision.reason}"
        self.event(EventKind.STAGE_PASSED, stage=stage.name, reason=decision.reason)
        if stage.pause:
            control.soak(self, stage.name, stage.pause)
        return None

    def _apply(self, stage: Stage, number: int, step: StepBase) -> None:
        action = self.action(step)
        with action:
            prior = action.snapshot()
            if not self.again and action.at_target(prior):
                self.event(
                    EventKind.SKIPPED,
                    stage=stage.name,
                    step=number,
                    name=step.name,
                    reason="already at target: live state holds what the step would write",
                )
                return
            self.event(
                EventKind.INTENT,
                stage=stage.name,
                step=number,
                name=step.name,
                backend=step.backend,
                prior=prior,
                changes=planned_changes(action, prior),
            )
            record = action.apply(prior)
            self.event(
                EventKind.APPLIED, stage=stage.name, step=number, name=step.name, record=record
            )
