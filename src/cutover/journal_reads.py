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


@dataclass(frozen=True)
class OpenRun:
    """An unfinished run and where each of its steps stands."""

    row: RunRow
    steps: list[StepState]


@dataclass(frozen=True)
class StoreStatus:
    """One state directory: the lab it serves (if any) and its unfinished runs."""

    directory: Path
    lab: dict[str, Any] | None
    has_journal: bool
    open_runs: list[OpenRun]


def _journal(directory: Path) -> Journal | None:
    path = directory / "journal.db"
    return Journal(path) if path.exists() else None


def read_status(directory: Path) -> StoreStatus:
    from cutover.target import attached_lab

    lab = attached_lab(directory)
    journal = _journal(directory)
    if journal is None:
        return StoreStatus(directory, lab, False, [])
    with journal:
        rows = [r for r in journal.runs(1000) if not r.finished]
        return StoreStatus(directory, lab, True, [OpenRun(r, journal.steps(r.id)) for r in rows])


def read_history(stores: list[Path], limit: int) -> list[tuple[RunRow, Path]]:
    """The latest ``limit`` runs of each store, with the store each came from."""
    rows: list[tuple[RunRow, Path]] = []
    for store in stores:
        journal = _journal(store)
        if journal is not None:
            with journal:
                rows.extend((row, store) for row in journal.runs(limit))
    return rows


def read_events(directory: Path, row: RunRow) -> list[EventRow]:
    """Every event of the run ``row`` (found in ``directory``), oldest first."""
    journal = _journal(directory)
    assert journal is not None, f"{directory} has no journal (the run was found in it)"
    with journal:
        return journal.events(row.id)
