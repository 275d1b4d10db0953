"""State at rest is private: every directory cutover makes for its state is 0700 and every
file 0600, whatever the umask; an existing wider one is tightened, with a notice.

Each creator is called under umask 000 (everything would be world-writable) and 022 (the
usual default: world-readable): the journal and its ``-wal``/``-shm``, a run's log, the list
of stores, the lab folder with a served lab's endpoint and the lab's state file and its lock.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cutover.journal import Journal
from cutover.lab.state_store import reset_state_file
from cutover.log import log_traceback, run_log_path
from cutover.private_files import private_dir
from cutover.state_location import STORES_FILE, remember_store
from cutover.target import lab_state_file, publish_endpoint

UMASKS = [0o000, 0o022]


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield int(request.param)
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, str]:
    """``relative path → mode`` of ``root`` and everything under it."""
    found = {".": f"{stat.S_IMODE(root.stat().st_mode):04o}"}
    for path in sorted(root.rglob("*")):
        found[str(path.relative_to(root))] = f"{stat.S_IMODE(path.stat().st_mode):04o}"
    return found


class _Lab:
    scenario = "pypi-2018"
    api_url = data_address = token = "x"
    service_ids: dict[str, str] = {}
    hostnames: list[str] = []
    resolve: dict[str, str] = {}


@pytest.mark.parametrize("umask", UMASKS, indirect=True, ids=lambda m: f"umask {m:03o}")
def test_everything_cutover_creates_for_its_state_is_private(
    umask: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    state = tmp_path / "state"
    with Journal(state / "journal.db") as journal:
        journal.start_run("r1", "rb", "rb.yml", "lab", {})
        journal.event("r1", "intent", stage="s", step=0, name="n", prior={"a": 1})
        log_traceback(run_log_path(state, "r1"), "testing", RuntimeError("boom"))
        remember_store(state)
        publish_endpoint(state, _Lab())
        private_dir(lab_state_file(state, "pypi-2018").parent)
        reset_state_file(lab_state_file(state, "pypi-2018"), "pypi-2018")
        created = modes(state)

    assert created == {
        ".": "0700",
        "journal.db": "0600",
        "journal.db-shm": "0600",
        "journal.db-wal": "0600",
        "lab": "0700",
        "lab/endpoint.json": "0600",
        "lab/pypi-2018.json": "0600",
        "lab/pypi-2018.json.lock": "0600",
        "logs": "0700",
        "logs/r1.log": "0600",
    }
    assert modes(tmp_path / "xdg" / "cutover") == {".": "0700", STORES_FILE: "0600"}


def test_an_existing_wider_state_is_tightened_with_a_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    Journal(state / "journal.db").close()
    older = sqlite3.connect(state / "journal.db")  # keeps the -wal and -shm in place
    try:
        older.execute("SELECT * FROM runs").fetchall()
        state.chmod(0o755)
        for suffix in ("", "-wal", "-shm"):
            (state / f"journal.db{suffix}").chmod(0o644)
        capsys.readouterr()

        Journal(state / "journal.db").close()

        assert modes(state) == {
            ".": "0700",
            "journal.db": "0600",
            "journal.db-shm": "0600",
            "journal.db-wal": "0600",
        }
    finally:
        older.close()
    notices = capsys.readouterr().err.splitlines()
    assert notices == [
        f"notice: {state} was open to others (mode 0755); now 0700",
        *(
            f"notice: {state / name} was open to others (mode 0644); now 0600"
            for name in ("journal.db", "journal.db-wal", "journal.db-shm")
        ),
    ]


def test_a_shared_sticky_directory_named_as_state_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with Journal(shared / "journal.db"):
        pass
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "journal.db").stat().st_mode) == 0o600


@pytest.mark.parametrize("umask", [0o022], indirect=True, ids=["umask 022"])
def test_a_sub_folder_made_first_makes_its_state_directory_private_too(
    umask: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "new" / "state"
    private_dir(state / "lab")  # a lab starts before the journal is opened
    Journal(state / "journal.db").close()
    assert modes(tmp_path / "new") == {".": "0700", "state": "0700", "state/journal.db": "0600",
                                       "state/lab": "0700"}  # fmt: skip
    assert capsys.readouterr().err == ""  # nothing of ours needed tightening
