"""The control channel: promote, abort, pause and approve a run from any terminal or host.

A control verb (``cutover promote|abort|pause|approve RUN``) writes one
``control_requested`` row into the run's journal, with the identity of whoever asked
(:func:`identity`): the journal *is* the channel, so every terminal and host that shares
the state store (a state directory on this host, or a PostgreSQL database for a team)
can steer a run, and every request is on record with who made it.

The running engine's :class:`Controller` polls for new rows every
:data:`POLL_SECONDS` in a background thread (one indexed query) and wakes whatever waits:

- ``abort``: sets the run's stop signal; the current probe round ends early, every
  applied step is rolled back and verified (exit 4, or 3 when it cannot be verified);
- ``pause``: at the next step or probe round the run pauses (``pause_started``) until
  ``promote`` (or ``abort``);
- ``promote``: ends a pause (a ``pause:`` soak or a ``cutover pause``) or counts as one
  approval of a gate waiting for approvers;
- ``approve``: one approval of a waiting gate; ``approvers: N`` needs N distinct
  identities;
- ``decline``: declines a gate waiting for approvals, applying its ``on_decline``
  (``rollback``: every applied step is rolled back and verified, exit 4; ``hold``: the
  steps stay, exit 3, status held).

A request takes effect within :data:`POLL_SECONDS` of the poll plus the time the engine
needs to reach its next check (a probe round is cut short). Requests are checked when
made: a verb that cannot apply (the run is not running, nothing waits, you already
approved) is refused with exit 2 and writes nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from cutover import journal as jr
from cutover.errors import InputError, RunExit
from cutover.events import Event, EventKind
from cutover.log import get_logger
from cutover.process import alive_here, current_user, hostname
from cutover.run_context import Interrupted, Outcome

if TYPE_CHECKING:
    from cutover.journal import EventRow, Journal, RunRow
    from cutover.run_context import Confirm, RunContext
    from cutover.runbook.models import Stage

IDENTITY_ENV = "CUTOVER_IDENTITY"
POLL_SECONDS = 0.2  #: how often a running engine reads its control rows
VERBS = ("promote", "abort", "pause", "approve", "decline")
_T = TypeVar("_T")

log = get_logger(__name__)


def identity() -> str:
    """Who is acting: ``$CUTOVER_IDENTITY`` when set, else ``user@host``. A record for
    accountability, not authentication (anyone who can write the store can set it)."""
    return os.environ.get(IDENTITY_ENV, "").strip() or f"{current_user()}@{hostname()}"


@dataclass(frozen=True)
class Request:
    """One control row: what was asked, by whom (its journal row id orders it)."""

    id: int
    verb: str
    by: str


class Controller:
    """A run's view of its control rows, polled in a background thread."""

    def __init__(self, journal: Journal, run_id: str, stop: threading.Event) -> None:
        self.journal = journal
        self.run_id = run_id
        self.stop = stop
        self.requests: list[Request] = []
        self.aborted_by: str | None = None
        self._after = 0
        self.paused_upto = 0  #: pause requests up to this row id are handled
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Poll from now on: requests made before this run (or resume) started are old."""
        self._after = self.paused_upto = self.journal.last_event_id(self.run_id)
        self._thread = threading.Thread(target=self._loop, name="cutover-control", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * POLL_SECONDS)

    def _loop(self) -> None:
        while not self._closed.wait(POLL_SECONDS):
            self.poll()

    def poll(self) -> None:
        """Read the new control rows (a failed read is logged and tried again)."""
        try:
            rows = self.journal.events_after(self.run_id, self._after, EventKind.CONTROL_REQUESTED)
        except Exception as exc:  # the store is away: the run itself will notice
            log.warning("control channel unreadable", error=str(exc))
            return
        if not rows:
            return
        with self._changed:
            for row in rows:
                self._after = row.id
                request = Request(row.id, str(row.data.get("verb")), str(row.data.get("by")))
                self.requests.append(request)
                if request.verb == "abort" and self.aborted_by is None:
                    self.aborted_by = request.by
                    self.stop.set()
            self._changed.notify_all()

    def since(self, marker: int, verbs: Sequence[str]) -> list[Request]:
        with self._changed:
            return [r for r in self.requests if r.id > marker and r.verb in verbs]

    def wait(self, seconds: float) -> None:
        """Until a new request arrives, or ``seconds`` pass."""
        with self._changed:
            self._changed.wait(seconds)

    def stop_reason(self) -> str:
        if self.aborted_by is not None:
            return f"aborted by {self.aborted_by} (cutover abort)"
        return "stopped by the operator"

    def check(self, run: RunContext) -> None:
        """Raise :class:`Interrupted` when the run must stop; wait while ``cutover pause``
        holds it (until ``cutover promote``, journaled with who did each)."""
        if self.stop.is_set():
            raise Interrupted(self.stop_reason())
        pause = self.take_pause()
        if pause is not None:
            message = f"paused by {pause.by}: continue with `cutover promote {run.run_id}`"
            marker = run.event(EventKind.PAUSE_STARTED, by=pause.by, seconds=None, message=message)
            promoted = wait(run, marker, None, _first)
            assert promoted is not None  # without a deadline, only a promote ends the wait
            message = f"pause ended: promoted by {promoted.by}"
            run.event(EventKind.PAUSE_ENDED, by=promoted.by, how="promoted", message=message)

    def take_pause(self) -> Request | None:
        """A pause asked for since the last one was honoured, once."""
        found = self.since(self.paused_upto, ("pause",))
        if not found:
            return None
        self.paused_upto = found[-1].id
        return found[0]


class Held(Exception):
    """A gate was declined with ``on_decline: hold``: the run ends, its steps stay."""

    def __init__(self, stage: str, by: str) -> None:
        super().__init__(stage)
        self.stage = stage
        self.by = by

    def outcome(self, run: RunContext) -> Outcome:
        still = run.still_applied()
        run.journal.set_status(run.run_id, jr.HELD, RunExit.NEEDS_ATTENTION)
        return Outcome(
            RunExit.NEEDS_ATTENTION,
            jr.HELD,
            f"held at the gate before stage {self.stage!r} (declined by {self.by}); every"
            f" applied step stays in place\ncontinue with: cutover resume {run.run_id}\n"
            f"or roll back with: cutover rollback {run.run_id}",
            still,
        )


# --- what the engine does with them --------------------------------------------------------


def wait(
    run: RunContext,
    marker: int,
    seconds: float | None,
    done: Callable[[list[Request]], _T | None],
    *,
    verbs: Sequence[str] = ("promote",),
) -> _T | None:
    """Wait ``seconds`` (None: for ever) or until ``done`` finds what it needs among the
    requests of ``verbs`` made since row ``marker``; an abort or Ctrl-C raises."""
    deadline = None if seconds is None else run.clock() + seconds
    while True:
        if run.stop.is_set():
            run.check_stop()
        if run.controls is not None:
            found = done(run.controls.since(marker, verbs))
            if found is not None:
                return found
        left = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - run.clock())
        if left <= 0:
            return None
        if run.controls is not None:
            run.controls.wait(left)
        else:
            run.stop.wait(left)


def _first(found: list[Request]) -> Request | None:
    return found[0] if found else None


def pace(run: RunContext, seconds: float, *, interruptible: bool = True) -> None:
    """The wait between probe rounds. When ``interruptible``, an abort or Ctrl-C ends it
    (raising), and so does a ``cutover pause`` (the next round's check honours it)."""
    if seconds <= 0:
        return
    if not interruptible:
        time.sleep(seconds)  # verifying a rollback: the first stop asked for it
    elif run.controls is None:
        run.stop.wait(seconds)
    else:
        wait(run, run.controls.paused_upto, seconds, _first, verbs=("pause",))


def soak(run: RunContext, stage: str, seconds: float) -> None:
    """A stage's ``pause:``: wait ``seconds``; ``cutover promote`` ends it early."""
    message = f"pausing {seconds:g}s: `cutover promote {run.run_id}` ends it early"
    marker = run.event(
        EventKind.PAUSE_STARTED, stage=stage, seconds=seconds, by="runbook", message=message
    )
    promoted = wait(run, marker, seconds, _first)
    if promoted is None:
        run.event(EventKind.PAUSE_ENDED, stage=stage, how="elapsed", message="pause ended")
    else:
        message = f"pause ended: promoted by {promoted.by}"
        run.event(
            EventKind.PAUSE_ENDED, stage=stage, how="promoted", by=promoted.by, message=message
        )


def pass_gate(run: RunContext, stage: Stage, confirm: Confirm) -> None:
    """Ask the stage's gate: returns when it is approved; raises :class:`Interrupted` on
    a decline that rolls back, :class:`Held` on one that holds."""
    gate = stage.gate
    assert gate is not None
    if gate.confirm:
        message = "gate: asking at the terminal"
        run.event(EventKind.GATE_WAITING, stage=stage.name, waiting_for="terminal", message=message)
        if not confirm(stage):
            decline(run, stage, identity())
        if not gate.approvers:
            run.event(EventKind.GATE_APPROVED, stage=stage.name, by=[identity()])
            return
    marker = run.event(
        EventKind.GATE_WAITING,
        stage=stage.name,
        waiting_for="approvals",
        approvers=gate.approvers,
        command=f"cutover approve {run.run_id}",
        message=f"gate: waiting for {gate.approvers} approvals: `cutover approve {run.run_id}`",
    )

    def enough(found: list[Request]) -> list[str] | Request | None:
        declined = next((r for r in found if r.verb == "decline"), None)
        if declined is not None:
            return declined
        people = list(dict.fromkeys(r.by for r in found))
        return people if len(people) >= gate.approvers else None

    answer = wait(run, marker, None, enough, verbs=("approve", "promote", "decline"))
    if isinstance(answer, Request):
        decline(run, stage, answer.by, remote=True)
    run.event(EventKind.GATE_APPROVED, stage=stage.name, by=answer)


def decline(run: RunContext, stage: Stage, by: str, *, remote: bool = False) -> NoReturn:
    """A gate was declined (at the terminal, or by ``cutover decline``): journal who did,
    then apply its ``on_decline``: raise :class:`Held` (the steps stay) or
    :class:`Interrupted` (every applied step is rolled back and verified)."""
    assert stage.gate is not None
    then = stage.gate.on_decline
    how: dict[str, Any] = {"how": "cutover decline"} if remote else {}
    run.event(EventKind.GATE_DECLINED, stage=stage.name, by=by, then=then, **how)
    if then == "hold":
        message = f"HELD: applied steps stay; `cutover resume {run.run_id}` continues"
        run.event(EventKind.GATE_HELD, stage=stage.name, by=by, message=message)
        raise Held(stage.name, by)
    raise Interrupted(f"gate before stage {stage.name!r} declined" + (f" by {by}" * remote))


# --- what the verbs check and write ---------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """What a run waits for now, from its journal: a pause, or approvals at a gate."""

    what: str  #: "pause" | "approvals" | "terminal" | ""
    marker: int  #: the row it started at
    stage: str | None = None


def waiting(events: Sequence[EventRow]) -> Waiting:
    """What the run waits for, as its events say."""
    ends = {
        EventKind.RUN_STARTED,  # a request made before the run (or its resume) is void
        EventKind.RESUMED,
        EventKind.PAUSE_ENDED,
        EventKind.GATE_APPROVED,
        EventKind.GATE_DECLINED,
        EventKind.INTERRUPTED,
        EventKind.ROLLBACK_STARTED,
    }
    for event in reversed(events):
        if event.kind in ends:
            return Waiting("", event.id)
        if event.kind == EventKind.PAUSE_STARTED:
            return Waiting("pause", event.id, event.stage)
        if event.kind == EventKind.GATE_WAITING:
            return Waiting(str(event.data.get("waiting_for", "")), event.id, event.stage)
    return Waiting("", 0)


def request(journal: Journal, run: RunRow, verb: str, by: str) -> str:
    """Write one control request for ``run``, after checking it can apply; what was done.

    Refused (:class:`InputError`, exit 2, nothing written) when the run is not running
    (finished, held, or its process gone), or the verb has nothing to act on."""
    if verb not in VERBS:
        raise InputError(f"unknown control verb {verb!r}", hint=f"use one of {', '.join(VERBS)}")
    _refuse_not_running(run, verb)
    events = journal.events(run.id)
    now = waiting(events)
    requested = [e for e in events if e.id > now.marker and e.kind == EventKind.CONTROL_REQUESTED]
    if verb == "pause" and (now.what == "pause" or _asked(requested, "pause")):
        raise InputError(
            f"run {run.id} is already paused (or a pause is pending)",
            hint=f"continue it with: cutover promote {run.id}",
        )
    if verb == "decline":
        _refuse_no_gate(run, now, requested)
    if verb in ("promote", "approve"):
        if now.what == "approvals":
            if any(_by(e) == by for e in requested if _verb(e) in ("approve", "promote")):
                raise InputError(
                    f"{by} already approved the gate before stage {now.stage!r}",
                    hint="approvals count distinct people (docs/run.md)",
                )
        elif verb == "approve" or now.what != "pause":
            raise InputError(
                f"run {run.id} is not waiting for approval"
                + (" (it is paused)" if now.what == "pause" else "")
                + ("" if now.what != "terminal" else ": its gate asks at the operator's terminal"),
                hint=f"see `cutover show {run.id}`",
            )
    journal.event(run.id, EventKind.CONTROL_REQUESTED, verb=verb, by=by, stage=now.stage)
    return _done[verb].format(run=run.id, by=by, stage=now.stage)


_done = {
    "promote": "promote of run {run} requested by {by}: the run continues within a second",
    "abort": "abort of run {run} requested by {by}: the run rolls back now"
    " (follow it with `cutover show {run}`)",
    "pause": "pause of run {run} requested by {by}: it pauses at its next step or probe round"
    " (continue with `cutover promote {run}`)",
    "approve": "approval of the gate before stage {stage!r} of run {run} by {by} recorded",
    "decline": "decline of the gate before stage {stage!r} of run {run} by {by} recorded:"
    " the run applies the gate's on_decline within a second (follow it with `cutover show {run}`)",
}


def _refuse_no_gate(run: RunRow, now: Waiting, requested: Sequence[Event]) -> None:
    """``decline`` needs a gate waiting for approvals, not yet declined."""
    if now.what == "terminal":
        raise InputError(
            f"run {run.id}'s gate before stage {now.stage!r} asks at the operator's terminal",
            hint="answer it there (or stop the run: `cutover abort RUN`)",
        )
    if now.what != "approvals":
        raise InputError(
            f"run {run.id} has no gate waiting"
            + (" (it is paused)" if now.what == "pause" else ""),
            hint=f"see `cutover show {run.id}`",
        )
    if _asked(requested, "decline"):
        raise InputError(
            f"the gate before stage {now.stage!r} of run {run.id} is already declined",
            hint=f"follow it with `cutover show {run.id}`",
        )


def _verb(event: Event) -> str:
    return str(event.data.get("verb"))


def _by(event: Event) -> str:
    return str(event.data.get("by"))


def _asked(events: Sequence[Event], verb: str) -> bool:
    return any(_verb(e) == verb for e in events)


def _refuse_not_running(run: RunRow, verb: str) -> None:
    if run.status == jr.HELD and verb == "abort":
        raise InputError(
            f"run {run.id} is held at a gate: no process drives it",
            hint=f"roll it back with: cutover rollback {run.id}",
        )
    if run.status != jr.RUNNING:
        raise InputError(
            f"run {run.id} is {run.status}: nothing to {verb}", hint=f"see `cutover show {run.id}`"
        )
    if alive_here(run.host, run.pid) is False:
        raise InputError(
            f"run {run.id} was interrupted (pid {run.pid} is gone): nothing to {verb}",
            hint=f"finish it with: cutover resume {run.id} (or cutover rollback {run.id})",
        )
