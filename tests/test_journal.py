"""The journal (SQLite, WAL); the target locks are tested in test_lock.py."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cutover.errors import LockHeldError, RunExit
from cutover.journal import Journal
from cutover.secrets import remember

ROOT = Path(__file__).resolve().parents[1]


def test_events_are_durable_and_folded_into_step_states(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        journal.start_run("r1", "demo", "/rb.yml", "lab", {"vars": []})
        journal.event("r1", "intent", stage="s", step=0, name="a", prior={"x": None})
        journal.event("r1", "applied", stage="s", step=0, name="a", record={"v": 2})
        journal.event("r1", "intent", stage="s", step=1, name="b", prior={"y": "1"})
    with contextlib.closing(sqlite3.connect(tmp_path / "j.db")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        rows = db.execute("SELECT kind, stage, step FROM events ORDER BY id").fetchall()
    assert rows == [("intent", "s", 0), ("applied", "s", 0), ("intent", "s", 1)]
    with Journal(tmp_path / "j.db") as journal:
        states = [(s.name, s.status, s.prior, s.record) for s in journal.steps("r1")]
        assert states == [
            ("a", "applied", {"x": None}, {"v": 2}),
            ("b", "intent", {"y": "1"}, None),
        ]
        assert [s.maybe_applied for s in journal.steps("r1")] == [True, True]
        run = journal.find_run("r")
        assert run is not None and run.id == "r1" and run.status == "running"
        assert journal.find_run("last") == run
        assert [r.id for r in journal.unfinished("demo", "lab")] == ["r1"]
        journal.set_status("r1", "rolled_back", RunExit.ROLLED_BACK)
        assert journal.unfinished("demo", "lab") == []


def test_secret_values_never_reach_the_database(tmp_path: Path) -> None:
    remember("s3cr3t-token-value")
    with Journal(tmp_path / "j.db") as journal:
        journal.start_run("r1", "demo", "/rb.yml", "lab", {"vars": ["token=s3cr3t-token-value"]})
        journal.event("r1", "apply_failed", error="refused: Fastly-Key s3cr3t-token-value")
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"s3cr3t-token-value" not in raw
    with Journal(tmp_path / "j.db") as journal:
        assert journal.events("r1")[0].data == {"error": "refused: Fastly-Key [REDACTED]"}


def test_the_crash_hook_kills_the_process_after_the_nth_write(tmp_path: Path) -> None:
    program = (
        "import sys; from pathlib import Path; from cutover.journal import Journal\n"
        "j = Journal(Path(sys.argv[1]))\n"
        "j.start_run('r1', 'demo', '/rb.yml', 'lab', {})\n"
        "for i in range(5): j.event('r1', 'probe_round', n=i)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CUTOVER_TEST_CRASH_AT": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", program, str(tmp_path / "j.db")], env=env, timeout=60, check=False
    )
    assert proc.returncode == -9
    with Journal(tmp_path / "j.db") as journal:
        assert [e.data["n"] for e in journal.events("r1")] == [0, 1]  # writes 2 and 3


def test_lock_error_is_an_input_error() -> None:
    assert LockHeldError("x").exit_code == RunExit.INVALID
    with pytest.raises(LockHeldError):
        raise LockHeldError("held")
