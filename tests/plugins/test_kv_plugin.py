"""A plugin, end to end: the ``kv`` kind (tests/plugins/cutover_kv) reaches cutover only
through a ``cutover.kinds`` entry point in a temporary ``*.dist-info`` on ``PYTHONPATH``,
and is validated, planned, run and rolled back by the real CLI; no core file names it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = Path(__file__).resolve().parent  # holds the cutover_kv package
ORIGINAL = {"color": "red", "status": "200"}

Cli = Callable[..., subprocess.CompletedProcess[str]]  #: tests/conftest.py's `cli`

RUNBOOK = """\
name: kv-flip
environments:
  local: {{}}
vars:
  color: blue
  status: "200"
backends:
  store: {{kind: kv, file: "{store}", keys: [color, status]}}
probes:
  up:
    probes:
      - {{url: "{origin}/a", expect: {{status: 200}}}}
      - {{url: "{origin}/b", expect: {{status: 200}}}}
  painted:
    probes:
      - {{url: "{origin}/c", expect: {{status: 200, body: "^{{{{ color }}}}$"}}}}
guard: {{acceptable_rate: 0.05, unacceptable_rate: 0.5, min_samples: 4, budget: 20s, interval: 0}}
stages:
  - {{name: preflight, preflight: true, probes: [up]}}
  - name: paint
    steps:
      - name: paint it
        backend: store
        set: {{color: "{{{{ color }}}}", status: "{{{{ status }}}}"}}
    probes: [up, painted]
rollback: {{verify: [up]}}
"""


def dist_info(site: Path, name: str, entry_points: str) -> None:
    """A minimal installed distribution: METADATA and entry_points.txt, nothing else."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site directory where the kv plugin is 'installed' (its entry point declared)."""
    site = tmp_path / "site"
    dist_info(site, "cutover_kv", "[cutover.kinds]\nkv = cutover_kv:KIND\n")
    return site


@pytest.fixture
def cutover(cli: Cli) -> Cli:
    """The real CLI (tests/conftest.py) with ``path`` (and src) on ``PYTHONPATH``."""

    def run(*args: str | Path, path: list[Path]) -> subprocess.CompletedProcess[str]:
        return cli(*args, env={"PYTHONPATH": os.pathsep.join(map(str, [*path, ROOT / "src"]))})

    return run


class Store:
    """The kv file, and a loopback HTTP server that answers from it: ``status`` and a
    body of ``color``. What the plugin's steps write is what the probes see."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.file.write_text(json.dumps(ORIGINAL, sort_keys=True))
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = store.read()
                body = data.get("color", "").encode()
                self.send_response(int(data.get("status", "200")))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def read(self) -> dict[str, str]:
        data: dict[str, str] = json.loads(self.file.read_text())
        return data


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "store.json")
    store.thread.start()
    yield store
    store.server.shutdown()
    store.server.server_close()


@pytest.fixture
def runbook(tmp_path: Path, store: Store) -> Path:
    path = tmp_path / "kv-flip.yml"
    path.write_text(RUNBOOK.format(store=store.file, origin=store.origin))
    return path


def test_validate_knows_the_plugin_kind(cutover: Cli, site: Path, runbook: Path) -> None:
    proc = cutover("validate", runbook, path=[site, PLUGINS])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(": ok (runbook, 2 stages, 1 steps, environments: local)")


def test_without_the_plugin_installed_the_kind_is_unknown(cutover: Cli, runbook: Path) -> None:
    proc = cutover("validate", runbook, path=[PLUGINS])  # importable, but not declared
    assert proc.returncode == 2
    assert "backends.store.kind: unknown kind 'kv'" in proc.stderr
    assert "a plugin's kind is known once its package is installed" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("edit", "located", "hint"),
    [
        (  # the plugin's step model gives the did-you-mean for a misspelt key
            ("set: {color", "sett: {color"),
            "stages[1].steps[0].sett: unknown key 'sett'",
            "did you mean 'set'?",
        ),
        (  # the plugin's cross-check hook, located by the core
            ('status: "{{ status }}"}', 'size: "2"}'),
            "stages[1].steps[0].set.size: key 'size' is not among the backend's `keys`",
            None,
        ),
        (  # a misspelt kind names the plugin's kind among the registered ones
            ("kind: kv,", "kind: kvv,"),
            "backends.store.kind: unknown kind 'kvv'",
            "did you mean 'kv'? (one of: fastly, haproxy, http, kv, nginx, shell, varnish)",
        ),
        (  # the plugin's settings model
            ("file:", "path:"),
            "backends.store.path: unknown key 'path'",
            "expected one of: file, keys, kind",
        ),
    ],
    ids=["step-key", "cross-check", "kind", "settings"],
)
def test_plugin_errors_are_located(
    cutover: Cli,
    site: Path,
    runbook: Path,
    edit: tuple[str, str],
    located: str,
    hint: str | None,
) -> None:
    text = runbook.read_text()
    assert edit[0] in text
    runbook.write_text(text.replace(edit[0], edit[1], 1))
    proc = cutover("validate", runbook, path=[site, PLUGINS])
    assert proc.returncode == 2, proc.stdout
    lines = proc.stderr.splitlines()
    first = next(i for i, line in enumerate(lines) if located in line)
    assert lines[first].startswith(f"{runbook.name}:") or lines[first].startswith(str(runbook))
    if hint is not None:
        assert lines[first + 1].strip() == f"hint: {hint}"
    assert "Traceback" not in proc.stderr


def test_schema_lists_the_plugin_kind(cutover: Cli, site: Path) -> None:
    proc = cutover("schema", path=[site, PLUGINS])
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert {"KvSettings", "KvStep"} <= set(schema["$defs"])
    backends = schema["properties"]["backends"]["additionalProperties"]
    assert backends["discriminator"]["mapping"]["kv"] == "#/$defs/KvSettings"
    assert sorted(backends["discriminator"]["mapping"]) == [
        "fastly",
        "haproxy",
        "http",
        "kv",
        "nginx",
        "shell",
        "varnish",
    ]


def test_plan_shows_the_plugin_diff_and_writes_nothing(
    cutover: Cli,
    site: Path,
    runbook: Path,
    store: Store,
) -> None:
    proc = cutover("plan", runbook, "--env", "local", path=[site, PLUGINS])
    assert proc.returncode == 0, proc.stderr
    assert "~ store.json[color]: 'red' → 'blue'" in proc.stdout
    assert "= store.json[status]: '200' (unchanged)" in proc.stdout
    assert store.read() == ORIGINAL


# show: the intent with the plugin's diff (its plan against the prior it read); the prior
# and the record themselves are in `cutover report RUN --format json`
INTENT = "paint[0] intent: paint it\n      ~ store.json[color]: 'red' → 'blue'\n"
APPLIED = "paint[0] applied: paint it\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "code", "status", "after", "rows"),
    [
        ([], 0, "completed", {"color": "blue", "status": "200"}, [INTENT, APPLIED]),
        (  # the probes see 503s: the plugin's rollback puts the prior values back
            ["--var", "status=503"],
            1,
            "rolled_back",
            ORIGINAL,
            [
                INTENT,
                APPLIED,
                "paint[0] rolled back: name: paint it",
                " rollback verified: reason: stage 'paint'",
                "nothing is left applied",
            ],
        ),
    ],
    ids=["completes", "rolls-back"],
)
def test_run_with_the_plugin(
    cutover: Cli,
    site: Path,
    runbook: Path,
    store: Store,
    tmp_path: Path,
    extra: list[str],
    code: int,
    status: str,
    after: dict[str, str],
    rows: list[str],
) -> None:
    state = tmp_path / "state"
    args = ("run", runbook, "--env", "local", *extra, "--state-dir", state)
    proc = cutover(*args, path=[site, PLUGINS])
    assert proc.returncode == code, proc.stdout + proc.stderr
    run_id = proc.stdout.splitlines()[0].split()[1].rstrip(":")
    assert f"run {run_id}: {status} (exit {code})" in proc.stdout
    assert store.read() == after
    shown = cutover("show", run_id, "--state-dir", state, path=[site, PLUGINS])
    assert shown.returncode == 0, shown.stderr
    # the journal holds what the plugin read, did (and undid)
    assert [row for row in rows if row not in shown.stdout] == []
    assert ("rolled back:" in shown.stdout) == (code == 1)


def test_a_second_plugin_with_the_same_kind_is_refused(
    cutover: Cli, site: Path, runbook: Path
) -> None:
    copy = site / "kv_copy.py"
    copy.write_text(
        "import dataclasses\nfrom cutover_kv import KIND as _K\n"
        "KIND = dataclasses.replace(_K, summary='another kv')\n"
    )
    dist_info(site, "kv_copy", "[cutover.kinds]\nkv = kv_copy:KIND\n")
    proc = cutover("validate", runbook, path=[site, PLUGINS])
    assert proc.returncode == 2
    assert "backend kind 'kv' is already registered (by entry point" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_plugin_that_fails_to_load_is_named(cutover: Cli, site: Path, runbook: Path) -> None:
    dist_info(site, "broken", "[cutover.kinds]\nnope = no_such_module_here:KIND\n")
    proc = cutover("validate", runbook, path=[site, PLUGINS])
    assert proc.returncode == 2
    assert (
        "entry point 'no_such_module_here:KIND' (cutover.kinds) failed to load:"
        " ModuleNotFoundError" in proc.stderr
    )
    assert "Traceback" not in proc.stderr


LATE = """\
import dataclasses, sys
from pathlib import Path
import cutover.guards  # imports the runbook models first: the old union froze here
import cutover
from cutover_kv import KIND
from cutover.runbook.schema import json_schema

cutover.register_kind(KIND)
loaded = cutover.load_runbook(Path(sys.argv[1]), environment="local")
print(type(loaded.model.backends["store"]).__name__, type(loaded.model.stages[1].steps[0]).__name__)
print("KvStep" in json_schema("runbook")["$defs"])
try:
    cutover.register_kind(dataclasses.replace(KIND, summary="again"))
except cutover.CutoverError as exc:
    print(exc.message)
"""


def test_registering_after_import_works_in_process(runbook: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, [PLUGINS, ROOT / "src"])))
    proc = subprocess.run(
        [sys.executable, "-c", LATE, str(runbook)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "KvSettings KvStep",
        "True",
        "backend kind 'kv' is already registered (by a register() call);"
        " a register() call registers it again",
    ]
