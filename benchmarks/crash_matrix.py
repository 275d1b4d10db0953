"""Crash matrix: kill cutover at every journal boundary, then roll back or resume.

For each scenario (a runbook against a world that outlives cutover: a lab served by
``cutover lab serve`` in its own process, or a real nginx on loopback), an uncrashed
reference run counts the journal writes W (the run row, every event, the final status).
Then, for every boundary N = 1 … W and each of two modes, in a fresh world:

1. ``cutover run … --yes`` with ``CUTOVER_TEST_CRASH_AT=N``: it must die by SIGKILL;
2. ``rollback`` mode: ``cutover rollback last`` → exit 0, the world's settings equal the
   initial ones exactly, every step that got an ``intent`` ends ``rolled_back`` or
   ``not_applied``, the run is ``rolled_back``, nothing was applied twice;
   ``resume`` mode: ``cutover resume last --yes`` → the exit code, final status, final
   settings, passed stages and applied steps of the uncrashed run (a run whose final
   status was written before the crash is refused with exit 2: nothing to resume).

Boundary W + 1 is run once per scenario and must not crash: the count is exact.

Named crash points inside actions (``cutover.crash_points``: the same variable holds
``NAME#K`` instead of N) add the boundaries the journal hook cannot reach: for nginx,
``nginx.written`` (the include file written, nginx neither tested nor reloaded); for
HAProxy, ``haproxy.committed`` (the runtime map committed, the map file not yet written);
for Varnish, ``varnish.loaded`` (the VCL loaded, not yet in use).

With ``--postgres``, the journal of every run is a PostgreSQL database instead (a fresh
one per case, on a server started in a temporary directory, cutover.testing.postgres):
the same boundaries, the same checks.

Prints ``name=value`` lines (counts; ``seconds`` is informational). Usage::

    python benchmarks/crash_matrix.py                 # every boundary of every scenario
    python benchmarks/crash_matrix.py --jobs 4 --scenario nginx-switch
    python benchmarks/crash_matrix.py --postgres --scenario nginx-switch

The test suite (tests/reliability/test_crash_matrix.py) imports this module and runs a
sample of the same cases with the same checks.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from json import loads
from pathlib import Path
from typing import Any, Protocol

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cutover.testing import (  # noqa: E402
    NginxServer,
    ServedLab,
    nginx_binary,
    run_cutover,
    run_ids,
    run_row,
    running_nginx,
)
from cutover.testing import events as journal_events  # noqa: E402
from cutover.testing.haproxy import haproxy_binary  # noqa: E402, F401 (for the tests)
from cutover.testing.journal import Event  # noqa: E402
from cutover.testing.proxy_process import first_hop, local_run_args  # noqa: E402
from cutover.testing.proxy_worlds import RAMP_PATHS, HaproxyWorld, VarnishWorld  # noqa: E402, F401
from cutover.testing.varnish import varnishd_binary  # noqa: E402, F401 (for the tests)

PYPI_RUNBOOK = ROOT / "runbooks" / "pypi-files.yml"
NGINX_RUNBOOK = ROOT / "runbooks" / "nginx-switch.yml"
HAPROXY_RUNBOOK = ROOT / "runbooks" / "haproxy-ramp.yml"
VARNISH_RUNBOOK = ROOT / "runbooks" / "varnish-switch.yml"

CRASH_ENV = "CUTOVER_TEST_CRASH_AT"
SIGKILLED = -signal.SIGKILL
CLI_TIMEOUT = 240.0  #: seconds, per cutover command (a full pypi-files run takes ~11 s)
#: `resume` of a run whose final status is already written: nothing to do, exit 2.
EXIT_NOTHING_TO_DO = 2


# --- running cutover ------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        tail = (self.stdout + self.stderr).strip().splitlines()[-8:]
        return f"`cutover {' '.join(self.args)}` exit {self.returncode}: " + " | ".join(tail)


def cutover(
    *args: str | Path,
    crash_at: int | str | None = None,
    timeout: float = CLI_TIMEOUT,
    env: dict[str, str] | None = None,
) -> Ran:
    """Run the real CLI in a subprocess (bounded by ``timeout``)."""
    argv = tuple(str(a) for a in args)
    extra = dict(env or {})
    if crash_at is not None:
        extra[CRASH_ENV] = str(crash_at)
    proc = run_cutover(*argv, cwd=ROOT, env=extra, timeout=timeout)
    return Ran(argv, proc.returncode, proc.stdout, proc.stderr)


# --- the journal, read independently of cutover's own folding -------------------------------


@dataclass(frozen=True)
class RunRow:
    id: str
    status: str
    exit_code: int | None


@dataclass(frozen=True)
class JournalView:
    runs: tuple[RunRow, ...]
    events: tuple[Event, ...]

    @property
    def run(self) -> RunRow | None:
        return self.runs[0] if self.runs else None

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def count(self, kind: str) -> Counter[tuple[str, int]]:
        return Counter(e.key for e in self.events if e.kind == kind and e.key is not None)

    def final_step_status(self) -> dict[tuple[str, int], str]:
        """Every step that got an intent → its last intent/applied/undo event kind."""
        status: dict[tuple[str, int], str] = {}
        for e in self.events:
            if e.key is None:
                continue
            if e.kind == "intent" or (
                e.key in status and e.kind in ("applied", "rolled_back", "not_applied")
            ):
                status[e.key] = e.kind
        return status

    def passed(self) -> Counter[str]:
        return Counter(e.stage or "" for e in self.events if e.kind == "stage_passed")

    def after(self, last_id: int) -> list[Event]:
        return [e for e in self.events if e.id > last_id]

    @property
    def last_id(self) -> int:
        return self.events[-1].id if self.events else 0


@dataclass(frozen=True)
class StateStore:
    """Where a run's journal is: the world's state directory, or a PostgreSQL database
    (``url``; the state directory then stays this machine's: the lab's endpoint, logs)."""

    directory: Path
    url: str | None = None

    def args(self) -> list[str]:
        return ["--state", self.url] if self.url else ["--state-dir", str(self.directory)]

    def env(self) -> dict[str, str]:
        """With a URL, the per-user local state is ``directory`` (through XDG_STATE_HOME)."""
        if self.url is None:
            return {}
        home = self.directory.parent / "xdg-state"
        link = home / "cutover"
        if not link.exists():
            home.mkdir(parents=True, exist_ok=True)
            link.symlink_to(self.directory)
        return {"XDG_STATE_HOME": str(home)}


Database = Callable[[str], str]  #: a name → the URL of a fresh PostgreSQL database


def store_for(world: Any, database: Database | None, name: str) -> StateStore:
    if database is None:
        return StateStore(world.state_dir)
    return StateStore(world.state_dir, database(name))


def read_journal(where: Path | StateStore) -> JournalView:
    if isinstance(where, StateStore):
        return read_pg_journal(where.url) if where.url else read_journal(where.directory)
    runs = []
    for run_id in run_ids(where):
        row = run_row(where, run_id)
        runs.append(RunRow(run_id, row["status"], row["exit_code"]))
    return JournalView(tuple(runs), tuple(journal_events(where)))


def read_pg_journal(url: str) -> JournalView:
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as db:
        found = db.execute("SELECT to_regclass('runs') IS NOT NULL").fetchone()
        if not found or not found[0]:
            return JournalView((), ())
        return _view(db)


def _view(db: Any) -> JournalView:
    """The runs and events of an open connection (sqlite3 or psycopg: the same SQL)."""
    runs = tuple(
        RunRow(r[0], r[1], r[2])
        for r in db.execute("SELECT id, status, exit_code FROM runs ORDER BY started_at")
    )
    events = tuple(
        Event(r[0], r[1], r[2], r[3], loads(r[4]))
        for r in db.execute("SELECT id, kind, stage, step, data FROM events ORDER BY id")
    )
    return JournalView(runs, events)


# --- worlds: what the runbook changes, living outside the cutover process -------------------


class World(Protocol):
    state_dir: Path

    def run_args(self, extra_vars: Sequence[str]) -> list[str]:
        """``--env``/``--var`` arguments of ``cutover run`` for this world."""

    def snapshot(self) -> dict[str, Any]:
        """The settings a rollback must restore exactly (comparable across worlds)."""

    def activity(self) -> dict[str, int]:
        """Counters of changes actually made (versions created, nginx reloads)."""

    def expected_activity(self, start: dict[str, int], journal: JournalView) -> dict[str, int]:
        """What :meth:`activity` must be if every journaled change happened exactly once."""


class LabWorld(ServedLab):
    """A lab served by ``cutover lab serve`` in its own process, for base/state."""

    def __init__(self, base: Path) -> None:
        super().__init__(base / "state", log=base / "lab-serve.log")

    def run_args(self, extra_vars: Sequence[str]) -> list[str]:
        return ["--env", "lab", *(a for v in extra_vars for a in ("--var", v))]

    def snapshot(self) -> dict[str, Any]:
        return control_plane(self.state())

    def activity(self) -> dict[str, int]:
        return {f"{s['name']}.versions": len(s["versions"]) for s in self.state()["services"]}

    def expected_activity(self, start: dict[str, int], journal: JournalView) -> dict[str, int]:
        """A version step creates exactly one version each time it is applied."""
        names = {sid: name for name, sid in self.service_ids.items()}
        expected = dict(start)
        intents = {e.key: e for e in journal.events if e.kind == "intent"}
        for event in journal.events:
            if event.kind != "applied" or event.key is None:
                continue
            prior = intents[event.key].data.get("prior") or {}
            if "active_version" in prior:
                expected[f"{names[prior['service_id']]}.versions"] += 1
        return expected


def control_plane(state: dict[str, Any]) -> dict[str, Any]:
    """The lab's settings, by service name: active versions, their domains and settings,
    and every dictionary's items (values only: timestamps change on every write)."""
    out: dict[str, Any] = {}
    for service in state["services"]:
        active = [v for v in service["versions"] if v["active"]]
        names = {d["id"]: d["name"] for v in service["versions"] for d in v["dictionaries"]}
        out[service["name"]] = {
            "active_versions": [v["number"] for v in active],
            "domains": [sorted(d["name"] for d in v["domains"]) for v in active],
            "settings": [v["settings"] for v in active],
            "snippets": [{x["name"]: x["content"] for x in v.get("snippets", [])} for v in active],
            "items": {
                names.get(did, did): {key: item["value"] for key, item in items.items()}
                for did, items in service["items"].items()
            },
        }
    return out


#: The nginx server block (cutover.testing.running_nginx): the managed file is included.
NGINX_SERVER = """\
# The file cutover manages (runbooks/nginx-switch.yml writes it).
include {prefix}/managed/*.conf;
location /legacy/ {{ return 200 "legacy\\n"; }}
location /new/ {{ return 200 "new\\n"; }}
location / {{ return 404 "no such backend\\n"; }}
"""

#: The managed file before any run: both paths redirect to the legacy backend.
NGINX_LEGACY_ROUTES = """\
# before the cutover: everything on the legacy backend
location /files/ {{ return 302 {origin}/legacy$request_uri; }}
location /simple/ {{ return 302 {origin}/legacy$request_uri; }}
"""

PROBE_PATHS = ("/files/pkg/sampleproject-1.3.1.tar.gz", "/simple/sampleproject/")


class NginxWorld:
    """A real nginx (master + 1 worker) on 127.0.0.1 with a temp prefix and state dir."""

    def __init__(self, base: Path) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("no nginx binary (apt-get install nginx-light)")
        self.binary = binary
        self.prefix = base / "nginx"
        self.state_dir = base / "state"
        self.managed = self.prefix / "managed" / "route.conf"
        self.server: NginxServer | None = None
        self.client: httpx.Client | None = None
        self._stack = ExitStack()

    @property
    def origin(self) -> str:
        assert self.server is not None
        return self.server.origin

    @property
    def initial_content(self) -> str:
        return NGINX_LEGACY_ROUTES.format(origin=self.origin)

    def __enter__(self) -> NginxWorld:
        self.state_dir.mkdir(parents=True)
        with ExitStack() as stack:
            self.client = stack.enter_context(httpx.Client(timeout=5))
            stack.enter_context(
                running_nginx(
                    self.prefix, NGINX_SERVER, before_start=self._write_initial, ready=self._up
                )
            )
            self._stack = stack.pop_all()
        return self

    def _write_initial(self, server: NginxServer) -> None:
        self.server = server
        self.managed.parent.mkdir(parents=True, exist_ok=True)
        self.managed.write_text(self.initial_content, encoding="utf-8")

    def _up(self, server: NginxServer) -> bool:
        try:
            return self.answer(PROBE_PATHS[0]).startswith("302 ")
        except httpx.TransportError:
            return False

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop nginx (and check its port is closed), close the client."""
        self._stack.close()

    def run_args(self, extra_vars: Sequence[str]) -> list[str]:
        pairs = {
            "nginx_bin": self.binary,
            "nginx_prefix": str(self.prefix),
            "nginx_conf": "nginx.conf",
            "route_file": str(self.managed),
            "origin": self.origin,
        }
        return local_run_args(pairs, extra_vars, self.origin)

    def answer(self, path: str) -> str:
        """The first hop nginx answers for ``path``: status and Location."""
        assert self.client is not None
        return first_hop(self.client, self.origin, path)

    def snapshot(self) -> dict[str, Any]:
        try:
            content: str | None = self.managed.read_text(encoding="utf-8")
        except FileNotFoundError:
            content = None
        return {
            "file": None if content is None else content.replace(self.origin, "{origin}"),
            "serves": {path: self.answer(path) for path in PROBE_PATHS},
            "stray_files": sorted(p.name for p in self.managed.parent.iterdir()),
        }

    def activity(self) -> dict[str, int]:
        assert self.server is not None
        return {"reloads": self.server.reloads()}

    def expected_activity(self, start: dict[str, int], journal: JournalView) -> dict[str, int]:
        """nginx reloads once per apply and once per undo (never for a not_applied step)."""
        undone = sum(journal.count("rolled_back").values())
        applied = sum(journal.count("applied").values())
        return {"reloads": start["reloads"] + applied + undone}


# --- scenarios, reference runs and crash cases -----------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    runbook: Path
    world: Callable[[Path], Any]  #: base directory → a World context manager
    vars: tuple[str, ...] = ()  #: extra --var pairs; ``{origin}`` is the world's origin
    description: str = ""
    points: tuple[str, ...] = ()  #: named crash points inside actions (``NAME#K``)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("pypi-files", PYPI_RUNBOOK, LabWorld, (), "the careful cutover: completes"),
        Scenario(
            "pypi-files-skip-fix",
            PYPI_RUNBOOK,
            LabWorld,
            ("skip_fix=true",),
            "no fix: ramp-1 loops, automatic rollback (rollback boundaries)",
        ),
        Scenario(
            "nginx-switch",
            NGINX_RUNBOOK,
            NginxWorld,
            (),
            "two include switches",
            ("nginx.written#1", "nginx.written#2"),
        ),
        Scenario(
            "nginx-switch-broken",
            NGINX_RUNBOOK,
            NginxWorld,
            ("new_target={origin}/missing",),
            "the new backend 404s: automatic rollback (rollback boundaries)",
            ("nginx.written#1",),
        ),
        Scenario(
            "haproxy-ramp",
            HAPROXY_RUNBOOK,
            HaproxyWorld,
            (),
            "four live map changes 1 → 100 %",
            ("haproxy.committed#1", "haproxy.committed#4"),
        ),
        Scenario(
            "haproxy-ramp-broken",
            HAPROXY_RUNBOOK,
            HaproxyWorld,
            ("new_target={origin}/loop",),
            "the new backend loops: automatic rollback at 1 % (rollback boundaries)",
            ("haproxy.committed#1",),
        ),
        Scenario(
            "varnish-switch",
            VARNISH_RUNBOOK,
            VarnishWorld,
            (),
            "one VCL switch and a ban",
            ("varnish.loaded#1",),
        ),
        Scenario(
            "varnish-switch-broken",
            VARNISH_RUNBOOK,
            VarnishWorld,
            ("new_port=1",),
            "the new backend refuses connections (503): automatic rollback",
            ("varnish.loaded#1",),
        ),
    )
}


@dataclass
class Reference:
    """An uncrashed run: what every resumed run must end like."""

    scenario: str
    run: Ran
    exit_code: int
    status: str
    writes: int
    boundaries: list[str]  #: what journal write N (index N-1) records
    initial: dict[str, Any]
    final: dict[str, Any]
    activity_added: dict[str, int]
    passed: Counter[str]
    applied: Counter[tuple[str, int]]

    def boundary(self, label: str, occurrence: int = 1) -> int:
        """The 1-based journal write N that records ``label`` (its n-th occurrence)."""
        hits = [n for n, b in enumerate(self.boundaries, 1) if b == label]
        if len(hits) < occurrence:
            raise LookupError(f"{self.scenario}: no boundary {label!r} #{occurrence}")
        return hits[occurrence - 1]


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


def reference_run(scenario: Scenario, base: Path, database: Database | None = None) -> Reference:
    with scenario.world(base) as world:
        store = store_for(world, database, f"ref_{scenario.name}")
        initial = world.snapshot()
        start = world.activity()
        ran = cutover(
            "run", scenario.runbook, *world.run_args(scenario.vars), "--yes", *store.args(),
            env=store.env(),
        )  # fmt: skip
        journal = read_journal(store)
        final = world.snapshot()
        added = _delta(world.activity(), start)
    run = journal.run
    if run is None or ran.returncode not in (0, 1):
        raise RuntimeError(f"{scenario.name}: the uncrashed run failed: {ran.describe()}")
    boundaries = ["run row", *(e.label() for e in journal.events), f"status {run.status}"]
    return Reference(
        scenario.name,
        ran,
        ran.returncode,
        run.status,
        len(boundaries),
        boundaries,
        initial,
        final,
        added,
        journal.passed(),
        journal.count("applied"),
    )


@dataclass
class Case:
    """One crash at boundary N, then ``rollback`` or ``resume``: what was observed."""

    scenario: str
    boundary: int | str  #: journal write N, or a named crash point ``NAME#K``
    label: str
    mode: str  #: rollback | resume
    crash: Ran | None = None
    after: Ran | None = None
    run_id: str | None = None
    initial: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    activity: dict[str, int] = field(default_factory=dict)
    expected_activity: dict[str, int] = field(default_factory=dict)
    crashed: JournalView = field(default_factory=lambda: JournalView((), ()))
    journal: JournalView = field(default_factory=lambda: JournalView((), ()))
    problems: list[str] = field(default_factory=list)
    double_applied: int = 0
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.scenario}@{self.boundary}({self.label})/{self.mode}"

    @property
    def ok(self) -> bool:
        return not self.problems


def run_case(
    scenario: Scenario,
    reference: Reference,
    boundary: int | str,
    mode: str,
    root: Path | None = None,
    database: Database | None = None,
) -> Case:
    """Crash a fresh world's run at ``boundary`` (journal write N or a named point), then
    ``mode``; world and temp dir go."""
    if isinstance(boundary, str):
        label = f"point {boundary}"
    elif boundary <= reference.writes:
        label = reference.boundaries[boundary - 1]
    else:
        label = "past the end"
    case = Case(scenario.name, boundary, label, mode)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(
            prefix=f"crash-{scenario.name}-{str(boundary).replace('#', '-')}-{mode}-", dir=root
        ) as tmp,
        scenario.world(Path(tmp)) as world,
    ):
        store = store_for(world, database, f"case_{scenario.name}_{boundary}_{mode}")
        case.initial = world.snapshot()
        start = world.activity()
        case.crash = cutover(
            "run", scenario.runbook, *world.run_args(scenario.vars), "--yes", *store.args(),
            crash_at=boundary, env=store.env(),
        )  # fmt: skip
        case.crashed = read_journal(store)
        case.run_id = case.crashed.run.id if case.crashed.run else None
        if mode == "rollback":
            case.after = cutover("rollback", "last", *store.args(), env=store.env())
        else:
            case.after = cutover("resume", "last", "--yes", *store.args(), env=store.env())
        case.journal = read_journal(store)
        case.final = world.snapshot()
        case.activity = world.activity()
        case.expected_activity = world.expected_activity(start, case.journal)
    check = check_rollback if mode == "rollback" else check_resume
    case.problems = check(case, reference)
    case.double_applied = count_double_applied(case)
    case.seconds = time.monotonic() - started
    return case


def count_double_applied(case: Case) -> int:
    """Steps journaled ``applied`` more than once, plus unjournaled changes in the world."""
    twice = sum(1 for n in case.journal.count("applied").values() if n > 1)
    unjournaled = sum(1 for k, v in case.activity.items() if v != case.expected_activity.get(k, v))
    return twice + unjournaled


def _common(case: Case) -> list[str]:
    problems: list[str] = []
    assert case.crash is not None and case.after is not None
    if case.crash.returncode != SIGKILLED:
        problems.append(f"the crashed run did not die by SIGKILL: {case.crash.describe()}")
    if len(case.journal.runs) > 1:
        problems.append(f"{len(case.journal.runs)} runs in the journal, expected at most 1")
    twice = {k: n for k, n in case.journal.count("applied").items() if n > 1}
    if twice:
        problems.append(f"steps applied more than once: {twice}")
    if case.activity != case.expected_activity:
        problems.append(
            f"changes made {case.activity} != changes journaled {case.expected_activity}"
        )
    return problems


def check_rollback(case: Case, reference: Reference) -> list[str]:
    """Crash, then ``cutover rollback last``: everything back, exactly, and said so."""
    problems = _common(case)
    assert case.after is not None
    run = case.journal.run
    if case.final != case.initial:
        problems.append(f"settings after rollback {case.final} != initial {case.initial}")
    if case.run_id is None:  # the crash came before the run row was committed
        if case.after.returncode != EXIT_NOTHING_TO_DO or case.journal.events:
            problems.append(f"no run to roll back, yet: {case.after.describe()}")
        return problems
    if case.after.returncode != 0:
        problems.append(f"rollback did not exit 0: {case.after.describe()}")
    if f"run {case.run_id}: rolled_back (exit 0)" not in case.after.stdout:
        problems.append(f"rollback did not report the run rolled back: {case.after.describe()}")
    if run is None or (run.status, run.exit_code) != ("rolled_back", 0):
        problems.append(f"run row after rollback: {run}")
    steps = case.journal.final_step_status()
    unsettled = {k: s for k, s in steps.items() if s not in ("rolled_back", "not_applied")}
    if unsettled:
        problems.append(f"steps neither rolled back nor found not applied: {unsettled}")
    # undone: every applied step, and every step left at intent that reconcile found applied
    applied, undone = case.journal.count("applied"), case.journal.count("rolled_back")
    applied.update(
        e.key for e in case.journal.events
        if e.key is not None and e.kind == "reconciled" and e.data.get("found") == "applied"
        and e.key not in applied
    )  # fmt: skip
    if applied != undone:
        problems.append(f"applied {dict(applied)} but rolled back {dict(undone)}")
    added = case.journal.after(case.crashed.last_id)
    wrote = [e.label() for e in added if e.kind in ("intent", "applied")]
    if wrote:
        problems.append(f"the rollback command applied something: {wrote}")
    if "rollback_verified" not in [e.kind for e in added]:
        problems.append("the rollback command did not verify the rollback")
    return problems


def check_resume(case: Case, reference: Reference) -> list[str]:
    """Crash, then ``cutover resume last``: the run ends as the uncrashed run did."""
    problems = _common(case)
    assert case.after is not None
    run = case.journal.run
    if case.run_id is None:
        if case.after.returncode != EXIT_NOTHING_TO_DO or case.final != case.initial:
            problems.append(f"no run to resume, yet: {case.after.describe()}")
        return problems
    finished = case.crashed.run is not None and case.crashed.run.status == reference.status
    expected = EXIT_NOTHING_TO_DO if finished else reference.exit_code
    if case.after.returncode != expected:
        problems.append(f"resume exit {case.after.returncode}, expected {expected}: "
                        f"{case.after.describe()}")  # fmt: skip
    if not finished and (
        f"run {case.run_id}: {reference.status} (exit {reference.exit_code})"
        not in case.after.stdout
    ):
        problems.append(f"resume did not report the reference outcome: {case.after.describe()}")
    if run is None or (run.status, run.exit_code) != (reference.status, reference.exit_code):
        problems.append(f"run row after resume: {run}, expected {reference.status}")
    if case.final != reference.final:
        problems.append(f"settings after resume {case.final} != uncrashed {reference.final}")
    if case.journal.passed() != reference.passed:
        problems.append(f"stages passed {dict(case.journal.passed())} != {dict(reference.passed)}")
    if case.journal.count("applied") != reference.applied:
        problems.append(
            f"steps applied {dict(case.journal.count('applied'))} != {dict(reference.applied)}"
        )
    return problems


# --- leftovers --------------------------------------------------------------------------------


def processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line contains ``text`` (e.g. a temp directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


# --- the full matrix ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--jobs", type=int, default=3, help="cases run at once")
    parser.add_argument("--modes", default="rollback,resume")
    parser.add_argument("--postgres", action="store_true", help="journal in PostgreSQL")
    args = parser.parse_args(argv)
    names = args.scenario or list(SCENARIOS)
    modes = args.modes.split(",")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crash-matrix-") as tmp:
        if not args.postgres:
            return _matrix(names, modes, args.jobs, Path(tmp), started, None)
        from cutover.testing import postgres as pg_server

        with pg_server.postgres() as server:
            return _matrix(names, modes, args.jobs, Path(tmp), started, server.fresh_database)


def _matrix(
    names: list[str],
    modes: list[str],
    jobs: int,
    root: Path,
    started: float,
    database: Database | None,
) -> int:
    references: dict[str, Reference] = {}
    exact = 0
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"ref-{name}-", dir=root) as tmp:
            references[name] = reference_run(SCENARIOS[name], Path(tmp), database)
        ref = references[name]
        past = run_case(SCENARIOS[name], ref, ref.writes + 1, "resume", root, database)
        # One past the last boundary, the hook never fires: the run ends normally (then
        # `resume` has nothing to do), which shows the count of boundaries is exact.
        if past.crash is not None and past.crash.returncode == references[name].exit_code:
            exact += 1
        else:
            print(f"boundary count not exact for {name}: {past.crash}", file=sys.stderr)
    work: list[tuple[Scenario, Reference, int | str, str, Path, Database | None]] = [
        (SCENARIOS[name], references[name], n, mode, root, database)
        for name in names
        for n in [*range(1, references[name].writes + 1), *SCENARIOS[name].points]
        for mode in modes
    ]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        cases = list(pool.map(lambda job: run_case(*job), work))
    for case in cases:
        if not case.ok:
            print(f"FAILED {case.name}:", *case.problems, sep="\n  ", file=sys.stderr)
    leftovers = processes_mentioning(str(root))
    for line in leftovers:
        print(f"leftover process: {line}", file=sys.stderr)
    by_mode = {m: [c for c in cases if c.mode == m] for m in modes}
    print(f"matrix_size={sum(r.writes for r in references.values())}")
    print(f"named_points={sum(len(SCENARIOS[n].points) for n in names)}")
    for name, ref in references.items():
        print(f"boundaries_{name.replace('-', '_')}={ref.writes}")
    print(f"boundary_count_exact={exact}/{len(names)}")
    print(f"cases={len(cases)}")
    for mode, group in by_mode.items():
        print(f"{mode}_ok={sum(c.ok for c in group)}/{len(group)}")
    killed = sum(c.crash is not None and c.crash.returncode == SIGKILLED for c in cases)
    print(f"killed_by_sigkill={killed}")
    print(f"double_applied={sum(c.double_applied for c in cases)}")
    print(f"leftover_processes={len(leftovers)}")
    print(f"seconds={time.monotonic() - started:.1f}")
    failed = any(not c.ok for c in cases) or leftovers or exact != len(names)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
