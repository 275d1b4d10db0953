"""The 2018 replay, caught by the CDN's own counters alone (no probes in the stage).

The in-process lab sends background traffic because the runbook's guard has metric
checks; the ``fastly_stats`` source reads the lab's real-time endpoint. The loop shows as
a jump of the files service's 3xx share: the stage fails on the metric, the step is
rolled back and the rollback is verified by probes (exit 1). The same runbook with a
harmless step (``percent=0``) passes on three clean measurements (exit 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutover.events import EventKind
from cutover.testing import journal
from cutover.testing.cli import run_id_of

RUNBOOK = Path(__file__).parent / "replay-metrics.yml"
STAGE = "flip-everything"


def run(cli: Any, state: Path, *extra: str) -> tuple[Any, list[journal.Event]]:
    proc = cli("run", RUNBOOK, "--env", "lab", "--yes", "--state-dir", state, *extra)
    return proc, journal.events(state, run_id_of(proc.stdout))


def test_the_loop_fails_the_stage_on_metrics_alone(cli: Any, tmp_path: Path) -> None:
    proc, events = run(cli, tmp_path / "state")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    kinds = [e.kind for e in events]
    assert EventKind.PROBE_ROUND not in kinds[: kinds.index(EventKind.ROLLBACK_STARTED)]
    measurements = [e for e in events if e.kind == EventKind.METRIC]
    assert measurements and measurements[-1].data["check"] == "files-3xx-ratio"
    assert measurements[-1].data["outcome"] == "failure"
    (value,) = measurements[-1].data["values"].values()
    assert value > 0.05
    failed = next(e for e in events if e.kind == EventKind.STAGE_FAILED)
    assert failed.data["reason"].startswith("metric files-3xx-ratio failed: 1 failed measurements")
    *holding, guard = [e for e in events if e.kind == EventKind.GUARD and e.stage == STAGE]
    assert [g.data["verdict"] for g in holding] == ["hold"] * len(holding)  # a first pass holds
    assert guard.data["verdict"] == "fail"
    assert guard.data["metrics"]["files-3xx-ratio"].startswith("fail: ")
    assert guard.data["probes"] == "pass: no probes in this stage"
    assert EventKind.ROLLED_BACK in kinds and EventKind.ROLLBACK_VERIFIED in kinds
    assert "metric files-3xx-ratio failed" in proc.stdout
    assert "  metric files-3xx-ratio #1: " in proc.stdout  # the live lines show each value
    shown = cli("show", run_id_of(proc.stdout), "--state-dir", tmp_path / "state")
    assert "metric files-3xx-ratio #1: " in shown.stdout
    assert "— failure: " in shown.stdout


@pytest.mark.slow
def test_a_harmless_step_passes_on_clean_measurements(cli: Any, tmp_path: Path) -> None:
    proc, events = run(cli, tmp_path / "state", "--var", "percent=0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    measurements = [e for e in events if e.kind == EventKind.METRIC]
    assert [m.data["outcome"] for m in measurements] == ["success"] * 3
    assert [m.data["measurement"] for m in measurements] == [1, 2, 3]
    assert all(v == 0 for m in measurements for v in m.data["values"].values())
    passed = next(e for e in events if e.kind == EventKind.STAGE_PASSED)
    assert passed.data["reason"] == "probes: no probes in this stage; 1 metric checks pass"
