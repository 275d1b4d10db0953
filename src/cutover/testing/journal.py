"""Reading a state directory's journal with plain SQL, as an operator would look.

Independent of cutover's own folding of events (``cutover.journal``), so a test checks
the journal against an oracle rather than against the code that wrote it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cutover.events import EventKind


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    stage: str | None
    step: int | None
    data: dict[str, Any]

    @property
    def key(self) -> tuple[str, int] | None:
        """``(stage, step)`` of a step event, else None."""
        return None if self.stage is None or self.step is None else (self.stage, self.step)

    def label(self) -> str:
        if self.key is not None:
            return f"{self.kind} {self.stage}/{self.step}"
        return self.kind if self.stage is None else f"{self.kind} {self.stage}"


def _db(state_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{state_dir / 'journal.db'}?mode=ro", uri=True, timeout=10)


def events(state_dir: Path, run_id: str | None = None) -> list[Event]:
    """Events in journal order: of one run, or of every run."""
    if not (state_dir / "journal.db").exists():
        return []
    query = "SELECT id, kind, stage, step, data FROM events"
    params: tuple[str, ...] = ()
    if run_id is not None:
        query, params = query + " WHERE run_id = ?", (run_id,)
    with contextlib.closing(_db(state_dir)) as db:
        rows = db.execute(query + " ORDER BY id", params).fetchall()
    return [Event(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]


def run_row(state_dir: Path, run_id: str) -> dict[str, Any]:
    """The ``runs`` row of one run, as a dict (fails when there is none)."""
    with contextlib.closing(_db(state_dir)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    assert row is not None, f"no run {run_id} in the journal"
    return dict(row)


def run_ids(state_dir: Path) -> list[str]:
    """Every run's id, oldest first (none without a journal)."""
    if not (state_dir / "journal.db").exists():
        return []
    with contextlib.closing(_db(state_dir)) as db:
        return [r[0] for r in db.execute("SELECT id FROM runs ORDER BY started_at, id")]


def applied_twice(state_dir: Path, run_id: str) -> dict[str, int]:
    """Steps of a run with more than one ``applied`` row: ``{"stage[step]": n}``."""
    counts = Counter(
        f"{e.stage}[{e.step}]" for e in events(state_dir, run_id) if e.kind == EventKind.APPLIED
    )
    return {key: n for key, n in counts.items() if n > 1}
