"""The 2018 replay guarded by BOTH the runbook's probes and a real Prometheus, in one
decision per round; the round's ``guard`` row says which part failed the stage.

A real Prometheus scrapes the lab's counters while the lab serves traffic; the stage
probes one set and guards on the files service's 3xx share, with ``failure_limit: 1``
(one failed measurement holds, so the first round is never the metric's alone):

- ``files-miss`` sees the loop on its first round: the probes fail the stage there,
  while the metric holds;
- ``files-hit`` passes (cache hits kept working in 2018, which is why testing looked
  fine): the probes pass, and the metric on the lab's real traffic fails the stage.

Either way the step is rolled back and the rollback verified (exit 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutover.events import EventKind

RUNBOOK = Path(__file__).parent / "replay-both.yml"
CHECK = "files-3xx-share"

pytestmark = pytest.mark.slow


def the_guard_rows(events: list[Any]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.kind == EventKind.GUARD and e.stage == "flip-everything"]


def test_the_probes_decide_on_their_first_round(lab_prometheus: Any, replay: Any) -> None:
    proc, events = replay(RUNBOOK, lab_prometheus, probe_set="files-miss")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (guard,) = the_guard_rows(events)  # one round: the probes decided
    assert guard["verdict"] == "fail"
    assert guard["probes"] == "fail: redirect_loop seen (zero tolerance)"
    assert guard["reason"] == "redirect_loop seen (zero tolerance)"  # the probes' alone
    (measurement,) = [e.data for e in events if e.kind == EventKind.METRIC]
    assert guard["metrics"] == {CHECK: f"hold: 1/5 measurements (last: {measurement['reason']})"}
    (round_,) = [e.data for e in events if e.kind == EventKind.PROBE_ROUND
                 and e.stage == "flip-everything"]  # fmt: skip
    assert round_["reasons"]["redirect_loop"] >= 1
    failed = next(e for e in events if e.kind == EventKind.STAGE_FAILED)
    assert failed.data["reason"] == guard["reason"]
    kinds = [e.kind for e in events]
    assert EventKind.ROLLED_BACK in kinds and EventKind.ROLLBACK_VERIFIED in kinds


def test_the_metric_decides_when_the_probes_see_only_cache_hits(
    lab_prometheus: Any, replay: Any
) -> None:
    proc, events = replay(RUNBOOK, lab_prometheus, probe_set="files-hit")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = the_guard_rows(events)
    *holding, guard = rows
    assert [r["verdict"] for r in holding] == ["hold"] * len(holding)
    assert guard["verdict"] == "fail"
    assert guard["probes"].startswith("pass: failure rate 0/")  # every hit downloaded
    measurements = [e.data for e in events if e.kind == EventKind.METRIC]
    failures = [m for m in measurements if m["outcome"] == "failure"]
    assert len(failures) == 2 and measurements[-1] == failures[-1]
    expected = f"2 failed measurements > failure_limit 1 (last: {failures[-1]['reason']})"
    assert guard["metrics"] == {CHECK: f"fail: {expected}"}
    assert guard["reason"] == f"metric {CHECK} failed: {expected}"  # the metric's alone
    (value,) = failures[-1]["values"].values()
    assert failures[-1]["reason"] == f"{{}}: {value:.4g} > max 0.05"  # one series, no labels
    rounds = [e.data for e in events if e.kind == EventKind.PROBE_ROUND
              and e.stage == "flip-everything"]  # fmt: skip
    assert len(rounds) == 1 and rounds[0]["failed"] == 0  # probes decided once, then only metrics
    failed = next(e for e in events if e.kind == EventKind.STAGE_FAILED)
    assert failed.data["reason"] == guard["reason"]
    kinds = [e.kind for e in events]
    assert EventKind.ROLLED_BACK in kinds and EventKind.ROLLBACK_VERIFIED in kinds
