"""Text views of the journal: status, history, and one run's timeline.

Views render what they are given (:mod:`cutover.journal_reads` fetches it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cutover.events import EventKind, fold_steps
from cutover.journal import HELD, INTERRUPTED, NEEDS_ATTENTION, RUNNING, EventRow, RunRow
from cutover.process import alive_here
from cutover.report.failure_text import failure_lines, reasons_text
from cutover.report.people_text import sentence
from cutover.report.run_document import breaking_event
from cutover.report.run_view import format_values
from cutover.state_location import Store

if TYPE_CHECKING:
    from cutover.journal_reads import StoreStatus

def run_state(row: RunRow) -> str:
    """The status, with ``interrupted`` for a running run whose process is gone."""
    if row.status == RUNNING and alive_here(row.host, row.pid) is False:
        return INTERRUPTED
    return row.status


def status_lines(status: StoreStatus, only_open: bool = False) -> Iterator[str]:
    """Unfinished runs of one store; ``only_open``: nothing at all when there are none."""
    lab = status.lab
    if lab is not None and not only_open:
        yield f"lab: served by pid {lab['pid']} (scenario {lab['scenario']}) at {lab['api_url']}"
    if not status.has_journal:
        if not only_open:
            yield f"no runs yet in {status.store}"
        return
    if not status.open_runs:
        if not only_open:
            yield "no unfinished runs"
        return
    for run in status.open_runs:
        row, state = run.row, run_state(run.row)
        yield (
            f"{row.id}  {row.runbook} on {row.environment}: {state}"
            f" (pid {row.pid} on {row.host}, {row.user}, since {row.started_at})"
        )
        for step in run.steps:
            if step.maybe_applied:
                yield f"    still applied: {step.describe()}"
        if state in (INTERRUPTED, NEEDS_ATTENTION, HELD):
            yield f"    next: cutover resume {row.id}   or   cutover rollback {row.id}"


def history_lines(
    rows: list[tuple[RunRow, Store]], stores: list[Store], limit: int
) -> Iterator[str]:
    """The latest runs, newest first; a ``state`` column when they come from several stores."""
    if not rows:
        yield f"no runs yet in {stores[0]}"
        return
    rows = sorted(rows, key=lambda pair: pair[0].started_at, reverse=True)
    several = len({store for _, store in rows}) > 1
    started = f"{'started':<29}  state" if several else "started"
    yield f"{'run':<22} {'runbook':<18} {'env':<11} {'status':<16} exit  {started}"
    for row, store in rows[:limit]:
        code = "" if row.exit_code is None else str(row.exit_code)
        where = f"{row.started_at:<29}  {store}" if several else row.started_at
        yield (
            f"{row.id:<22} {row.runbook:<18} {row.environment:<11} {run_state(row):<16}"
            f" {code:<5} {where}"
        )


def show_lines(row: RunRow, events: list[EventRow]) -> Iterator[str]:
    """One run's timeline (each event's time, and its offset from the breaking step when
    one broke the run) and what it still has applied."""
    code = "" if row.exit_code is None else f", exit {row.exit_code}"
    yield f"run {row.id}: {row.runbook} on {row.environment} — {run_state(row)}{code}"
    yield f"  started {row.started_at} by {row.user}@{row.host} (pid {row.pid})"
    if row.ended_at:
        yield f"  ended   {row.ended_at}"
    breaking = breaking_event(events)
    if breaking is not None:
        yield f"  breaking step: {breaking.stage}/{breaking.data.get('name')} (offsets from it)"
    yield ""
    yield "timeline:"
    zero = _seconds(breaking.at) if breaking is not None else None
    for event in events:
        offset = "" if zero is None else f" {_seconds(event.at) - zero:+7.2f}s"
        yield from _event_lines(event, f"  {event.at[11:23]}{offset}")
    still = [s for s in fold_steps(events) if s.maybe_applied]
    yield ""
    if still:
        yield "still applied:"
        for s in still:
            yield f"  - {s.describe()}"
    else:
        yield "nothing is left applied"


def _event_lines(event: EventRow, at: str) -> Iterator[str]:
    d = event.data
    where = "" if event.stage is None else f" {event.stage}"
    where += f"[{event.step}]" if event.step is not None else ""
    head = f"{at}{where}"
    if event.kind == EventKind.PROBE_ROUND:
        reasons = reasons_text(d.get("reasons") or {})
        yield (
            f"{head} probes round {d.get('round')}: {d.get('probes')} probes,"
            f" {d.get('failed')} failed" + (f" ({reasons})" if reasons else "")
        )
        yield from failure_lines(d.get("failures", []), d.get("failed"))
        return
    if event.kind == EventKind.GUARD:
        yield f"{head} guard {str(d.get('verdict')).upper()}: {d.get('reason')}"
        for name, why in (d.get("metrics") or {}).items():
            yield f"      metric {name}: {why}"
        return
    if event.kind in (EventKind.METRIC, EventKind.METRIC_BASELINE):
        shown = format_values(d.get("values") or {}, d.get("error"))
        if event.kind == EventKind.METRIC_BASELINE:
            yield f"{head} metric {d.get('check')} baseline: {shown}"
            return
        yield (
            f"{head} metric {d.get('check')} #{d.get('measurement')}: {shown}"
            f" — {d.get('outcome')}: {d.get('reason')}"
        )
        return
    if event.kind in (EventKind.INTENT, EventKind.APPLIED):
        yield f"{head} {event.kind}: {d.get('name')}"
        if event.kind == EventKind.INTENT:
            yield from (f"      {change}" for change in d.get("changes") or [])
        return
    said = sentence(event.kind, d)
    if said is not None:
        yield f"{head} {said}"
        return
    summary = "; ".join(
        f"{k.replace('_', ' ')}: {plain(v)}"
        for k, v in d.items()
        if k not in ("failures", "prior", "record") and v not in (None, [], {}, "")
    )
    yield f"{head} {event.kind.replace('_', ' ')}" + (f": {summary}" if summary else "")


def plain(value: Any) -> str:
    """A journal value as words: lists joined, mappings as ``key value``, yes/no for booleans."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {plain(v)}" for k, v in value.items())
    return str(value)


def _seconds(at: str) -> float:
    return datetime.fromisoformat(at).timestamp()
