"""Fixtures of the probe tests: the misbehaving loopback server and a runner aimed at it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cutover.probes import ProbeResult, ProbeRunner
from cutover.runbook.probe_models import ProbeSpec


def load_probe_server() -> ModuleType:
    """``probe_server.py`` as a module (tests are not a package; tests/cli uses it too)."""
    name = "cutover_tests_probe_server"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("probe_server.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


probe_server = load_probe_server()


@pytest.fixture(scope="session")
def server() -> Iterator[Any]:
    with probe_server.running_server() as running:
        yield running


@pytest.fixture
def runner(server: Any) -> Iterator[ProbeRunner]:
    with ProbeRunner(resolve=server.resolve(), concurrency=1) as probe_runner:
        yield probe_runner


@pytest.fixture
def probe(runner: ProbeRunner) -> Any:
    """``probe(url, **fields) -> ProbeResult`` (a short timeout unless given)."""

    def run(url: str, set_name: str = "t", **fields: Any) -> ProbeResult:
        fields.setdefault("timeout", 2.0)
        return runner.probe(ProbeSpec.model_validate({"url": url, **fields}), set_name)

    return run
