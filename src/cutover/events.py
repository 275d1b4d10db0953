"""The journal's event kinds, and how a run's events fold into where each step stands.

Every event the engine (or the CLI driver) writes is an :class:`EventKind`; every reader
(the resume logic, the views, ``cutover show``) compares against the same members, so a
kind is spelled once. A test checks that no bare kind string is left elsewhere in ``src``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class EventKind(StrEnum):
    """What one journal row records. The value is what the journal stores."""

    # the run
    RUN_STARTED = "run_started"
    RESUMED = "resumed"
    FINAL_STATE_CHECKED = "final_state_checked"  #: whether live state already holds the end
    ALREADY_AT_TARGET = "already_at_target"  #: it does: nothing is written
    INTERRUPTED = "interrupted"  #: Ctrl-C, SIGTERM or a declined gate
    RUN_COMPLETED = "run_completed"
    NOTHING_CHANGED = "nothing_changed"
    UNEXPECTED_ERROR = "unexpected_error"
    NEEDS_ATTENTION = "needs_attention"
    ABANDONED = "abandoned"  #: an interrupted run with nothing applied, superseded
    # stages and gates
    STAGE_STARTED = "stage_started"
    STAGE_SKIPPED = "stage_skipped"
    GATE_APPROVED = "gate_approved"
    GATE_DECLINED = "gate_declined"
    GATE_WAITING = "gate_waiting"  #: a gate asks (at the terminal, or for approvals)
    GATE_HELD = "gate_held"  #: declined with `on_decline: hold`: applied steps stay
    PAUSE_STARTED = "pause_started"  #: a `pause:` soak, or `cutover pause`
    PAUSE_ENDED = "pause_ended"  #: its time is up, or `cutover promote`
    # the control channel: rows written by `cutover promote/abort/pause/approve`
    CONTROL_REQUESTED = "control_requested"
    NOTIFY_FAILED = "notify_failed"  #: a notification was not delivered (never stops a run)
    REPORT_WRITTEN = "report_written"  #: `--report FILE` written when the run ended
    REPORT_FAILED = "report_failed"  #: it could not be (never changes the exit code)
    BASELINE = "baseline"
    PROBE_ROUND = "probe_round"
    METRIC_BASELINE = "metric_baseline"  #: a metric check's value before the stage's steps
    METRIC = "metric"  #: one measurement of a metric check, judged
    GUARD = "guard"
    STAGE_PASSED = "stage_passed"
    STAGE_FAILED = "stage_failed"
    # steps (intent is durable before an action writes; applied after its read-back)
    INTENT = "intent"
    APPLIED = "applied"
    APPLY_FAILED = "apply_failed"
    SKIPPED = "skipped"  #: the step's target already held: nothing written
    RECONCILED = "reconciled"
    RECONCILE_FAILED = "reconcile_failed"
    # rollback
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_SKIPPED = "rollback_skipped"
    ROLLBACK_RETRY = "rollback_retry"
    ROLLED_BACK = "rolled_back"
    NOT_APPLIED = "not_applied"
    ROLLBACK_FAILED = "rollback_failed"
    ROLLBACK_PURGED = "rollback_purged"  #: a ``rollback.purge`` entry was purged
    ROLLBACK_PURGE_FAILED = "rollback_purge_failed"
    ROLLBACK_VERIFIED = "rollback_verified"
    ROLLBACK_UNVERIFIED = "rollback_unverified"


#: The kinds that settle a step after its intent (the step's status becomes the kind).
_SETTLING = frozenset({EventKind.ROLLED_BACK, EventKind.ROLLBACK_FAILED, EventKind.NOT_APPLIED})
#: Step statuses that may have changed something not yet undone.
_MAYBE_APPLIED = frozenset({EventKind.INTENT, EventKind.APPLIED, EventKind.ROLLBACK_FAILED})


class Event(Protocol):
    """What the fold reads of a journal row (:class:`cutover.journal.EventRow`)."""

    @property
    def kind(self) -> str: ...
    @property
    def stage(self) -> str | None: ...
    @property
    def step(self) -> int | None: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


@dataclass
class StepState:
    """Where one step of a run stands, folded from its events.

    ``stored_prior`` and ``stored_record`` are as the journal holds them (credentials
    sealed, :mod:`cutover.sealing`); ``prior`` and ``record`` are the originals, reopened
    when read (by a rollback) with ``opener``, when one is given."""

    stage: str
    step: int
    name: str
    status: EventKind  #: intent | applied | rolled_back | rollback_failed | not_applied
    stored_prior: dict[str, Any]
    stored_record: dict[str, Any] | None
    opener: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def prior(self) -> dict[str, Any]:
        """The state the step replaced, as it was (what a rollback restores)."""
        return self.opener(self.stored_prior) if self.opener else self.stored_prior

    @property
    def record(self) -> dict[str, Any] | None:
        """What the step wrote, as it was."""
        stored = self.stored_record
        return self.opener(stored) if self.opener and stored is not None else stored

    @property
    def maybe_applied(self) -> bool:
        """Could this step have changed something that is not yet undone?"""
        return self.status in _MAYBE_APPLIED

    def describe(self) -> str:
        """``stage/step (status)``, as ``still_applied`` lists it."""
        return f"{self.stage}/{self.name} ({self.status})"


def fold_steps(events: Iterable[Event]) -> Iterator[StepState]:
    """Every step that got an intent, in the order first intended, with its status."""
    states: dict[tuple[str, int], StepState] = {}
    for event in events:
        if event.stage is None or event.step is None:
            continue
        key = (event.stage, event.step)
        if event.kind == EventKind.INTENT:
            name, prior = str(event.data.get("name", "")), dict(event.data.get("prior") or {})
            states[key] = StepState(event.stage, event.step, name, EventKind.INTENT, prior, None)
            continue
        state = states.get(key)
        if state is None:
            continue
        if event.kind == EventKind.APPLIED:
            state.status = EventKind.APPLIED
            state.stored_record = dict(event.data.get("record") or {})
        elif event.kind in _SETTLING:
            state.status = EventKind(event.kind)
    yield from states.values()


def still_applied(events: Iterable[Event]) -> list[str]:
    """``stage/step (status)`` of every step that may still be applied, oldest first."""
    return [s.describe() for s in fold_steps(events) if s.maybe_applied]


def first(events: Iterable[Event], kind: EventKind) -> Event | None:
    """The first event of ``kind``, or None."""
    return next((e for e in events if e.kind == kind), None)


def last(events: Iterable[Event], kind: EventKind) -> Event | None:
    """The last event of ``kind``, or None."""
    found = None
    for event in events:
        if event.kind == kind:
            found = event
    return found
