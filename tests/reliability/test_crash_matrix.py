"""Crash safety: cutover SIGKILLed at a journal boundary, then `rollback` or `resume`.

A sample of the crash matrix, every time (the full matrix, every boundary of every
scenario, is ``benchmarks/crash_matrix.py``; docs/reliability.md has its figures). Each
case starts a fresh world in its own process (a lab served by ``cutover lab serve``, or a
real nginx), runs ``cutover run … --yes`` with ``CUTOVER_TEST_CRASH_AT=N`` (the process
kills itself with SIGKILL right after its N-th journal write), then runs ``cutover
rollback last`` or ``cutover resume last --yes`` and checks the world and the journal.

Sampled boundaries: the run row (N=1), an ``intent`` of a version step (the crash falls
between the journaled prior state and the write), an ``applied`` of a dictionary step,
the final status, and, in the scenarios whose guard fails, a boundary inside the
automatic rollback (its ``rolled_back``: ``resume`` must finish that rollback). Plus the
named crash point ``nginx.written`` (``cutover.crash_points``): the include file written,
nginx never reloaded. The file matches, but nginx serves the old configuration: ``resume``
must test and reload before it trusts the step, and end as the uncrashed run.
"""

from __future__ import annotations

import signal
from collections import Counter
from typing import Any

import pytest

from cutover.errors import RunExit
from cutover.lab.scenarios import FIX_2018, scenario_vcl

from .conftest import CaseKey, Farm, harness, require_proxy

FIX = "fix-signing-scope"
PYPI_STEPS = [(FIX, 0), (FIX, 1), ("ramp-1", 0), ("ramp-10", 0), ("ramp-50", 0),
              ("ramp-100", 0), ("permanent", 0)]  # fmt: skip
PYPI_STAGES = ["preflight", FIX, "ramp-1", "ramp-10", "ramp-50", "ramp-100", "permanent"]
RB, NA = "rolled_back", "not_applied"
HAPROXY_STEPS = [("ramp-1", 0), ("ramp-10", 0), ("ramp-50", 0), ("ramp-100", 0)]

#: scenario, boundary label (what journal write N records), occurrence, and for each
#: step that got an intent before the crash, its final status after `cutover rollback`.
SAMPLE: list[tuple[str, str, int, dict[tuple[str, int], str]]] = [
    ("pypi-files", "run row", 1, {}),
    ("pypi-files", f"intent {FIX}/1", 1, {(FIX, 0): RB, (FIX, 1): NA}),
    ("pypi-files", "applied ramp-10/0", 1, dict.fromkeys(PYPI_STEPS[:4], RB)),
    ("pypi-files", "status completed", 1, dict.fromkeys(PYPI_STEPS, RB)),
    ("pypi-files-skip-fix", "rolled_back ramp-1/0", 1, {("ramp-1", 0): RB}),
    (
        "nginx-switch",
        "intent simple-to-new/0",
        1,
        {("files-to-new", 0): RB, ("simple-to-new", 0): NA},
    ),
    ("nginx-switch-broken", "rolled_back files-to-new/0", 1, {("files-to-new", 0): RB}),
    ("nginx-switch", "point nginx.written#1", 1, {("files-to-new", 0): RB}),
    (
        "nginx-switch",
        "point nginx.written#2",
        1,
        {("files-to-new", 0): RB, ("simple-to-new", 0): RB},
    ),
    ("nginx-switch-broken", "point nginx.written#1", 1, {("files-to-new", 0): RB}),
    ("haproxy-ramp", "intent ramp-10/0", 1, {("ramp-1", 0): RB, ("ramp-10", 0): NA}),
    ("haproxy-ramp", "point haproxy.committed#1", 1, {("ramp-1", 0): RB}),
    ("haproxy-ramp", "status completed", 1, dict.fromkeys(HAPROXY_STEPS, RB)),
    ("haproxy-ramp-broken", "rolled_back ramp-1/0", 1, {("ramp-1", 0): RB}),
    ("varnish-switch", "intent downloads-to-new/0", 1, {("downloads-to-new", 0): NA}),
    ("varnish-switch", "point varnish.loaded#1", 1, {("downloads-to-new", 0): NA}),
    ("varnish-switch", "applied downloads-to-new/0", 1, {("downloads-to-new", 0): RB}),
    ("varnish-switch-broken", "rolled_back downloads-to-new/0", 1, {("downloads-to-new", 0): RB}),
]
#: sampled cases in the fast tier (`-m "not slow"`), both modes: a named crash point on the
#: nginx and HAProxy worlds (a few seconds each); the full suite runs every case
FAST = {
    ("nginx-switch", "point nginx.written#1"),
    ("haproxy-ramp", "point haproxy.committed#1"),
}
CASES: list[tuple[CaseKey, dict[tuple[str, int], str]]] = [
    ((scenario, label, occurrence, mode), steps)
    for scenario, label, occurrence, steps in SAMPLE
    for mode in ("rollback", "resume")
]


def _id(key: CaseKey) -> str:
    scenario, label, _, mode = key
    return f"{scenario}:{label.replace(' ', '-')}:{mode}"


def _case(farm: Farm, key: CaseKey) -> Any:
    if key[0].startswith("nginx") and harness.nginx_binary() is None:
        pytest.skip("no nginx binary on PATH or in /usr/sbin (apt-get install nginx-light)")
    require_proxy(key[0])
    farm.prefetch_selected()  # every selected case starts now; this test waits for its own
    return farm.case(key)


# --- the uncrashed runs every case is measured against ----------------------------------------


@pytest.mark.slow
def test_the_uncrashed_pypi_files_run_and_its_boundaries(farm: Farm) -> None:
    ref = farm.reference("pypi-files")
    assert (ref.exit_code, ref.status) == (RunExit.OK, "completed"), ref.run.describe()
    assert ref.boundaries[0] == "run row"
    assert ref.boundaries[1] == "run_started"
    assert ref.boundaries[-2:] == ["run_completed", "status completed"]
    assert ref.writes == len(ref.boundaries) == 1 + len(ref.boundaries[1:-1]) + 1
    step_writes = [b for b in ref.boundaries if b.split()[0] in ("intent", "applied")]
    assert step_writes == [
        f"{kind} {s}/{n}" for s, n in PYPI_STEPS for kind in ("intent", "applied")
    ]
    assert ref.passed == Counter(PYPI_STAGES)
    assert ref.applied == Counter(PYPI_STEPS)
    assert ref.activity_added == {
        "legacy.versions": 1,
        "warehouse.versions": 0,
        "files.versions": 1,
    }
    initial, final = ref.initial, ref.final
    assert initial["legacy"]["active_versions"] == [1]
    assert initial["legacy"]["domains"] == [["pypi-files.s3.amazonaws.com", "pypi.python.org"]]
    assert initial["legacy"]["items"] == {
        "redirects": {"mode": "off", "percent": "100", "prefixes": "/", "target_host": "pypi.org"}
    }
    assert initial["files"]["snippets"][0]["s3-signing"] == scenario_vcl("s3-signing-every-node")
    assert final["legacy"]["active_versions"] == [2]
    assert final["legacy"]["domains"] == [["pypi.python.org"]]
    assert final["legacy"]["items"] == {
        "redirects": {"mode": "301", "percent": "100", "prefixes": "/", "target_host": "pypi.org"}
    }
    assert final["files"]["active_versions"] == [2]
    assert final["files"]["snippets"][0]["s3-signing"] == FIX_2018["s3-signing"]
    assert final["warehouse"] == initial["warehouse"]


@pytest.mark.slow
def test_the_uncrashed_nginx_switch_run(farm: Farm) -> None:
    if harness.nginx_binary() is None:
        pytest.skip("no nginx binary")
    ref = farm.reference("nginx-switch")
    assert (ref.exit_code, ref.status) == (RunExit.OK, "completed"), ref.run.describe()
    wheel, index = harness.PROBE_PATHS
    assert ref.initial["serves"] == {
        wheel: f"302 {{origin}}/legacy{wheel}",
        index: f"302 {{origin}}/legacy{index}",
    }
    assert ref.final["serves"] == {
        wheel: f"302 {{origin}}/new{wheel}",
        index: f"302 {{origin}}/new{index}",
    }
    assert ref.final["file"] == (
        "# managed by cutover (runbooks/nginx-switch.yml): stage simple-to-new\n"
        "location /files/ { return 302 {origin}/new$request_uri; }\n"
        "location /simple/ { return 302 {origin}/new$request_uri; }\n"
    )
    assert ref.final["stray_files"] == ["route.conf"]
    assert ref.activity_added == {"reloads": 2}  # one per applied step
    assert ref.passed == Counter(["preflight", "files-to-new", "simple-to-new"])


@pytest.mark.slow
def test_the_uncrashed_haproxy_ramp_and_its_broken_variant(farm: Farm) -> None:
    """The ramp passes 1 → 10 → 50 → 100 % on a real HAProxy, live; made to loop, it is
    rolled back at 1 %, live, map file and runtime map both as they were."""
    require_proxy("haproxy-ramp")
    ref = farm.reference("haproxy-ramp")
    assert (ref.exit_code, ref.status) == (RunExit.OK, "completed"), ref.run.describe()
    assert ref.passed == Counter(["preflight", "ramp-1", "ramp-10", "ramp-50", "ramp-100"])
    assert ref.initial["runtime"] == ["percent 0", "legacy_target {origin}/legacy"]
    assert ref.final["runtime"] == [
        "percent 100", "legacy_target {origin}/legacy", "new_target {origin}/new"
    ]  # fmt: skip
    assert ref.final["map_file"].splitlines()[1:] == ref.final["runtime"]
    assert set(ref.final["serves"].values()) == {
        f"302 {{origin}}/new{path}" for path in harness.RAMP_PATHS
    }
    assert ref.activity_added == {"map_commits": 4}  # one transaction per applied step
    broken = farm.reference("haproxy-ramp-broken")
    assert (broken.exit_code, broken.status) == (RunExit.ROLLED_BACK, "rolled_back")
    assert broken.final == broken.initial
    assert broken.activity_added == {"map_commits": 2}  # the apply and its undo
    assert "stage_failed ramp-1" in broken.boundaries


@pytest.mark.slow
def test_the_uncrashed_varnish_switch_and_its_broken_variant(farm: Farm) -> None:
    """The VCL switch moves one hostname on a real varnishd; with the new backend down
    (503s) the prior VCL is made active again."""
    require_proxy("varnish-switch")
    ref = farm.reference("varnish-switch")
    assert (ref.exit_code, ref.status) == (RunExit.OK, "completed"), ref.run.describe()
    assert ref.initial == {
        "active": "boot",
        "serves": {"downloads.example.org": "200 legacy", "www.example.org": "200 legacy"},
    }
    assert ref.final == {
        "active": "cutover_…",
        "serves": {"downloads.example.org": "200 new", "www.example.org": "200 legacy"},
    }
    broken = farm.reference("varnish-switch-broken")
    assert (broken.exit_code, broken.status) == (RunExit.ROLLED_BACK, "rolled_back")
    assert broken.final == broken.initial
    assert "stage_failed downloads-to-new" in broken.boundaries


@pytest.mark.slow
def test_the_failing_variants_roll_back_by_themselves(farm: Farm) -> None:
    ref = farm.reference("pypi-files-skip-fix")
    assert (ref.exit_code, ref.status) == (RunExit.ROLLED_BACK, "rolled_back")
    assert ref.final == ref.initial
    assert ref.boundaries[-8:] == [
        "rollback_started",
        "rolled_back ramp-1/0",
        "rollback_purged",  # rollback.purge: files, then legacy
        "rollback_purged",
        "probe_round rollback",
        "guard rollback",
        "rollback_verified",
        "status rolled_back",
    ]
    if harness.nginx_binary() is not None:
        broken = farm.reference("nginx-switch-broken")
        assert (broken.exit_code, broken.status) == (RunExit.ROLLED_BACK, "rolled_back")
        assert broken.final == broken.initial
        assert broken.activity_added == {"reloads": 2}  # the apply and its undo


# --- crash, then rollback / resume --------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "steps"),
    [
        pytest.param(key, steps, id=_id(key), marks=() if key[:2] in FAST else pytest.mark.slow)
        for key, steps in CASES
    ],
)
def test_crash_then_rollback_or_resume(
    farm: Farm, key: CaseKey, steps: dict[tuple[str, int], str]
) -> None:
    case = _case(farm, key)
    ref = farm.reference(key[0])
    # The crash: killed by its own SIGKILL right after journal write N, at the boundary
    # the reference run says is there.
    assert case.crash.returncode == -signal.SIGKILL, case.crash.describe()
    assert case.label == key[1]
    crashed = case.crashed
    assert len(crashed.runs) == 1  # the run row is journal write 1: it always exists
    assert case.run_id == crashed.runs[0].id
    if isinstance(case.boundary, int):
        assert len(crashed.events) == case.boundary - 1 - (key[1].startswith("status "))
    else:  # killed inside the step's apply: its intent is the last row
        assert crashed.events[-1].kind == "intent"
    if key[1] == "run row":
        assert crashed.runs[0].status == "running" and crashed.events == ()
    intended = {k for k, _ in crashed.final_step_status().items()}
    assert intended == set(steps)
    # Nothing done twice: the journal says each step was applied at most once, and the
    # world counted exactly the changes the journal records (lab versions, nginx reloads).
    assert all(n == 1 for n in case.journal.count("applied").values())
    assert case.activity == case.expected_activity
    assert case.double_applied == 0
    if key[3] == "rollback":
        _assert_rolled_back(case, steps)
    else:
        _assert_resumed(case, ref)
    assert case.problems == []  # the benchmark's checks agree


def _assert_rolled_back(case: Any, steps: dict[tuple[str, int], str]) -> None:
    assert case.after.returncode == RunExit.OK, case.after.describe()
    assert f"run {case.run_id}: rolled_back (exit 0)" in case.after.stdout
    # The world's settings are the initial ones, exactly.
    assert case.final == case.initial
    run = case.journal.run
    assert (run.id, run.status, run.exit_code) == (case.run_id, "rolled_back", 0)
    assert case.journal.final_step_status() == steps
    # each step undone exactly once: every applied one, and those left at intent that
    # reconcile found applied (the file was written)
    undone = case.journal.count("rolled_back")
    assert undone == Counter(k for k, s in steps.items() if s == RB)
    assert set(case.journal.count("applied")) <= set(undone)
    added = [e.kind for e in case.journal.after(case.crashed.last_id)]
    assert "intent" not in added and "applied" not in added
    assert added[-1] == "rollback_verified"
    left_at_intent = sorted(k for k, s in case.crashed.final_step_status().items() if s == "intent")
    reconciled = [
        (e.key, e.data["found"])
        for e in case.journal.after(case.crashed.last_id)
        if e.kind == "reconciled"
    ]
    assert reconciled == [(k, "applied" if steps[k] == RB else NA) for k in left_at_intent]


def _assert_resumed(case: Any, ref: Any) -> None:
    run = case.journal.run
    if case.label.startswith("status "):
        # The final status was written before the crash: the run is finished, and
        # `resume` says so and changes nothing.
        assert case.after.returncode == RunExit.INVALID, case.after.describe()
        assert f"already {ref.status}; nothing to resume" in case.after.stderr
        assert case.journal.events == case.crashed.events
    else:
        assert case.after.returncode == ref.exit_code, case.after.describe()
        assert f"run {case.run_id}: {ref.status} (exit {ref.exit_code})" in case.after.stdout
    assert (run.status, run.exit_code) == (ref.status, ref.exit_code)
    # As an uncrashed run: the same final settings, every stage passed exactly once,
    # every step applied exactly once.
    assert case.final == ref.final
    assert case.journal.passed() == ref.passed
    assert case.journal.count("applied") == ref.applied


# --- nothing journaled: nothing to roll back --------------------------------------------------


@pytest.mark.slow
def test_without_a_journaled_run_rollback_and_resume_refuse_and_touch_nothing(
    served_lab: Any,
) -> None:
    """Had cutover died before its first journal write, there would be no run to act on."""
    initial = served_lab.snapshot()
    versions = served_lab.activity()
    for command in (["rollback", "last"], ["resume", "last", "--yes"]):
        ran = harness.cutover(*command, "--state-dir", served_lab.state_dir)
        assert ran.returncode == RunExit.INVALID, ran.describe()
        assert f"no journal in {served_lab.state_dir}" in ran.stderr
    history = harness.cutover("history", "--state-dir", served_lab.state_dir)
    assert (history.returncode, history.stdout) == (
        RunExit.OK,
        f"no runs yet in {served_lab.state_dir}\n",
    )
    assert served_lab.snapshot() == initial
    assert served_lab.activity() == versions
