"""Target locks (host-wide, flock), target identities, and where state lives."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cutover.errors import InputError, LockHeldError
from cutover.lock import LOCK_DIR_ENV, Holder, HostLocks, lock_dir
from cutover.lock_targets import run_targets
from cutover.process import current_user, hostname
from cutover.runbook.backends import (
    FastlySettings,
    FastlyStep,
    HttpSettings,
    HttpStep,
    NginxSettings,
    NginxStep,
    ShellSettings,
    ShellStep,
)
from cutover.runbook.kinds import action_for
from cutover.state_location import choose_state, default_state_dir

ROOT = Path(__file__).resolve().parents[1]

#: A process that takes the locks named on its command line, prints "held", and waits.
HOLDER = """
import sys, time
from pathlib import Path
from cutover.lock import Holder, HostLocks
from cutover.process import current_user, hostname
import os
held = HostLocks(Path(sys.argv[1])).acquire(sys.argv[3:], Holder(
    sys.argv[2], "run", "other-book", "lab", "/srv/state", current_user(), hostname(),
    os.getpid(), "2026-01-01T00:00:00.000+00:00"))
print("held", flush=True)
time.sleep(600)
"""


def holder(run_id: str = "me", state: str = "/s") -> Holder:
    return Holder(run_id, "run", "book", "lab", state, current_user(), hostname(), os.getpid(), "t")


class OtherProcess:
    """A real second process holding locks (flock is per open file: a thread cannot test it)."""

    def __init__(self, directory: Path, run_id: str, *targets: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(directory), run_id, *targets],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def other(tmp_path: Path) -> Any:
    started: list[OtherProcess] = []

    def start(run_id: str, *targets: str) -> OtherProcess:
        started.append(OtherProcess(tmp_path, run_id, *targets))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


def test_a_held_target_is_refused_naming_the_holder_and_how_to_see_its_run(
    tmp_path: Path, other: Any
) -> None:
    theirs = other("run-1", "nginx file /etc/x.conf")
    with pytest.raises(LockHeldError) as refused:
        HostLocks(tmp_path).acquire(["nginx file /etc/x.conf"], holder())
    assert refused.value.message == (
        f"nginx file /etc/x.conf is locked by run run-1 (run of other-book on lab) by"
        f" {current_user()}@{hostname()}, pid {theirs.proc.pid}, since"
        " 2026-01-01T00:00:00.000+00:00"
    )
    assert refused.value.hint is not None
    assert "see its run: `cutover show run-1 --state /srv/state`" in refused.value.hint
    assert f"`kill {theirs.proc.pid}`" in refused.value.hint
    assert int(refused.value.exit_code) == 2


def test_locks_are_all_or_nothing_and_taken_in_sorted_order(tmp_path: Path, other: Any) -> None:
    other("run-1", "b")
    locks = HostLocks(tmp_path)
    with pytest.raises(LockHeldError, match=r"^b is locked by run run-1"):
        locks.acquire(["c", "a", "b"], holder())
    # nothing kept: "a" (taken before "b" was refused) and "c" are free and unrecorded
    assert locks.holder("a") is None and locks.holder("c") is None
    with locks.acquire(["a", "c"], holder("next")) as held:
        assert held.stale == []
        assert locks.holder("a") == holder("next")


def test_released_locks_leave_no_record_and_no_stale_holder(tmp_path: Path) -> None:
    locks = HostLocks(tmp_path)
    with locks.acquire(["a"], holder("one")):
        assert locks.holder("a") == holder("one")
    assert locks.holder("a") is None and locks.holders() == []
    with locks.acquire(["a"], holder("two")) as held:
        assert held.stale == []


def test_a_holder_killed_with_sigkill_is_detected_as_stale(tmp_path: Path, other: Any) -> None:
    dead = other("run-dead", "x", "y")
    pid = dead.proc.pid
    dead.kill()
    locks = HostLocks(tmp_path)
    [record] = locks.holders()
    assert (record.run_id, record.pid, record.alive) == ("run-dead", pid, False)
    held = locks.acquire(["x", "y", "z"], holder())
    assert [(s.holder.run_id, s.targets) for s in held.stale] == [("run-dead", ["x", "y"])]
    assert held.stale[0].describe().startswith("the previous holder of x, y died: run run-dead")
    held.release(keep_stale=True)  # refused because of it: the evidence stays
    assert [h.run_id for h in locks.holders()] == ["run-dead"]
    locks.acquire(["x"], holder()).release()
    assert locks.holder("x") is None and locks.holder("y") is not None


def test_force_unlock_clears_a_dead_holders_record_but_not_a_live_one(
    tmp_path: Path, other: Any
) -> None:
    live = other("run-live", "a")
    with pytest.raises(LockHeldError, match="that process is alive on this host") as refused:
        HostLocks(tmp_path).force_unlock(["a"])
    assert f"`kill {live.proc.pid}`" in (refused.value.hint or "")
    live.kill()
    gone = HostLocks(tmp_path).force_unlock(["a", "never-locked"])
    assert [g.run_id for g in gone] == ["run-live"]
    assert HostLocks(tmp_path).holders() == []


def test_lock_files_are_shared_across_users_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "fresh" / "locks"))
    old = os.umask(0o077)
    try:
        directory = lock_dir()
        with HostLocks().acquire(["t"], holder()):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o1777
    [path] = directory.glob("*.lock")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666
    link = tmp_path / "link"
    link.symlink_to(directory)
    monkeypatch.setenv(LOCK_DIR_ENV, str(link))
    with pytest.raises(InputError, match="is not a directory"):
        lock_dir()


def test_a_lock_file_planted_as_a_symlink_is_refused(tmp_path: Path) -> None:
    locks = HostLocks(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("keep", encoding="utf-8")
    locks.path_of("t").symlink_to(victim)
    with pytest.raises(InputError, match="cannot open the lock file"):
        locks.acquire(["t"], holder())
    assert victim.read_text(encoding="utf-8") == "keep"


# --- target identities ------------------------------------------------------------------------


def _nginx(file: str) -> str | None:
    return action_for(
        NginxSettings(file=file), NginxStep(name="s", backend="b", content="")
    ).target_id()


def _http(base: str, path: str) -> str | None:
    step = HttpStep(name="s", backend="b", path=path, body=1)
    return action_for(HttpSettings(base_url=base), step).target_id()


def _fastly(api: str, service: str) -> str | None:
    settings = FastlySettings(api_url=api, token="env:T", services={"www": "SID1"})
    step = FastlyStep(name="s", backend="b", service=service, dictionary="d", set={"k": "v"})
    return action_for(settings, step).target_id()


def _shell(lock_key: str | None) -> str | None:
    step = ShellStep(name="s", backend="b", command=["true"], undo=["true"])
    return action_for(ShellSettings(lock_key=lock_key), step).target_id()


def test_nginx_targets_are_the_real_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "conf" / "route.conf"
    real.parent.mkdir()
    real.write_text("", encoding="utf-8")
    (tmp_path / "alias.conf").symlink_to(real)
    monkeypatch.chdir(tmp_path)
    expected = f"nginx file {real}"
    assert _nginx(str(real)) == expected
    assert _nginx("alias.conf") == expected  # a symlink
    assert _nginx("conf/../conf/route.conf") == expected  # relative, with ..
    assert _nginx(str(tmp_path / "conf" / "other.conf")) != expected


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        (("https://API.example.org/", "/v1/r"), ("https://api.example.org", "v1/r"), True),
        (("https://api.example.org:443", "/v1/r"), ("https://api.example.org", "/v1/r"), True),
        (("http://127.0.0.1:8081", "/v1/r/"), ("http://127.0.0.1:8081", "/v1/r"), True),
        (("http://127.0.0.1:8081", "/v1/r"), ("http://127.0.0.1:8082", "/v1/r"), False),
        (("https://api.example.org", "/v1/a"), ("https://api.example.org", "/v1/b"), False),
    ],
)  # fmt: skip
def test_http_targets_are_the_settings_url(
    one: tuple[str, str], other: tuple[str, str], same: bool
) -> None:
    assert (_http(*one) == _http(*other)) is same


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        (("https://api.fastly.com", "www"), ("https://API.fastly.com/", "SID1"), True),
        (("https://api.fastly.com", "www"), ("https://api.fastly.com", "SID2"), False),
        (("https://api.fastly.com", "www"), ("http://127.0.0.1:9000", "SID1"), False),
    ],
)
def test_fastly_targets_are_the_service_at_its_api(
    one: tuple[str, str], other: tuple[str, str], same: bool
) -> None:
    assert (_fastly(*one) == _fastly(*other)) is same


def test_shell_targets_are_the_declared_lock_key_else_the_backend_in_its_runbook(
    tmp_path: Path,
) -> None:
    assert _shell("dns:example.org") == "shell lock_key dns:example.org"
    assert _shell(None) is None
    from cutover.runbook.loader import load_runbook

    path = tmp_path / "r.yml"
    path.write_text(
        "version: 1\nname: book\nenvironments: {local: {}}\nbackends: {box: {kind: shell}}\n"
        "stages:\n  - name: one\n    steps:\n      - {name: s, backend: box, command: [x],"
        " undo: [y]}\n",
        encoding="utf-8",
    )
    loaded = load_runbook(path, environment="local")
    assert run_targets(loaded.model, "local", tmp_path / "st") == [
        f"runbook 'book' on 'local' in state {(tmp_path / 'st').resolve()}",
        "shell backend 'box' of runbook 'book'",
    ]
    [warning] = [w for w in loaded.warnings if "lock_key" in w.message]
    assert warning.message == "shell backend 'box' has no lock_key"


# --- where state lives ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "env", "legacy", "expected", "explicit", "notice"),
    [
        ("opt", {"CUTOVER_STATE": "env", "CUTOVER_STATE_DIR": "old"}, True, "opt", True, False),
        (None, {"CUTOVER_STATE": "env", "CUTOVER_STATE_DIR": "old"}, True, "env", True, False),
        (None, {"CUTOVER_STATE_DIR": "old"}, True, "old", True, False),
        (None, {}, True, ".cutover", False, True),
        (None, {}, False, "XDG", False, False),
    ],
)
def test_the_state_directory_precedence(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    option: str | None,
    env: dict[str, str],
    legacy: bool,
    expected: str,
    explicit: bool,
    notice: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CUTOVER_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if legacy:
        (tmp_path / ".cutover").mkdir()
        (tmp_path / ".cutover" / "journal.db").write_bytes(b"")
    choice = choose_state(Path(option) if option else None)
    want = tmp_path / "xdg" / "cutover" if expected == "XDG" else Path(expected)
    assert choice.path == want
    assert default_state_dir() == tmp_path / "xdg" / "cutover"
    assert choice.explicit is explicit
    assert (choice.notice is not None) is notice
    if notice:
        assert choice.notice is not None and "the default is now" in choice.notice


def test_a_record_is_json_with_its_target(tmp_path: Path) -> None:
    locks = HostLocks(tmp_path)
    with locks.acquire(["t"], holder("r1", "/st")):
        data = json.loads(locks.path_of("t").read_text(encoding="utf-8"))
    assert data["target"] == "t" and data["run_id"] == "r1" and data["state"] == "/st"


#: A process that takes a target's flock, waits, then writes its record (the window a
#: second run can land in).
SLOW_RECORDER = """
import fcntl, json, os, sys, time
from pathlib import Path
from cutover.lock import HostLocks
locks = HostLocks(Path(sys.argv[1]))
fd = locks._open(sys.argv[2])
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
time.sleep(0.5)
from cutover.lock import _write_record
_write_record(fd, {"target": sys.argv[2], "run_id": "slow", "command": "run",
    "runbook": "book", "environment": "lab", "state": "/s", "user": "u", "host": "h",
    "pid": os.getpid(), "started_at": "t"})
print("recorded", flush=True)
time.sleep(600)
"""


def test_a_refusal_in_the_window_before_the_record_still_names_the_holder(
    tmp_path: Path,
) -> None:
    """The holder takes the flock, then writes its record: a run refused in between waits a
    bounded moment for the record, instead of 'another process (no holder record)'."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_RECORDER, str(tmp_path), "nginx file /x"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        with pytest.raises(LockHeldError) as refused:
            HostLocks(tmp_path).acquire(["nginx file /x"], holder())
        assert refused.value.message.startswith("nginx file /x is locked by run slow (run of")
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
