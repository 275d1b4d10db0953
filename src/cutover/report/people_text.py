"""The events about people and what a run tells them, in words: gates, approvals,
control requests, pauses, holds, notifications and report files.

``show`` prints these sentences in its timeline and the run report lists them as its
decisions (:mod:`cutover.report.journal_text`, :mod:`cutover.report.run_document`), so
both say the same thing. Each takes the event's journaled data; a kind not here gives
None (its caller falls back to its own wording).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cutover.events import EventKind

Data = Mapping[str, Any]


def _who(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "nobody"
    return str(value or "someone")


def _gate_waiting(d: Data) -> str:
    if d.get("waiting_for") == "approvals":
        return f"gate: waiting for {d.get('approvers')} approvals (`{d.get('command')}`)"
    return "gate: asking at the operator's terminal"


def _declined(d: Data) -> str:
    how = " with `cutover decline`" if d.get("how") == "cutover decline" else ""
    then = "hold the applied steps" if d.get("then") == "hold" else "roll back"
    return f"gate declined by {_who(d.get('by'))}{how}: {then}"


def _pause_started(d: Data) -> str:
    seconds = d.get("seconds")
    if seconds is None:
        return f"paused by {_who(d.get('by'))} (`cutover pause`) until `cutover promote`"
    return f"pausing {float(seconds):g}s (the stage's `pause:`)"


def _pause_ended(d: Data) -> str:
    if d.get("how") == "promoted":
        return f"pause ended: promoted by {_who(d.get('by'))}"
    return "pause ended: its time was up"


SENTENCES: dict[str, Callable[[Data], str]] = {
    EventKind.GATE_WAITING: _gate_waiting,
    EventKind.GATE_APPROVED: lambda d: f"gate approved by {_who(d.get('by'))}",
    EventKind.GATE_DECLINED: _declined,
    EventKind.GATE_HELD: lambda d: (
        f"HELD by {_who(d.get('by'))}: every applied step stays in place"
    ),
    EventKind.CONTROL_REQUESTED: lambda d: (
        f"`cutover {d.get('verb')}` requested by {_who(d.get('by'))}"
    ),
    EventKind.PAUSE_STARTED: _pause_started,
    EventKind.PAUSE_ENDED: _pause_ended,
    EventKind.NOTIFY_FAILED: lambda d: (
        f"notification {d.get('event')} not delivered to {d.get('target')}: {d.get('error')}"
    ),
    EventKind.REPORT_WRITTEN: lambda d: f"report written to {d.get('path')}",
    EventKind.REPORT_FAILED: lambda d: f"report not written to {d.get('path')}: {d.get('error')}",
}


def sentence(kind: str, data: Data) -> str | None:
    """The event in words, or None when it is not one of :data:`SENTENCES`."""
    say = SENTENCES.get(kind)
    return None if say is None else say(data)
