"""Fixtures for the reliability tests: the crash-matrix harness, its worlds and a case farm.

The harness is ``benchmarks/crash_matrix.py`` (the script that runs the full matrix); the
tests import it, so a sampled case here and a case of the full matrix are the same code
and the same checks. Worlds live in their own processes: a lab served by
``cutover lab serve`` (its endpoint file in the state directory), a real nginx on
loopback. Each is stopped in a ``finally``, and teardown checks that no process is left.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cutover.testing import ServedLab

ROOT = Path(__file__).resolve().parents[2]
JOBS = 5  #: sampled cases run at once (they mostly wait: settle times, probes, a lab)


def _load_harness() -> ModuleType:
    name = "crash_matrix"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "crash_matrix.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


harness = _load_harness()

#: scenario name prefix → (the binary its world needs, how to get it)
BINARIES = {
    "nginx": (harness.nginx_binary, "apt-get install nginx-light"),
    "haproxy": (harness.haproxy_binary, "apt-get install haproxy"),
    "varnish": (harness.varnishd_binary, "apt-get install varnish"),
}


def binary_missing(scenario: str) -> str | None:
    """Why ``scenario``'s world cannot start here (its server's binary is missing), or None."""
    for prefix, (find, install) in BINARIES.items():
        if scenario.startswith(prefix) and find() is None:
            return f"no {prefix} binary on PATH or in /usr/sbin ({install})"
    return None


def require_proxy(scenario: str) -> None:
    """Skip the test when ``scenario``'s server is not installed."""
    reason = binary_missing(scenario)
    if reason is not None:
        pytest.skip(reason)

#: (scenario, boundary label, occurrence of that label, mode); a label ``point NAME#K`` is a
#: named crash point inside an action (``cutover.crash_points``)
CaseKey = tuple[str, str, int, str]


class Farm:
    """Runs reference runs and sampled crash cases in the background, each once.

    The first test that asks submits every sampled case (in test order); each test then
    waits only for its own. Cases are independent: each has its own world and state
    directory under ``root``.
    """

    def __init__(self, root: Path, selected: list[CaseKey]) -> None:
        self.root = root
        self.selected = selected  #: the cases this pytest session will ask for
        self._refs = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ref")
        self._cases = ThreadPoolExecutor(max_workers=JOBS, thread_name_prefix="case")
        self._ref_futures: dict[str, Future[Any]] = {}
        self._case_futures: dict[CaseKey, Future[Any]] = {}

    def reference(self, scenario: str) -> Any:
        return self._reference_future(scenario).result(timeout=600)

    def _reference_future(self, scenario: str) -> Future[Any]:
        if scenario not in self._ref_futures:
            base = self.root / f"ref-{scenario}"
            base.mkdir()
            self._ref_futures[scenario] = self._refs.submit(
                harness.reference_run, harness.SCENARIOS[scenario], base
            )
        return self._ref_futures[scenario]

    def prefetch(self, keys: list[CaseKey]) -> None:
        for scenario in dict.fromkeys(k[0] for k in keys):
            self._reference_future(scenario)
        for key in keys:
            if key not in self._case_futures:
                self._case_futures[key] = self._cases.submit(self._run, key)

    def prefetch_selected(self) -> None:
        runnable = [
            k for k in self.selected if binary_missing(k[0]) is None
        ]
        self.prefetch(runnable)

    def _run(self, key: CaseKey) -> Any:
        scenario, label, occurrence, mode = key
        reference = self.reference(scenario)
        point = label.removeprefix("point ")  # a named crash point inside an action
        boundary = point if point != label else reference.boundary(label, occurrence)
        return harness.run_case(harness.SCENARIOS[scenario], reference, boundary, mode, self.root)

    def case(self, key: CaseKey) -> Any:
        self.prefetch([key])
        return self._case_futures[key].result(timeout=600)

    def close(self) -> None:
        for future in self._case_futures.values():
            future.cancel()
        self._cases.shutdown(wait=True)
        self._refs.shutdown(wait=True)


@pytest.fixture(scope="session")
def crash_harness() -> ModuleType:
    return harness


@pytest.fixture(scope="session")
def farm(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("crash-matrix")
    selected = [
        item.callspec.params["key"]
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.path.parent == Path(__file__).parent
        and hasattr(item, "callspec")
        and "key" in item.callspec.params
    ]
    farm = Farm(root, selected)
    try:
        yield farm
    finally:
        farm.close()
        left = harness.processes_mentioning(str(root))
        assert left == [], f"processes left behind: {left}"


@pytest.fixture
def served_lab(tmp_path: Path) -> Iterator[Any]:
    """``cutover lab serve`` in its own process, on free ports, for this test's state dir."""
    with harness.LabWorld(tmp_path) as lab:
        yield lab
    assert harness.processes_mentioning(str(tmp_path)) == []


@pytest.fixture
def nginx_world(tmp_path: Path) -> Iterator[Any]:
    """A real nginx on loopback whose include file routes /files/ and /simple/ to legacy."""
    if harness.nginx_binary() is None:
        pytest.skip("no nginx binary on PATH or in /usr/sbin (apt-get install nginx-light)")
    with harness.NginxWorld(tmp_path) as world:
        yield world
    assert harness.processes_mentioning(str(tmp_path)) == []


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """The state directory of one test (journal, locks, the lab's endpoint)."""
    return tmp_path / "state"


@pytest.fixture
def lab(state: Path) -> Iterator[ServedLab]:
    """A lab served in its own process; commands attach to it through ``state``."""
    with ServedLab(state) as served:
        yield served
