"""The end-to-end replays' shared parts: a lab with traffic that a runbook, a real
Prometheus and ``cutover exporter`` processes all reach, and the run and its journal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.lab import LabHandle, start_lab
from cutover.private_files import private_dir
from cutover.target import publish_endpoint, withdraw_endpoint
from cutover.testing import journal
from cutover.testing.cli import run_id_of
from cutover.testing.prometheus import scrape_job, value_of


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


@pytest.fixture
def lab_prometheus(prometheus: Any, lab: tuple[Path, LabHandle]) -> Any:
    """A real Prometheus scraping the lab's ``/metrics`` (its counters) every second,
    once it has two scrapes with traffic (``rate()`` has something to say)."""
    server = prometheus([scrape_job("lab", [f"127.0.0.1:{lab[1].api_port}"])])
    server.wait_target_up("lab")
    server.wait_query(
        'sum(rate(cutover_lab_requests_total{service="files"}[3s]))',
        lambda samples: value_of(samples[0]) > 0,
    )
    return server


@pytest.fixture
def replay(cli: Any, lab: tuple[Path, LabHandle]) -> Callable[..., tuple[Any, list[journal.Event]]]:
    """``replay(runbook, server, VAR=VALUE…)``: ``cutover run`` of a replay runbook in the
    lab, guarded by the Prometheus ``server``; the process and its run's journal."""
    state, _ = lab

    def run(runbook: Path, server: Any, **variables: str) -> tuple[Any, list[journal.Event]]:
        pairs = {"prometheus": f"http://127.0.0.1:{server.port}", **variables}
        options = [o for k, v in pairs.items() for o in ("--var", f"{k}={v}")]
        proc = cli("run", runbook, "--env", "lab", "--yes", "--state-dir", state, *options)
        return proc, journal.events(state, run_id_of(proc.stdout))

    return run
