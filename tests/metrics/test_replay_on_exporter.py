"""The 2018 replay, caught by probes alone through Prometheus: many vantage points.

Two ``cutover exporter`` processes (the real command, ``--checks checks/pypi-files.yml``),
one per region, probe the lab's files; a real Prometheus scrapes each with the relabeling
blackbox_exporter's users know (docs/exporter.md), a ``region`` label per job. The stage
has no probe sets: its one guard is ``min by (region) (avg_over_time(cutover_probe_success
[2s]))`` through a ``prometheus`` metric source. Region ``a`` is served from the edge
cache (module ``files-hit``), region ``b`` misses it (``files-miss``): in 2018 the misses
looped, so the flip fails region ``b`` alone, the decision names it, and the step is rolled
back, verified (exit 1). With a harmless step both regions stay at 1 (exit 0).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from cutover.events import EventKind
from cutover.lab import LabHandle
from cutover.lab.packages import default_catalog
from cutover.testing.exporter import running_exporter
from cutover.testing.prometheus import blackbox_job, value_of

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = Path(__file__).parent / "replay-exporter.yml"
CHECKS = ROOT / "checks" / "pypi-files.yml"
FILES = [f"http://files.pythonhosted.org{f.url_path}" for f in default_catalog().files[:2]]
REGIONS = {"a": "files-hit", "b": "files-miss"}  #: region → the module its exporter probes
GUARD = 'min by (region) (avg_over_time(cutover_probe_success{job=~"cutover-files-.*"}[2s]))'

pytestmark = pytest.mark.slow


@pytest.fixture
def regions(prometheus: Any, lab: tuple[Path, LabHandle]) -> Iterator[Any]:
    """An exporter per region on the lab, and a real Prometheus scraping them every
    second, once the guard's query answers 1 for every region."""
    state, _ = lab
    with ExitStack() as stack:
        jobs = []
        for region, module in REGIONS.items():
            args = ("--checks", CHECKS, "--env", "lab", "--state-dir", state)
            exporter = stack.enter_context(running_exporter(*args))
            labels = {"region": region}
            jobs.append(blackbox_job(f"cutover-files-{region}", exporter.address, FILES,
                                     module, labels=labels))  # fmt: skip
        server = prometheus(jobs)
        for region in REGIONS:
            server.wait_target_up(f"cutover-files-{region}", count=len(FILES))
        server.wait_query(
            GUARD, lambda s: len(s) == len(REGIONS) and all(value_of(x) == 1 for x in s)
        )
        yield server


def test_the_loop_fails_the_region_that_misses_the_cache(regions: Any, replay: Any) -> None:
    proc, events = replay(RUNBOOK, regions)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    kinds = [e.kind for e in events]
    assert EventKind.PROBE_ROUND not in kinds[: kinds.index(EventKind.ROLLBACK_STARTED)]
    measurements = [e for e in events if e.kind == EventKind.METRIC]
    assert {m.data["check"] for m in measurements} == {"downloads-by-region"}
    last = measurements[-1].data
    assert last["outcome"] == "failure"
    region_a, region_b = last["values"]['{region="a"}'], last["values"]['{region="b"}']
    assert region_a == 1 and region_b < 0.99
    assert last["reason"] == f'{{region="b"}}: {region_b:.4g} < min 0.99'  # b alone, named
    (guard,) = [e.data for e in events if e.kind == EventKind.GUARD and e.data["verdict"] == "fail"]
    expected = f"1 failed measurements > failure_limit 0 (last: {last['reason']})"
    assert guard["metrics"] == {"downloads-by-region": f"fail: {expected}"}
    assert guard["probes"] == "pass: no probes in this stage"  # the exporters' probes decided
    assert guard["reason"] == f"metric downloads-by-region failed: {expected}"
    failed = next(e for e in events if e.kind == EventKind.STAGE_FAILED)
    assert failed.data["reason"] == guard["reason"]
    assert EventKind.ROLLED_BACK in kinds and EventKind.ROLLBACK_VERIFIED in kinds


def test_a_harmless_step_passes_in_every_region(regions: Any, replay: Any) -> None:
    proc, events = replay(RUNBOOK, regions, percent="0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    measurements = [e.data for e in events if e.kind == EventKind.METRIC]
    assert [m["outcome"] for m in measurements] == ["success"] * 3
    assert [m["values"] for m in measurements] == [{'{region="a"}': 1, '{region="b"}': 1}] * 3
    assert [m["reason"] for m in measurements] == ["all 2 series pass"] * 3
    passed = next(e for e in events if e.kind == EventKind.STAGE_PASSED)
    assert passed.data["reason"] == "probes: no probes in this stage; 1 metric checks pass"
    assert EventKind.RUN_COMPLETED in [e.kind for e in events]
