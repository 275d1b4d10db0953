"""Locks on the target, not the state: runs from different directories and state
directories, of the same or of different runbooks, never overlap on one nginx include file.

A real nginx on loopback (``nginx_world``). The holding run applies one step and then
settles for ten minutes; the tests wait for its ``applied`` journal row (polling,
bounded), never for a fixed time, and stop it with SIGTERM (it rolls back: exit 4).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import cutover.testing as h
from cutover.errors import RunExit
from cutover.lock import HostLocks
from cutover.process import current_user, hostname

RUNBOOK = """\
version: 1
name: NAME
vars: {settle: 10m}
environments:
  local: {description: the loopback nginx of the test}
backends:
  proxy:
    kind: nginx
    file: FILE
    test_command: [BIN, -p, PREFIX, -c, nginx.conf, -e, stderr, -t, -q]
    reload_command: [BIN, -p, PREFIX, -c, nginx.conf, -e, stderr, -s, reload]
probes:
  files-new:
    defaults: {expect: {max_hops: 1, final_url: /new/files/, body: "^new\\n$"}}
    probes: [{url: "ORIGIN/files/pkg/a.tar.gz"}]
  files-legacy:
    defaults: {expect: {max_hops: 1, final_url: /legacy/files/, body: "^legacy\\n$"}}
    probes: [{url: "ORIGIN/files/pkg/a.tar.gz"}]
guard: {min_samples: 1, acceptable_rate: 0.05, unacceptable_rate: 0.5, budget: 20s}
stages:
  - name: switch
    steps:
      - name: /files/ to new
        backend: proxy
        content: |
          location /files/ { return 302 ORIGIN/new$request_uri; }
          location /simple/ { return 302 ORIGIN/legacy$request_uri; }
    settle: "{{ settle }}"
    probes: [files-new]
rollback:
  automatic: true
  verify: [files-legacy]
  settle: 1s  # nginx reloads asynchronously: let the new workers take over
"""


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    state: Path
    out: Path

    def output(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")


def write_runbook(world: Any, where: Path, name: str, file: Path) -> Path:
    text = RUNBOOK
    for key, value in {
        "NAME": name,
        "FILE": str(file),
        "BIN": world.binary,
        "PREFIX": str(world.prefix),
        "ORIGIN": world.origin,
    }.items():
        text = text.replace(key, value)
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{name}.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def runs() -> Any:
    started: list[Run] = []

    def start(runbook: Path, cwd: Path, state: Path) -> Run:
        out = cwd / f"run-{len(started)}.out"
        with out.open("wb") as sink:
            proc = subprocess.Popen(
                h.cutover_argv("run", runbook, "--env", "local", "--yes", "--state", state),
                cwd=cwd,
                env=h.cli_env(),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(Run(proc, state, out))
        return started[-1]

    yield start
    for run in started:
        if run.proc.poll() is None:
            h.kill_group(run.proc, signal.SIGKILL)
            run.proc.wait(timeout=30)


def applied(run: Run) -> str | None:
    """The run id, once the run holds its locks and journaled its step ``applied``."""
    if run.proc.poll() is not None:
        raise AssertionError(f"the holder exited early:\n{run.output()}")
    try:
        ids = h.run_ids(run.state)
        if ids and "applied" in [e.kind for e in h.events(run.state, ids[0])]:
            return ids[0]
    except sqlite3.OperationalError:  # the journal is being created right now
        pass
    return None


def refusal(run_id: str, runbook: str, pid: int, state: Path, target: Path) -> list[str]:
    """The lines a refused run must print: the target, the holder, how to see its run."""
    return [
        f"error: nginx file {os.path.realpath(target)} is locked by run {run_id} (run of"
        f" {runbook} on local) by {current_user()}@{hostname()}, pid {pid}, since ",
        f"see its run: `cutover show {run_id} --state {state.resolve()}`",
    ]


@pytest.mark.slow
def test_two_runs_from_two_directories_at_the_same_moment_exactly_one_runs(
    nginx_world: Any, tmp_path: Path, runs: Any
) -> None:
    initial = nginx_world.managed.read_text(encoding="utf-8")
    dirs = [tmp_path / "alice", tmp_path / "bob"]
    books = [write_runbook(nginx_world, d, "nginx-switch", nginx_world.managed) for d in dirs]
    both = [runs(book, d, d / "state") for book, d in zip(books, dirs, strict=True)]

    def one_refused() -> Run | None:
        return next((r for r in both if r.proc.poll() is not None), None)

    refused = h.wait_for("one of the two runs to be refused", one_refused, 120)
    [holder] = [r for r in both if r is not refused]
    run_id = h.wait_for("the other run's applied step", lambda: applied(holder), 120)

    assert refused.proc.returncode == RunExit.INVALID, refused.output()
    out = refused.output()
    first, see = refusal(run_id, "nginx-switch", holder.proc.pid, holder.state, nginx_world.managed)
    assert first in out and see in out
    assert not (refused.state / "journal.db").exists() or h.run_ids(refused.state) == []

    holder.proc.send_signal(signal.SIGTERM)
    assert holder.proc.wait(timeout=120) == RunExit.STOPPED, holder.output()
    assert nginx_world.managed.read_text(encoding="utf-8") == initial
    # every record of these two runs cleared (other tests' killed runs may leave theirs)
    ours = {str(r.state.resolve()) for r in both}
    assert [x for x in HostLocks().holders() if x.state in ours] == []


@pytest.mark.slow
def test_another_runbook_naming_the_same_file_through_a_symlink_is_refused(
    nginx_world: Any, tmp_path: Path, runs: Any, cli: Any
) -> None:
    initial = nginx_world.managed.read_text(encoding="utf-8")
    alias = tmp_path / "alias" / "route.conf"  # outside managed/: nginx includes it once
    alias.parent.mkdir()
    alias.symlink_to(nginx_world.managed)
    first = runs(
        write_runbook(nginx_world, tmp_path / "a", "switch-a", nginx_world.managed),
        tmp_path / "a",
        tmp_path / "a" / "state",
    )
    run_id = h.wait_for("the first run's applied step", lambda: applied(first), 120)
    applied_content = nginx_world.managed.read_text(encoding="utf-8")

    other = write_runbook(nginx_world, tmp_path / "b", "switch-b", alias)
    second = cli(
        "run", other, "--env", "local", "--yes", "--state", tmp_path / "b" / "state",
        cwd=tmp_path / "b",
    )  # fmt: skip
    assert second.returncode == RunExit.INVALID, second.stdout + second.stderr
    for line in refusal(run_id, "switch-a", first.proc.pid, first.state, nginx_world.managed):
        assert line in second.stderr
    assert second.stdout == ""
    assert nginx_world.managed.read_text(encoding="utf-8") == applied_content  # untouched

    # `status` and `show` from a third directory, without --state, find the live run
    elsewhere = tmp_path / "c"
    elsewhere.mkdir()
    env = {"CUTOVER_STATE_DIR": ""}
    status = cli("status", cwd=elsewhere, env=env)
    assert status.returncode == 0, status.stderr
    assert f"in state {first.state} (--state {first.state}):" in status.stdout
    assert f"  {run_id}  switch-a on local: running (pid {first.proc.pid}" in status.stdout
    show = cli("show", run_id, cwd=elsewhere, env=env)
    assert show.returncode == 0, show.stderr
    assert show.stdout.startswith(f"run {run_id}: switch-a on local — running")

    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(timeout=120) == RunExit.STOPPED, first.output()
    assert nginx_world.managed.read_text(encoding="utf-8") == initial


@pytest.mark.slow
def test_a_dead_holders_unfinished_run_in_another_state_blocks_a_new_run_until_finished(
    nginx_world: Any, tmp_path: Path, runs: Any, cli: Any
) -> None:
    initial = nginx_world.managed.read_text(encoding="utf-8")
    first = runs(
        write_runbook(nginx_world, tmp_path / "a", "switch-a", nginx_world.managed),
        tmp_path / "a",
        tmp_path / "a" / "state",
    )
    run_id = h.wait_for("the first run's applied step", lambda: applied(first), 120)
    pid = first.proc.pid
    h.kill_group(first.proc, signal.SIGKILL)
    first.proc.wait(timeout=30)
    applied_content = nginx_world.managed.read_text(encoding="utf-8")

    other = write_runbook(nginx_world, tmp_path / "b", "switch-b", nginx_world.managed)
    b_state = tmp_path / "b" / "state"
    for _ in range(2):  # refused twice: the dead holder's record is kept for the next one
        again = h.run_cutover("run", other, "--env", "local", "--yes", "--state", b_state)
        assert again.returncode == RunExit.INVALID, again.stdout + again.stderr
        assert (
            f"the previous holder of nginx file {os.path.realpath(nginx_world.managed)} died:"
            f" run {run_id} (run of switch-a on local) by {current_user()}@{hostname()},"
            f" pid {pid}, since " in again.stderr
        )
        a_state = first.state.resolve()
        assert (
            f"finish it first: `cutover resume {run_id} --state {a_state}` or"
            f" `cutover rollback {run_id} --state {a_state}`" in again.stderr
        )
        assert nginx_world.managed.read_text(encoding="utf-8") == applied_content

    # the rollback, from another directory and without --state, finds the run
    back = cli("rollback", run_id, cwd=tmp_path, env={"CUTOVER_STATE_DIR": ""}, timeout=180)
    assert back.returncode == RunExit.OK, back.stdout + back.stderr
    assert nginx_world.managed.read_text(encoding="utf-8") == initial
    fresh = h.run_cutover(
        "run", other, "--env", "local", "--yes", "--var", "settle=1s", "--state", b_state,
        timeout=180,
    )  # fmt: skip
    assert fresh.returncode == RunExit.OK, fresh.stdout + fresh.stderr
    assert "the previous holder" not in fresh.stderr
