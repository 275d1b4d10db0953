"""Fixtures of the probe tests: the misbehaving loopback server
(:mod:`cutover.testing.probe_server`) and a runner aimed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cutover.probes import ProbeResult, ProbeRunner
from cutover.runbook.probe_models import ProbeSpec
from cutover.testing.probe_server import MisbehavingServer, running_server


@pytest.fixture(scope="session")
def server() -> Iterator[MisbehavingServer]:
    with running_server() as running:
        yield running


@pytest.fixture
def runner(server: MisbehavingServer) -> Iterator[ProbeRunner]:
    with ProbeRunner(resolve=server.resolve(), concurrency=1) as probe_runner:
        yield probe_runner


@pytest.fixture
def probe(runner: ProbeRunner) -> Any:
    """``probe(url, **fields) -> ProbeResult`` (a short timeout unless given)."""

    def run(url: str, set_name: str = "t", **fields: Any) -> ProbeResult:
        fields.setdefault("timeout", 2.0)
        return runner.probe(ProbeSpec.model_validate({"url": url, **fields}), set_name)

    return run
