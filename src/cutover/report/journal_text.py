"""Text views of the journal: status, history, and one run's timeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cutover.events import EventKind
from cutover.journal import INTERRUPTED, NEEDS_ATTENTION, RUNNING, EventRow, Journal, RunRow
from cutover.process import alive_here
from cutover.report.run_view import format_failure

SHOWN_FAILURES = 10  #: failed probes shown per round (the journal keeps them all)


def _journal(directory: Path) -> Journal | None:
    path = directory / "journal.db"
    return Journal(path) if path.exists() else None


def run_state(row: RunRow) -> str:
    """The status, with ``interrupted`` for a running run whose process is gone."""
    if row.status == RUNNING and alive_here(row.host, row.pid) is False:
        return INTERRUPTED
    return row.status


def status_lines(directory: Path, only_open: bool = False) -> Iterator[str]:
    """Unfinished runs of one store; ``only_open``: nothing at all when there are none."""
    from cutover.target import attached_lab

    lab = attached_lab(directory)
    if lab is not None and not only_open:
        yield f"lab: served by pid {lab['pid']} (scenario {lab['scenario']}) at {lab['api_url']}"
    journal = _journal(directory)
    if journal is None:
        if not only_open:
            yield f"no runs yet in {directory}"
        return
    with journal:
        open_runs = [r for r in journal.runs(1000) if not r.finished]
        if not open_runs:
            if not only_open:
                yield "no unfinished runs"
            return
        for row in open_runs:
            state = run_state(row)
            yield (
                f"{row.id}  {row.runbook} on {row.environment}: {state}"
                f" (pid {row.pid} on {row.host}, {row.user}, since {row.started_at})"
            )
            applied = [s for s in journal.steps(row.id) if s.maybe_applied]
            for step in applied:
                yield f"    still applied: {step.stage}/{step.name} ({step.status})"
            if state in (INTERRUPTED, NEEDS_ATTENTION):
                yield f"    next: cutover resume {row.id}   or   cutover rollback {row.id}"


def history_lines(stores: list[Path], limit: int) -> Iterator[str]:
    """The latest runs of these stores, newest first; a ``state`` column when several."""
    rows: list[tuple[RunRow, Path]] = []
    for store in stores:
        journal = _journal(store)
        if journal is not None:
            with journal:
                rows.extend((row, store) for row in journal.runs(limit))
    if not rows:
        yield f"no runs yet in {stores[0]}"
        return
    rows.sort(key=lambda pair: pair[0].started_at, reverse=True)
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


def show_lines(directory: Path, row: RunRow) -> Iterator[str]:
    journal = _journal(directory)
    assert journal is not None
    with journal:
        events = journal.events(row.id)
        steps = journal.steps(row.id)
    code = "" if row.exit_code is None else f", exit {row.exit_code}"
    yield f"run {row.id}: {row.runbook} on {row.environment} — {run_state(row)}{code}"
    yield f"  started {row.started_at} by {row.user}@{row.host} (pid {row.pid})"
    if row.ended_at:
        yield f"  ended   {row.ended_at}"
    yield ""
    yield "timeline:"
    for event in events:
        yield from _event_lines(event)
    still = [s for s in steps if s.maybe_applied]
    yield ""
    if still:
        yield "still applied:"
        for s in still:
            yield f"  - {s.stage}/{s.name} ({s.status})"
    else:
        yield "nothing is left applied"


def _event_lines(event: EventRow) -> Iterator[str]:
    d = event.data
    at = event.at[11:23]
    where = f"{event.stage}" + (f"[{event.step}]" if event.step is not None else "")
    if event.kind == EventKind.PROBE_ROUND:
        yield (
            f"  {at} {where} probes round {d.get('round')}: {d.get('probes')} probes,"
            f" {d.get('failed')} failed {d.get('reasons')}"
        )
        failures = d.get("failures", [])
        for failure in failures[:SHOWN_FAILURES]:
            yield from format_failure(failure)
        if len(failures) > SHOWN_FAILURES:
            yield f"      … and {len(failures) - SHOWN_FAILURES} more failed probes in this round"
        return
    if event.kind == EventKind.GUARD:
        yield f"  {at} {where} guard {str(d.get('verdict')).upper()}: {d.get('reason')}"
        return
    if event.kind == EventKind.INTENT:
        yield f"  {at} {where} intent: {d.get('name')} (prior: {d.get('prior')})"
        return
    if event.kind == EventKind.APPLIED:
        yield f"  {at} {where} applied: {d.get('name')} {d.get('record') or ''}".rstrip()
        return
    summary = ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("failures",))
    yield f"  {at} {where} {event.kind}" + (f": {summary}" if summary else "")
