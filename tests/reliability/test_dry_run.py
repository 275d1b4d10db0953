"""``cutover run --dry-run``: the runbook rehearsed against a private copy; production untouched.

"Production" is a real nginx on loopback (``nginx_world``: its include file routes /files/
and /simple/ to the legacy backend). A dry run copies its configuration, runs the copy on
other loopback ports, runs every stage there, and removes it. The world's file bytes, its
answers and its reload count must be identical after a dry run that passes and after one
that fails; the dry run's verdict must be the one the real run then has.
"""

from __future__ import annotations

import io
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from cutover.cli.dry_run import MARK, _Marked
from cutover.errors import RunExit

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "runbooks" / "nginx-switch.yml"
BROKEN = ("new_target={origin}/missing",)  # the new backend 404s: the guard fails


def _production(world: Any) -> dict[str, Any]:
    return {**world.snapshot(), "bytes": world.managed.read_bytes(), **world.activity()}


def _dry_run(cli: Any, world: Any, state: Path, *extra: str) -> Any:
    """The dry run, with its temporary directory (where the copy lives) under ``state``."""
    tmp = state.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    args = world.run_args(extra)
    return cli("run", RUNBOOK, "--dry-run", "--state", state, *args, env={"TMPDIR": str(tmp)},
               timeout=180)  # fmt: skip


def _runs(state: Path) -> list[tuple[str, str, dict[str, Any]]]:
    with closing(sqlite3.connect(state / "journal.db")) as db:
        rows = db.execute("SELECT environment, status, options FROM runs ORDER BY started_at")
        return [(env, status, json.loads(options)) for env, status, options in rows]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "code", "status"),
    [((), RunExit.OK, "completed"), (BROKEN, RunExit.ROLLED_BACK, "rolled_back")],
    ids=["passes", "fails-and-rolls-back"],
)
def test_a_dry_run_leaves_production_byte_identical_and_predicts_the_real_run(
    cli: Any, nginx_world: Any, tmp_path: Path, extra: tuple[str, ...], code: int, status: str
) -> None:
    state = tmp_path / "state"
    before = _production(nginx_world)

    dry = _dry_run(cli, nginx_world, state, *extra)

    assert dry.returncode == code, dry.stdout + dry.stderr
    assert _production(nginx_world) == before  # not one byte, answer or reload
    lines = [line for line in dry.stdout.splitlines() if line.strip()]
    assert lines and all(line.startswith(MARK) for line in lines), dry.stdout
    assert f"{MARK}rehearsing nginx-switch against private copies" in dry.stdout
    assert "a private nginx (:" in dry.stdout and "running a copy of" in dry.stdout
    assert f"{MARK}the copies are removed" in dry.stdout
    assert f": {status} (exit {code})" in dry.stdout
    [(env, journaled, options)] = _runs(state)
    assert (env, journaled, options["dry_run"]) == ("local (dry run)", status, True)
    assert list((tmp_path / "tmp").iterdir()) == []  # the copy is removed

    real = cli("run", RUNBOOK, "--state", state, *nginx_world.run_args(extra), timeout=180)
    assert real.returncode == code, real.stdout + real.stderr  # the verdict it predicted
    assert _runs(state)[-1][:2] == ("local", status)


def test_a_dry_run_is_never_resumed_or_rolled_back(
    cli: Any, nginx_world: Any, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    assert _dry_run(cli, nginx_world, state).returncode == RunExit.OK
    for verb in ("resume", "rollback"):
        done = cli(verb, "last", "--state", state)
        assert done.returncode == RunExit.INVALID, done.stdout + done.stderr
        assert "was a dry run: its private copy is gone, and production was never" in done.stderr
        assert f"there is nothing to {verb}" in done.stderr


NOT_REHEARSABLE = """\
version: 1
name: mixed
environments: {production: {}}
backends:
  api: {kind: http, base_url: "http://127.0.0.1:9"}
  ops: {kind: shell}
  lb: {kind: haproxy, socket: /run/haproxy.sock}
probes:
  p: {probes: [{url: "http://127.0.0.1:9/"}]}
stages:
  - name: one
    probes: [p]
    steps:
      - {name: flip, backend: api, path: /flag, body: true}
      - {name: dns, backend: ops, command: [echo, a], undo: [echo, b]}
      - {name: drain, backend: lb, map: /m, set: {a: b}}
"""


def test_what_cannot_be_rehearsed_is_refused_before_anything_starts(
    cli: Any, tmp_path: Path
) -> None:
    runbook = tmp_path / "mixed.yml"
    runbook.write_text(NOT_REHEARSABLE, encoding="utf-8")
    done = cli("run", runbook, "--env", "production", "--dry-run", "--state", tmp_path / "s")
    assert done.returncode == RunExit.INVALID, done.stdout + done.stderr
    assert "this runbook cannot be rehearsed as a dry run:" in done.stderr
    for line in (
        "stage 'one' step 'flip': a http step runs in a dry run only with a `dry_run:`"
        " equivalent (not rehearsable)",
        "stage 'one' step 'dns': a shell step runs in a dry run only with a `dry_run:`"
        " equivalent (not rehearsable)",
        "stage 'one' step 'drain': haproxy backends have no dry-run copy yet",
    ):
        assert line in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("writes", "expected"),
    [
        (["a\nb\n"], f"{MARK}a\n{MARK}b\n"),
        (["a", "b\n", "\n", "c"], f"{MARK}ab\n\n{MARK}c"),
        (["\n", "x\n"], f"\n{MARK}x\n"),
    ],
)
def test_every_line_is_marked_however_it_is_written(writes: list[str], expected: str) -> None:
    out = io.StringIO()
    marked = _Marked(out)
    for text in writes:
        marked.write(text)
    assert out.getvalue() == expected


EQUIVALENTS = """\
version: 1
name: equivalents
environments: {production: {}}
backends:
  api: {kind: http, base_url: "https://api.example.org"}
  ops: {kind: shell}
probes:
  p: {probes: [{url: "https://www.example.org/"}]}
stages:
  - name: one
    probes: [p]
    steps:
      - name: flip
        backend: api
        path: /flag
        body: true
        dry_run: {base_url: "https://staging-api.example.org"}
      - name: dns
        backend: ops
        command: [terraform, apply, -auto-approve]
        undo: [terraform, apply, -auto-approve, -var, old=1]
        check: [terraform, plan, -detailed-exitcode]
        dry_run: {command: [terraform, plan]}
"""


def test_http_and_shell_steps_run_their_dry_run_equivalents(tmp_path: Path) -> None:
    from contextlib import ExitStack

    from cutover.dryrun.rehearsal import NOTHING, rehearse
    from cutover.runbook.loader import load_runbook

    path = tmp_path / "equivalents.yml"
    path.write_text(EQUIVALENTS, encoding="utf-8")
    loaded = load_runbook(path, environment="production")
    with ExitStack() as stack:
        rehearsal = rehearse(loaded, tmp_path / "work", stack)
    [flip, dns] = rehearsal.loaded.model.stages[0].steps
    assert flip.backend == "api@dry-run:https://staging-api.example.org"
    backend = rehearsal.loaded.model.backends[flip.backend]
    assert backend.base_url == "https://staging-api.example.org"  # type: ignore[union-attr]
    assert (dns.command, dns.undo, dns.check) == (["terraform", "plan"], NOTHING, None)  # type: ignore[attr-defined]
    assert rehearsal.copies == []
    assert loaded.model.stages[0].steps[1].command[1] == "apply"  # type: ignore[attr-defined]
