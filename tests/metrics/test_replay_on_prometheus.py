"""The 2018 replay, caught by a real Prometheus guard alone (no probes in the stage).

A real Prometheus (the distribution's package, :mod:`cutover.testing.prometheus`) scrapes
the lab's ``/metrics`` every second while the lab serves background traffic; the runbook's
``prometheus`` metric check asks for the files service's 3xx share. The flip makes cache
misses loop: the stage fails on the metric, the step is rolled back, the rollback is
verified by probes (exit 1). With a harmless step the same guard passes (exit 0).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.events import EventKind
from cutover.lab import LabHandle, start_lab
from cutover.private_files import private_dir
from cutover.target import publish_endpoint, withdraw_endpoint
from cutover.testing import journal
from cutover.testing.cli import run_id_of
from cutover.testing.prometheus import scrape_job, value_of

RUNBOOK = Path(__file__).parent / "replay-prometheus.yml"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, LabHandle]]:
    """A lab with traffic, attached to through the state directory (as a served lab is)."""
    state = tmp_path / "state"
    private_dir(state / "lab")
    with start_lab(state_file=state / "lab" / "pypi-2018.json", traffic=20) as handle:
        endpoint = publish_endpoint(state, handle)
        try:
            yield state, handle
        finally:
            withdraw_endpoint(endpoint)


def scraped(prometheus: Any, handle: LabHandle) -> Any:
    server = prometheus([scrape_job("lab", [f"127.0.0.1:{handle.api_port}"])])
    server.wait_target_up("lab")
    server.wait_query(  # two scrapes with traffic: rate() has something to say
        'sum(rate(cutover_lab_requests_total{service="files"}[3s]))',
        lambda samples: value_of(samples[0]) > 0,
    )
    return server


@pytest.mark.parametrize(
    ("percent", "code", "outcome"), [("100", 1, "failure"), ("0", 0, "success")]
)
def test_a_prometheus_guard_alone_decides_the_replay(
    cli: Any, prometheus: Any, lab: tuple[Path, LabHandle], percent: str, code: int, outcome: str
) -> None:
    state, handle = lab
    server = scraped(prometheus, handle)
    proc = cli(
        "run",
        RUNBOOK,
        "--env",
        "lab",
        "--yes",
        "--state-dir",
        state,
        "--var",
        f"prometheus=http://127.0.0.1:{server.port}",
        "--var",
        f"percent={percent}",
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    events = journal.events(state, run_id_of(proc.stdout))
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
