"""What every part of one run shares: its runbook, journal, prober, view and stop signal,
and how it records what happens.

The engine (:mod:`cutover.engine`) is a :class:`RunContext`; the pieces it hands work to
(:mod:`cutover.judging`, :mod:`cutover.rollback`, :mod:`cutover.reconcile`) take one. Every
event goes to the journal, then to the view; an unexpected error's traceback goes to the
run's log file (:func:`cutover.log.run_log_path`), never to the operator's screen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cutover import journal as jr
from cutover.actions.base import Action
from cutover.errors import CutoverError, RunExit
from cutover.events import EventKind, StepState
from cutover.journal import Journal
from cutover.log import log_traceback, run_log_path
from cutover.runbook.backends import StepBase
from cutover.runbook.kinds import action_for
from cutover.runbook.models import Runbook, Stage
from cutover.runbook.types import Model

if TYPE_CHECKING:
    from cutover.control import Controller


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


@dataclass
class Outcome:
    exit_code: int
    status: str
    message: str
    still_applied: list[str] = field(default_factory=list)


@dataclass(eq=False, repr=False)  # a repr would print the whole runbook
class RunContext:
    """One run of one runbook: what it acts on and observes, and where it records."""

    runbook: Runbook
    journal: Journal
    prober: Prober
    _: KW_ONLY
    view: View
    actions: ActionMaker = action_for  #: the action that carries out a step
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], float] = time.monotonic
    run_id: str = field(default="", init=False)
    #: the control channel (``cutover promote/abort/pause/approve``) while the run is driven
    controls: Controller | None = field(default=None, init=False)

    def event(
        self, kind: EventKind, *, stage: str | None = None, step: int | None = None, **data: Any
    ) -> int:
        """Journal one event, then show it; its journal row id."""
        row_id = self.journal.event(self.run_id, kind, stage=stage, step=step, **data)
        self.view(kind, {"stage": stage, "step": step, **data})
        return row_id

    def error(self, doing: str, exc: Exception) -> str:
        """What went wrong, for the journal and the outcome: a deliberate error's message,
        or for an unexpected one its type and text, its traceback in the run's log file."""
        if isinstance(exc, CutoverError):
            return exc.message
        logged = log_traceback(run_log_path(self.journal.local_dir, self.run_id), doing, exc)
        error = f"unexpected {type(exc).__name__}: {exc}"
        self.event(EventKind.UNEXPECTED_ERROR, doing=doing, error=error, log=logged)
        return f"{error} (traceback in {logged})"

    def attention(self, message: str) -> Outcome:
        """End the run as needs-attention, with what is still applied and the command."""
        still = self.still_applied()
        self.journal.set_status(self.run_id, jr.NEEDS_ATTENTION, RunExit.NEEDS_ATTENTION)
        self.event(EventKind.NEEDS_ATTENTION, message=message, still_applied=still)
        return Outcome(
            RunExit.NEEDS_ATTENTION,
            jr.NEEDS_ATTENTION,
            f"{message}\nfinish with: cutover rollback {self.run_id}",
            still,
        )

    def still_applied(self) -> list[str]:
        return self.journal.still_applied(self.run_id)

    def step_model(self, state: StepState) -> StepBase:
        """The runbook's step a journaled step state names."""
        for stage in self.runbook.stages:
            if stage.name == state.stage and state.step < len(stage.steps):
                return stage.steps[state.step]
        raise CutoverError(
            f"the journal names step {state.step} of stage {state.stage!r}, which this runbook"
            " no longer has",
            hint="roll back with the runbook version that made the run",
        )

    def action(self, step: StepBase) -> Action:
        return self.actions(self.runbook.backends[step.backend], step)

    def check_stop(self) -> None:
        """Raise :class:`Interrupted` when the run must stop (Ctrl-C, ``cutover abort``);
        wait here while ``cutover pause`` holds it (:meth:`cutover.control.Controller.check`)."""
        if self.controls is not None:
            self.controls.check(self)
        elif self.stop.is_set():
            raise Interrupted("stopped by the operator")
