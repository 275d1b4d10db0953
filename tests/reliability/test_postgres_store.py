"""A team's store: runs against one PostgreSQL, with a real nginx on loopback.

Two "hosts" are two host-wide lock directories ($CUTOVER_LOCK_DIR) pointing at one
database: only the PostgreSQL advisory locks stand between them. A SQLite-store run and a
PostgreSQL-store run on one host exclude each other through the host's locks. And the
server killed in the middle of a run: the run stops (exit 3, the command to finish),
nothing is applied without its intent row, and ``rollback`` finishes once it is back.

The holding run applies one step and then settles; tests wait for its ``applied`` row
(polling, bounded), never for a fixed time.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

import cutover.testing as h
from cutover.errors import RunExit
from cutover.process import current_user, hostname

from .test_target_locks import write_runbook


def pg_events(url: str) -> list[tuple[str, str | None, int | None]]:
    """(kind, stage, step) of every event, read straight from the database."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        found = conn.execute("SELECT to_regclass('events') IS NOT NULL").fetchone()
        if not found or not found[0]:
            return []
        rows = conn.execute("SELECT kind, stage, step FROM events ORDER BY id").fetchall()
    return [(str(r[0]), r[1], r[2]) for r in rows]


def pg_runs(url: str) -> list[tuple[str, str, int | None]]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute("SELECT id, status, exit_code FROM runs ORDER BY started_at")
        return [(str(r[0]), str(r[1]), r[2]) for r in rows.fetchall()]


def applied_run(url: str, proc: subprocess.Popen[bytes], out: Path) -> str | None:
    if proc.poll() is not None:
        raise AssertionError(f"the holder exited early:\n{out.read_text()}")
    try:
        if ("applied", "switch", 0) in pg_events(url):
            return pg_runs(url)[0][0]
    except psycopg.Error:
        return None  # the schema is being created right now
    return None


@pytest.fixture
def holder_run(tmp_path: Path) -> Any:
    """Start ``cutover run`` in the background; killed (group) at teardown if still alive."""
    started: list[subprocess.Popen[bytes]] = []

    def start(runbook: Path, state: str, env: dict[str, str], *extra: str) -> Any:
        out = tmp_path / f"holder-{len(started)}.out"
        with out.open("wb") as sink:
            proc = subprocess.Popen(
                h.cutover_argv(
                    "run", runbook, "--env", "local", "--yes", "--state", state, *extra
                ),
                cwd=runbook.parent,
                env=h.cli_env(env),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(proc)
        return proc, out

    yield start
    for proc in started:
        if proc.poll() is None:
            h.kill_group(proc, signal.SIGKILL)
            proc.wait(timeout=30)


def host_env(tmp_path: Path, name: str) -> dict[str, str]:
    """One simulated host: its own lock directory and per-user state."""
    base = tmp_path / name
    (base / "locks").mkdir(parents=True, exist_ok=True)
    return {"CUTOVER_LOCK_DIR": str(base / "locks"), "XDG_STATE_HOME": str(base / "xdg")}


@pytest.mark.slow
def test_two_hosts_sharing_one_postgresql_never_drive_one_target_at_once(
    nginx_world: Any, pg_url: str, tmp_path: Path, holder_run: Any
) -> None:
    initial = nginx_world.managed.read_text(encoding="utf-8")
    alice, bob = host_env(tmp_path, "alice"), host_env(tmp_path, "bob")
    book_a = write_runbook(nginx_world, tmp_path / "alice", "switch-a", nginx_world.managed)
    book_b = write_runbook(nginx_world, tmp_path / "bob", "switch-b", nginx_world.managed)
    proc, out = holder_run(book_a, pg_url, alice)
    run_id = h.wait_for("alice's applied step", lambda: applied_run(pg_url, proc, out), 120)
    applied_content = nginx_world.managed.read_text(encoding="utf-8")

    refused = h.run_cutover(
        "run", book_b, "--env", "local", "--yes", "--state", pg_url, env=bob, timeout=120
    )
    assert refused.returncode == RunExit.INVALID, refused.stdout + refused.stderr
    target = f"nginx file {os.path.realpath(nginx_world.managed)}"
    assert (
        f"error: {target} is locked by run {run_id} (run of switch-a on local) by"
        f" {current_user()}@{hostname()}, pid {proc.pid}, since " in refused.stderr
    )
    assert f"see its run: `cutover show {run_id} --state {pg_url}`" in refused.stderr
    assert nginx_world.managed.read_text(encoding="utf-8") == applied_content
    assert [r[0] for r in pg_runs(pg_url)] == [run_id]  # the refused run wrote nothing

    # bob finds alice's run from his "host", through the shared store
    show = h.run_cutover("show", run_id, "--state", pg_url, env=bob)
    assert show.returncode == RunExit.OK, show.stderr
    assert show.stdout.startswith(f"run {run_id}: switch-a on local — running")
    status = h.run_cutover("status", env={**bob, "CUTOVER_STATE": pg_url})
    assert f"{run_id}  switch-a on local: running (pid {proc.pid}" in status.stdout

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == RunExit.STOPPED, out.read_text()
    assert nginx_world.managed.read_text(encoding="utf-8") == initial
    with psycopg.connect(pg_url) as conn:  # every lease released
        assert conn.execute("SELECT count(*) FROM leases").fetchone() == (0,)


@pytest.mark.slow
def test_a_sqlite_store_run_and_a_postgresql_store_run_on_one_host_exclude_each_other(
    nginx_world: Any, pg_url: str, tmp_path: Path, holder_run: Any
) -> None:
    here = host_env(tmp_path, "host")
    book_a = write_runbook(nginx_world, tmp_path / "a", "switch-a", nginx_world.managed)
    book_b = write_runbook(nginx_world, tmp_path / "b", "switch-b", nginx_world.managed)
    proc, out = holder_run(book_a, pg_url, here)
    run_id = h.wait_for("the PostgreSQL run's step", lambda: applied_run(pg_url, proc, out), 120)
    local = tmp_path / "b" / "state"
    refused = h.run_cutover(
        "run", book_b, "--env", "local", "--yes", "--state", local, env=here, timeout=120
    )
    assert refused.returncode == RunExit.INVALID, refused.stdout + refused.stderr
    assert f"is locked by run {run_id} (run of switch-a on local)" in refused.stderr
    assert f"`cutover show {run_id} --state {pg_url}`" in refused.stderr
    assert not (local / "journal.db").exists() or h.run_ids(local) == []
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == RunExit.STOPPED, out.read_text()


@pytest.mark.slow  # the fast tier keeps a quicker test of this area
def test_the_server_killed_mid_run_stops_the_run_and_rollback_finishes_once_it_is_back(
    nginx_world: Any, postgres_server: Any, pg_url: str, tmp_path: Path, holder_run: Any
) -> None:
    initial = nginx_world.managed.read_text(encoding="utf-8")
    here = host_env(tmp_path, "host")
    book = write_runbook(nginx_world, tmp_path / "a", "switch-a", nginx_world.managed)
    # the stage settles 20 s after its step: the server dies in that window
    proc, out = holder_run(book, pg_url, here, "--var", "settle=20s")
    run_id = h.wait_for("the applied step", lambda: applied_run(pg_url, proc, out), 120)
    applied_content = nginx_world.managed.read_text(encoding="utf-8")
    before = pg_events(pg_url)
    postgres_server.stop("immediate")
    try:
        code = proc.wait(timeout=120)
        output = out.read_text(encoding="utf-8")
        assert code == RunExit.NEEDS_ATTENTION, output
        assert f"run {run_id}: needs_attention (exit 3)" in output
        assert f"the PostgreSQL state store {pg_url} is unreachable: " in output
        assert f"finish with: cutover rollback {run_id} --state {pg_url}" in output
        assert "still applied (newest last):\n    - switch//files/ to new (applied)" in output
        assert "Traceback" not in output
        # stopped where it was: the step is still applied, nothing undone unrecorded
        assert nginx_world.managed.read_text(encoding="utf-8") == applied_content
    finally:
        postgres_server.start()
    after = pg_events(pg_url)
    assert after == before  # nothing was written while the server was down
    intents = {(s, n) for k, s, n in after if k == "intent"}
    assert {(s, n) for k, s, n in after if k == "applied"} <= intents
    back = h.run_cutover("rollback", run_id, "--state", pg_url, env=here, timeout=180)
    assert back.returncode == RunExit.OK, back.stdout + back.stderr
    assert f"run {run_id}: rolled_back (exit 0)" in back.stdout
    assert nginx_world.managed.read_text(encoding="utf-8") == initial
    assert pg_runs(pg_url) == [(run_id, "rolled_back", 0)]
