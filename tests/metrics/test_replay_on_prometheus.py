"""The 2018 replay, caught by a real Prometheus guard alone (no probes in the stage).

A real Prometheus (the distribution's package, :mod:`cutover.testing.prometheus`) scrapes
the lab's ``/metrics`` every second while the lab serves background traffic; the runbook's
``prometheus`` metric check asks for the files service's 3xx share. The flip makes cache
misses loop: the stage fails on the metric, the step is rolled back, the rollback is
verified by probes (exit 1). With a harmless step the same guard passes (exit 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutover.events import EventKind

RUNBOOK = Path(__file__).parent / "replay-prometheus.yml"

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("percent", "code", "outcome"), [("100", 1, "failure"), ("0", 0, "success")]
)
def test_a_prometheus_guard_alone_decides_the_replay(
    lab_prometheus: Any, replay: Any, percent: str, code: int, outcome: str
) -> None:
    proc, events = replay(RUNBOOK, lab_prometheus, percent=percent)
    assert proc.returncode == code, proc.stdout + proc.stderr
    kinds = [e.kind for e in events]
    measurements = [e for e in events if e.kind == EventKind.METRIC]
    assert {m.data["check"] for m in measurements} == {"files-3xx-share"}
    assert measurements[-1].data["outcome"] == outcome
    assert list(measurements[-1].data["values"]) == ["{}"]
    if code == 1:
        (value,) = measurements[-1].data["values"].values()
        assert value > 0.05
        failed = next(e for e in events if e.kind == EventKind.STAGE_FAILED)
        assert failed.data["reason"].startswith("metric files-3xx-share failed: ")
        assert EventKind.PROBE_ROUND not in kinds[: kinds.index(EventKind.ROLLBACK_STARTED)]
        assert EventKind.ROLLBACK_VERIFIED in kinds
    else:
        assert [m.data["outcome"] for m in measurements] == ["success"] * 3
        assert EventKind.RUN_COMPLETED in kinds
