"""Helpers shared by the flaky-control-plane, failed-rollback and concurrency tests.

Not a test module (pytest collects ``test_*.py`` only) and not a package: the tests run
under ``--import-mode=importlib``, so they load this file by path, and
``benchmarks/flaky_control_plane.py`` puts this directory on ``sys.path``.

- :class:`LabProcess`: ``cutover lab serve`` in its own process (its own session, so
  :meth:`LabProcess.stop` ends it and nothing else), attached to a state directory; the
  lab's admin API (state, reset, API faults).
- :func:`fingerprint`: the lab's settings that a runbook may change, per service: the
  active version's domains and settings, and its dictionaries' items. Version numbers
  are left out on purpose: a rolled-back version step leaves an inactive version behind
  (Fastly keeps every version), and a clone retried after a lost answer leaves an extra
  draft; neither is served.
- :func:`cutover`: the real CLI in a subprocess, always bounded by a timeout.
- Journal readers (plain SQL, as an operator would look).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
HERE = Path(__file__).resolve().parent
RUNBOOKS = HERE / "runbooks"
PYPI_FILES = ROOT / "runbooks" / "pypi-files.yml"

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0

T = TypeVar("T")


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("COLUMNS", None)
    env.pop("CUTOVER_STATE", None)
    env.pop("CUTOVER_STATE_DIR", None)
    env.pop("CUTOVER_TEST_CRASH_AT", None)
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def cutover_argv(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "cutover", *map(str, args)]


def cutover(
    *args: str | Path, timeout: float = 300.0, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cutover ARGS`` from the repository root, bounded by ``timeout``."""
    return subprocess.run(
        cutover_argv(*args),
        cwd=ROOT,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(what: str, probe: Callable[[], T | None], deadline_s: float = 60.0) -> T:
    """Poll ``probe`` until it returns something other than None, or fail at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def kill_group(proc: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    """Signal a process started with ``start_new_session=True`` and all its children."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


# --- the lab in its own process ----------------------------------------------------------------


class LabProcess:
    """``cutover lab serve`` for one state directory; commands using it attach to it."""

    def __init__(self, state_dir: Path, *, seed: int = 0) -> None:
        self.state_dir = state_dir
        self.seed = seed
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self._client: httpx.Client | None = None

    def start(self) -> LabProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = (self.state_dir / "lab-serve.log").open("wb")
        argv = cutover_argv(
            "lab", "serve", "--state-dir", self.state_dir, "--port", "0", "--api-port", "0",
            "--seed", str(self.seed),
        )  # fmt: skip
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        endpoint = self.state_dir / "lab" / "endpoint.json"
        proc = self.proc

        def published() -> dict[str, Any] | None:
            if proc.poll() is not None:
                raise AssertionError(f"the lab exited early: {self.log()}")
            try:
                info = json.loads(endpoint.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return info if isinstance(info, dict) and info.get("pid") == proc.pid else None

        self.info = wait_for("the lab's endpoint file", published, START_TIMEOUT_S)
        self._client = httpx.Client(
            base_url=self.info["api_url"], headers={"Fastly-Key": self.token}, timeout=10.0
        )
        return self

    def log(self) -> str:
        path = self.state_dir / "lab-serve.log"
        return path.read_text(encoding="utf-8", errors="replace")[-2000:] if path.exists() else ""

    @property
    def token(self) -> str:
        return str(self.info["token"])

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """A call to the lab's admin API (``/lab/...``: never subject to API faults)."""
        assert self._client is not None
        response = self._client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        return dict(self.admin("GET", "/lab/state"))

    def reset(self) -> None:
        """The scenario's initial state; API and backend faults cleared."""
        self.admin("POST", "/lab/reset")

    def api_faults(self, **faults: Any) -> dict[str, Any]:
        return dict(self.admin("PUT", "/lab/faults/api", faults))

    def clear_faults(self) -> None:
        self.admin("DELETE", "/lab/faults")

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        kill_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            kill_group(proc, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> LabProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def served_lab(state_dir: Path, seed: int = 0) -> Iterator[LabProcess]:
    lab = LabProcess(state_dir, seed=seed)
    try:
        yield lab.start()
    finally:
        lab.stop()


# --- what the lab serves -----------------------------------------------------------------------

Fingerprint = dict[str, dict[str, Any]]


def fingerprint(state: Mapping[str, Any]) -> Fingerprint:
    """Per service name: the active version's domains and settings, its dictionaries' items."""
    out: Fingerprint = {}
    for service in state["services"]:
        active = [v for v in service["versions"] if v["active"]]
        assert len(active) == 1, f"{service['name']}: {len(active)} active versions"
        version = active[0]
        items = service.get("items", {})
        out[service["name"]] = {
            "domains": sorted(d["name"] for d in version["domains"]),
            "settings": dict(version["settings"]),
            "dictionaries": {
                d["name"]: {k: v["value"] for k, v in sorted(items.get(d["id"], {}).items())}
                for d in version["dictionaries"]
            },
        }
    return out


def locked_versions(state: Mapping[str, Any]) -> dict[str, int]:
    """Per service: versions ever activated (the lab, like Fastly, locks them on activation)."""
    return {s["name"]: sum(1 for v in s["versions"] if v["locked"]) for s in state["services"]}


def draft_versions(state: Mapping[str, Any]) -> dict[str, int]:
    """Per service: versions never activated (e.g. a clone whose answer was lost)."""
    return {s["name"]: sum(1 for v in s["versions"] if not v["locked"]) for s in state["services"]}


def migrated(initial: Fingerprint) -> Fingerprint:
    """What ``runbooks/pypi-files.yml`` leaves once completed, derived from the initial state.

    Written from the runbook by hand, so a run is checked against an independent oracle:
    files signs on the origin-facing node only; legacy no longer claims the bucket host;
    legacy redirects every path with a 301.
    """
    want = json.loads(json.dumps(initial))
    want["files"]["settings"]["lab.sign_scope"] = "origin_node"
    legacy = want["legacy"]
    legacy["domains"] = [d for d in legacy["domains"] if d != "pypi-files.s3.amazonaws.com"]
    legacy["dictionaries"]["redirects"].update({"mode": "301", "percent": "100", "prefixes": "/"})
    legacy["dictionaries"]["redirects"] = dict(sorted(legacy["dictionaries"]["redirects"].items()))
    return dict(want)


# --- the journal -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    kind: str
    stage: str | None
    step: int | None
    data: dict[str, Any]


def run_id_of(stdout: str) -> str:
    """The run id from the first line of ``cutover run`` (``run ID: RUNBOOK on ENV``)."""
    first = stdout.splitlines()[0] if stdout else ""
    assert first.startswith("run "), f"no run line in: {stdout[:500]!r}"
    return first.split()[1].rstrip(":")


def _db(state_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{state_dir / 'journal.db'}?mode=ro", uri=True, timeout=10)


def events(state_dir: Path, run_id: str) -> list[Event]:
    with contextlib.closing(_db(state_dir)) as db:
        rows = db.execute(
            "SELECT kind, stage, step, data FROM events WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()
    return [Event(r[0], r[1], r[2], json.loads(r[3])) for r in rows]


def run_row(state_dir: Path, run_id: str) -> dict[str, Any]:
    with contextlib.closing(_db(state_dir)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    assert row is not None, f"no run {run_id} in the journal"
    return dict(row)


def run_ids(state_dir: Path) -> list[str]:
    if not (state_dir / "journal.db").exists():
        return []
    with contextlib.closing(_db(state_dir)) as db:
        return [r[0] for r in db.execute("SELECT id FROM runs ORDER BY started_at, id")]


def applied_twice(state_dir: Path, run_id: str) -> dict[str, int]:
    """Steps of a run with more than one ``applied`` row: ``{"stage[step]": n}``."""
    counts = Counter(
        f"{e.stage}[{e.step}]" for e in events(state_dir, run_id) if e.kind == "applied"
    )
    return {key: n for key, n in counts.items() if n > 1}
