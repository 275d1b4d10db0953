"""State at rest is private: a credential in a configuration a step replaces is not in the
journal, and a rollback still restores the configuration byte for byte.

A real nginx on loopback (``nginx_world``) whose managed include file holds
``proxy_set_header Authorization "Bearer <secret>"``. A run replaces that file and its
guard fails, so the automatic rollback restores it from the journaled prior state. The
secret is kept out of the journal two ways (``PROTECTIONS``): as a reference to the secret
(``state.secrets``), or encrypted (the step's ``sensitive`` field, ``state.key``). Every
byte under the state directory is grepped for it, ``show`` is grepped for it, and the file
must come back identical. Then a run killed right after its ``applied`` row is rolled back
by a separate ``cutover rollback`` process: it has only the journal to restore from.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import cutover.testing as h
from cutover.errors import RunExit
from cutover.testing import run_id_of

pytestmark = pytest.mark.nginx

SECRET = f"origin-{secrets.token_hex(16)}"
STATE_KEY = secrets.token_urlsafe(32)
ENV = {"ORIGIN_TOKEN": SECRET, "CUTOVER_STATE_KEY": STATE_KEY}

RUNBOOK = """\
version: 1
name: NAME
environments:
  local: {description: the loopback nginx of the test}
backends:
  proxy:
    kind: nginx
    file: FILE
    test_command: [BIN, -p, PREFIX, -c, nginx.conf, -e, stderr, -t, -q]
    reload_command: [BIN, -p, PREFIX, -c, nginx.conf, -e, stderr, -s, reload]
probes:
  files-legacy:
    defaults: {expect: {max_hops: 1, final_url: /legacy/files/, body: "^legacy\\\\n$"}}
    probes: [{url: "ORIGIN/files/pkg/a.tar.gz"}]
guard: {min_samples: 1, acceptable_rate: 0.05, unacceptable_rate: 0.5, budget: 20s}
state: STATE
stages:
  - name: switch
    steps:
      - name: /files/ to new
        backend: proxy
        sensitive: SENSITIVE
        content: |
          location /files/ { return 302 ORIGIN/new$request_uri; }
          location /simple/ { return 302 ORIGIN/legacy$request_uri; }
    settle: 1s  # nginx reloads asynchronously: let the new workers take over
    probes: [files-legacy]
rollback:
  automatic: true
  verify: [files-legacy]
  settle: 1s
"""

#: protection → (the runbook's ``state:``, the step's ``sensitive:``, what the journal holds)
PROTECTIONS = {
    "reference": ("{secrets: [env:ORIGIN_TOKEN]}", "[]", "${secret:env:ORIGIN_TOKEN}"),
    "encrypted": ("{key: env:CUTOVER_STATE_KEY}", "[Authorization]", "${sealed:gAAAAA"),
}


def private_content(world: Any) -> str:
    """The managed file before the run: the legacy routes, and a location that sends a
    credential upstream (and a literal ``${secret:`` that must survive as it is)."""
    return world.initial_content + (
        "location /private/ {\n"
        f'    proxy_set_header Authorization "Bearer {SECRET}";\n'
        "    # not a reference: ${secret:env:ORIGIN_TOKEN}\n"
        '    return 200 "private\\n";\n'
        "}\n"
    )


def write_runbook(world: Any, where: Path, protection: str) -> Path:
    state, sensitive, _ = PROTECTIONS[protection]
    text = RUNBOOK
    for key, value in {
        "NAME": f"private-{protection}",
        "FILE": str(world.managed),
        "BIN": world.binary,
        "PREFIX": str(world.prefix),
        "ORIGIN": world.origin,
        "STATE": state,
        "SENSITIVE": sensitive,
    }.items():
        text = text.replace(key, value)
    path = where / f"private-{protection}.yml"
    path.write_text(text, encoding="utf-8")
    return path


def run(runbook: Path, state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``cutover run RUNBOOK`` on the loopback nginx, with the secret and key in its
    environment (and ``env``)."""
    argv = ("run", runbook, "--env", "local", "--yes", "--state", state)
    return h.run_cutover(*argv, env={**ENV, **env})


def state_bytes(state: Path) -> bytes:
    """Every byte of every file under the state directory (journal, -wal, -shm, logs)."""
    return b"".join(p.read_bytes() for p in sorted(state.rglob("*")) if p.is_file())


@pytest.fixture(params=sorted(PROTECTIONS))
def world(nginx_world: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """The nginx world with the credential in its managed file, the runbook of one
    protection, and where its state goes."""
    original = private_content(nginx_world).encode("utf-8")
    nginx_world.managed.write_bytes(original)
    protection = str(request.param)
    runbook = write_runbook(nginx_world, tmp_path, protection)
    return SimpleNamespace(
        nginx=nginx_world,
        original=original,
        protection=protection,
        runbook=runbook,
        state=tmp_path / "run-state",
    )


def journaled_prior(state: Path, run_id: str) -> str:
    with contextlib.closing(sqlite3.connect(state / "journal.db")) as db:
        row = db.execute(
            "SELECT data FROM events WHERE run_id = ? AND kind = 'intent'", (run_id,)
        ).fetchone()
    return str(row[0])


@pytest.mark.slow
def test_a_credential_in_a_replaced_nginx_file_is_not_journaled_and_rollback_restores_it(
    world: Any,
) -> None:
    nginx_world, original, protection = world.nginx, world.original, world.protection
    runbook, state = world.runbook, world.state

    ran = run(runbook, state)

    assert ran.returncode == RunExit.ROLLED_BACK, ran.stdout + ran.stderr
    assert "rollback verified" in ran.stdout, ran.stdout
    assert nginx_world.managed.read_bytes() == original
    run_id = h.run_id_of(ran.stdout)
    assert [e.kind for e in h.events(state, run_id) if e.kind in {"intent", "rolled_back"}] == [
        "intent",
        "rolled_back",
    ]
    assert SECRET.encode() not in state_bytes(state)
    held = PROTECTIONS[protection][2]
    prior = journaled_prior(state, run_id)
    assert held in prior, prior
    assert "# not a reference: ${secret:$}env:ORIGIN_TOKEN}" in prior, prior
    shown = h.run_cutover("show", run_id, "--state", state, env=ENV)
    assert shown.returncode == 0, shown.stderr
    assert SECRET not in shown.stdout + shown.stderr
    assert held in shown.stdout, shown.stdout


def _run_killed_after_applied(runbook: Path, state: Path) -> str:
    """A run of ``runbook`` SIGKILLed right after its ``applied`` row; its id."""
    probe_state = state.with_name(state.name + "-count")
    first = run(runbook, probe_state)
    assert first.returncode == RunExit.ROLLED_BACK, first.stdout + first.stderr
    kinds = [e.kind for e in h.events(probe_state, h.run_id_of(first.stdout))]
    writes = 1 + kinds.index("applied") + 1  # the run's row, then one write per event
    killed = run(runbook, state, CUTOVER_TEST_CRASH_AT=str(writes))
    assert killed.returncode == -9, killed.stdout + killed.stderr
    run_id = h.run_ids(state)[0]
    assert [e.kind for e in h.events(state, run_id)][-1] == "applied"
    return run_id


@pytest.mark.slow  # the fast tier keeps a quicker test of this area
def test_a_separate_rollback_process_restores_the_credential_from_the_journal(
    world: Any,
) -> None:
    nginx_world, original, protection = world.nginx, world.original, world.protection
    runbook, state = world.runbook, world.state
    run_id = _run_killed_after_applied(runbook, state)
    assert nginx_world.managed.read_bytes() != original  # the step's content is live
    assert SECRET.encode() not in state_bytes(state)

    # without the secret (or the key) to reopen the prior state, nothing is written
    missing = "ORIGIN_TOKEN" if protection == "reference" else "CUTOVER_STATE_KEY"
    without = {k: v for k, v in ENV.items() if k != missing}
    refused = h.run_cutover("rollback", run_id, "--state", state, env=without)
    assert refused.returncode == RunExit.NEEDS_ATTENTION, refused.stdout + refused.stderr
    assert (
        f"ROLLBACK FAILED for switch step 0: secret env:{missing}: environment variable"
        f" {missing} is not set" in refused.stdout
    ), refused.stdout
    assert f"finish with: cutover rollback {run_id}" in refused.stdout, refused.stdout
    assert nginx_world.managed.read_bytes() != original

    rolled = h.run_cutover("rollback", run_id, "--state", state, env=ENV)
    assert rolled.returncode == RunExit.OK, rolled.stdout + rolled.stderr
    assert nginx_world.managed.read_bytes() == original
    assert SECRET.encode() not in state_bytes(state)


def test_sensitive_without_a_key_is_refused_before_anything_changes(
    nginx_world: Any, tmp_path: Path
) -> None:
    original = private_content(nginx_world).encode("utf-8")
    nginx_world.managed.write_bytes(original)
    runbook = write_runbook(nginx_world, tmp_path, "encrypted")
    runbook.write_text(
        runbook.read_text(encoding="utf-8").replace("state: {key: env:CUTOVER_STATE_KEY}\n", ""),
        encoding="utf-8",
    )
    state = tmp_path / "run-state"

    ran = run(runbook, state)

    assert ran.returncode == RunExit.INVALID, ran.stdout + ran.stderr
    assert (
        f"{runbook}:21:20: stages[0].steps[0].sensitive: sensitive values are stored"
        " encrypted, and no key is configured" in ran.stderr
    ), ran.stderr
    assert nginx_world.managed.read_bytes() == original
    assert not (state / "journal.db").exists()


@pytest.mark.slow
@pytest.mark.parametrize("mask", [0o000, 0o022], ids=lambda m: f"umask {m:03o}")
def test_a_run_under_any_umask_leaves_only_private_state(
    nginx_world: Any, tmp_path: Path, mask: int
) -> None:
    runbook = write_runbook(nginx_world, tmp_path, "reference")
    state, home = tmp_path / "run-state", tmp_path / "xdg"
    previous = os.umask(mask)  # the cutover subprocess inherits it
    try:
        ran = run(runbook, state, XDG_STATE_HOME=str(home))
    finally:
        os.umask(previous)
    assert ran.returncode == RunExit.ROLLED_BACK, ran.stdout + ran.stderr

    def modes(root: Path) -> dict[str, str]:
        paths = [root, *sorted(root.rglob("*"))]
        return {str(p.relative_to(root)): f"{stat.S_IMODE(p.stat().st_mode):04o}" for p in paths}

    log = f"logs/{run_id_of(ran.stdout)}.log"  # the nginx step's log lines (docs/cli.md)
    assert modes(state) == {".": "0700", "journal.db": "0600", "logs": "0700", log: "0600"}
    assert modes(home / "cutover") == {".": "0700", "stores": "0600"}
