"""What ``cutover status``, ``history`` and ``show`` read from journals, as plain data.

The command fetches with these; :mod:`cutover.report.journal_text` renders what it is
given and never opens a journal itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cutover.events import StepState
from cutover.journal import EventRow, Journal, RunRow
from cutover.state_location import Store, as_store


@dataclass(frozen=True)
class OpenRun:
    """An unfinished run and where each of its steps stands."""

    row: RunRow
    steps: list[StepState]


@dataclass(frozen=True)
class StoreStatus:
    """One store: the lab its directory serves (if any) and its unfinished runs."""

    store: Store
    lab: dict[str, Any] | None
    has_journal: bool
    open_runs: list[OpenRun]


def _journal(store: Store) -> Journal | None:
    return Journal.open(store) if store.has_journal() else None


def read_status(where: Store | Path) -> StoreStatus:
    from cutover.target import attached_lab

    store = as_store(where)
    lab = attached_lab(store.directory)
    journal = _journal(store)
    if journal is None:
        return StoreStatus(store, lab, False, [])
    with journal:
        rows = [r for r in journal.runs(1000) if not r.finished]
        return StoreStatus(store, lab, True, [OpenRun(r, journal.steps(r.id)) for r in rows])


def read_history(
    stores: list[Store] | list[Path], limit: int
) -> list[tuple[RunRow, Store]]:
    """The latest ``limit`` runs of each store, with the store each came from."""
    rows: list[tuple[RunRow, Store]] = []
    for store in map(as_store, stores):
        journal = _journal(store)
        if journal is not None:
            with journal:
                rows.extend((row, store) for row in journal.runs(limit))
    return rows


def read_events(where: Store | Path, row: RunRow) -> list[EventRow]:
    """Every event of the run ``row`` (found in ``where``), oldest first."""
    store = as_store(where)
    journal = _journal(store)
    assert journal is not None, f"{store} has no journal (the run was found in it)"
    with journal:
        return journal.events(row.id)
