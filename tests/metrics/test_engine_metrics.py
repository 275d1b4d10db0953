"""The engine judges a stage on probes and metrics together, one decision per round:
any failure fails (rollback), all passing passes; the baseline is measured before the
stage's first step; the rollback's verification never measures metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cutover.actions.base import RecordingAction
from cutover.engine import Engine
from cutover.errors import RunExit
from cutover.events import EventKind
from cutover.journal import Journal
from cutover.metrics import stage as metric_stage
from cutover.metrics.sources import Sample
from cutover.reasons import Reason
from cutover.runbook.loader import load_runbook

RUNBOOK = """\
name: demo
environments: {lab: {}}
backends:
  sh: {kind: shell}
metric_sources:
  prom: {kind: prometheus, url: "http://127.0.0.1:9"}
probes:
  smoke:
    probes: [{url: "https://example.test/"}]
guard:
  budget: 10s
  metrics:
    - {name: errors, source: prom, query: errors, interval: 0.1s, count: 2,
       baseline: {max_increase: 100, slack: 0.05}}
stages:
  - name: one
    steps:
      - {name: a, backend: sh, command: [set, a], undo: [unset, a]}
    probes: [smoke]
rollback:
  verify: [smoke]
"""


@dataclass(frozen=True)
class Result:
    reason: Reason

    @property
    def ok(self) -> bool:
        return self.reason.passed

    def to_dict(self) -> dict[str, Any]:
        return {"set": "smoke", "url": "https://example.test/", "reason": self.reason.value}


class Prober:
    def __init__(self, world: dict[str, Any], broken: Reason | None) -> None:
        self.world, self.broken = world, broken

    def probe(
        self,
        sets: Sequence[str],
        on_result: Callable[[Any], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Result]:
        reason = self.broken if self.broken is not None and "a" in self.world else Reason.OK
        out = []
        for _ in range(25):
            if cancel is not None and cancel.is_set():
                break
            out.append(Result(reason))
            if on_result is not None:
                on_result(out[-1])
        return out


class WorldSampler:
    """The error rate is ``value`` while step a is applied, 0.01 otherwise."""

    def __init__(self, world: dict[str, Any], value: float) -> None:
        self.world, self.value = world, value

    def sample(self, query: str) -> Sample:
        return Sample({'{job="x"}': self.value if "a" in self.world else 0.01})


class Sources:
    def __init__(self, sampler: WorldSampler) -> None:
        self.sampler = sampler

    def get(self, name: str) -> Any:
        sampler = self.sampler

        class Kind:
            def make_sampler(self, settings: Any) -> WorldSampler:
                return sampler

        return Kind()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.db")
    yield j
    j.close()


def run(
    tmp_path: Path,
    journal: Journal,
    monkeypatch: pytest.MonkeyPatch,
    metric: float,
    broken: Reason | None,
) -> tuple[Any, list[Any]]:
    path = tmp_path / "rb.yml"
    path.write_text(RUNBOOK, encoding="utf-8")
    runbook = load_runbook(path, environment="lab").model
    world: dict[str, Any] = {}
    monkeypatch.setattr(metric_stage, "METRIC_SOURCES", Sources(WorldSampler(world, metric)))
    engine = Engine(
        runbook,
        journal,
        Prober(world, broken),
        view=lambda kind, data: None,
        confirm=lambda stage: True,
        actions=lambda settings, step: RecordingAction(world, {step.name: "on"}, name=step.name),
    )
    journal.start_run("r1", "demo", "rb.yml", "lab", {})
    return engine.run("r1"), journal.events("r1")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("metric", "broken", "code", "reason"),
    [
        (0.01, None, RunExit.OK, None),
        (
            0.5,
            None,
            RunExit.ROLLED_BACK,
            'metric errors failed: 1 failed measurements > failure_limit 0 (last: {job="x"}: 0.5 >'
            " baseline 0.01 + 100 % + 0.05 = 0.07)",
        ),
        (0.01, Reason.REDIRECT_LOOP, RunExit.ROLLED_BACK, "redirect_loop seen (zero tolerance)"),
        (
            0.5,
            Reason.REDIRECT_LOOP,
            RunExit.ROLLED_BACK,
            "redirect_loop seen (zero tolerance); metric errors failed: 1 failed measurements >"
            ' failure_limit 0 (last: {job="x"}: 0.5 > baseline 0.01 + 100 % + 0.05 = 0.07)',
        ),
    ],
    ids=["both-pass", "metric-fails", "probes-fail", "both-fail"],
)
def test_one_decision_from_probes_and_metrics(
    tmp_path: Path,
    journal: Journal,
    monkeypatch: pytest.MonkeyPatch,
    metric: float,
    broken: Reason | None,
    code: int,
    reason: str | None,
) -> None:
    outcome, events = run(tmp_path, journal, monkeypatch, metric, broken)
    assert outcome.exit_code == code
    kinds = [e.kind for e in events]
    baseline = next(e for e in events if e.kind == EventKind.METRIC_BASELINE)
    assert kinds.index(EventKind.METRIC_BASELINE) < kinds.index(EventKind.INTENT)
    assert baseline.data == {"check": "errors", "values": {'{job="x"}': 0.01}, "error": None}
    if reason is None:
        passed = next(e for e in events if e.kind == EventKind.STAGE_PASSED)
        assert passed.data["reason"].endswith("; 1 metric checks pass")
        outcomes = [e.data["outcome"] for e in events if e.kind == EventKind.METRIC]
        assert outcomes == ["success", "success"]
        return
    failed = next(e for e in events if e.kind == EventKind.STAGE_FAILED)
    assert failed.data["reason"] == reason
    rollback = kinds.index(EventKind.ROLLBACK_STARTED)
    assert EventKind.METRIC not in kinds[rollback:]  # verified by probes only
    assert EventKind.ROLLBACK_VERIFIED in kinds[rollback:]
