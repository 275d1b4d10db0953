"""A flaky control plane: runs end completed or rolled back and verified, never half-done.

The full measurement is ``benchmarks/flaky_control_plane.py`` (50 runs, figures in
docs/reliability.md); the suite runs a small sample of it every time, and one run in
detail. Each run is a real ``cutover run`` subprocess against a lab served in its own
process whose API injects seeded faults (20 % 5xx, 10 % hangs past the client timeout,
10 % slow or lost answers); the probes hit the data plane, which has no faults.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cutover.errors import RunExit

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = ROOT / "benchmarks" / "flaky_control_plane.py"


def _load(name: str, path: Path) -> ModuleType:
    """A module by path (no packages under ``--import-mode=importlib``)."""
    if name not in sys.modules:
        spec = spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


bench: Any = _load("cutover_flaky_control_plane_benchmark", BENCHMARK)
h: Any = bench.h  # cutover.testing, as the benchmark uses it


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_sample_of_the_benchmark_ends_every_run_safely() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARK), "--runs", "3", "--jobs", "2", "--seed", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
        env=h.cli_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    assert list(figures) == [
        "runs", "completed", "rolled_back", "rolled_back_step_failed", "needs_attention",
        "recovered", "unexpected_exit", "double_applied", "wrong_state", "retries_logged",
        "draft_versions_left", "skip_fix_runs", "lost_answer_runs", "api_error_rate",
        "api_timeout_rate", "api_slow_rate", "retries", "run_s_median",
    ]  # fmt: skip
    assert figures["runs"] == "3"
    assert (figures["skip_fix_runs"], figures["lost_answer_runs"]) == ("1", "1")
    outcomes = sum(int(figures[k]) for k in ("completed", "rolled_back", "needs_attention"))
    assert outcomes == 3
    assert figures["recovered"] == figures["needs_attention"]
    assert (figures["unexpected_exit"], figures["double_applied"], figures["wrong_state"]) == (
        "0", "0", "0",
    )  # fmt: skip
    assert int(figures["retries_logged"]) > 0  # the faults were real, and retried
    assert (figures["api_error_rate"], figures["api_timeout_rate"]) == ("0.2", "0.1")
    assert proc.stderr == ""  # no run reported a problem


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_one_run_through_lost_answers_rolls_back_verified_and_applies_nothing_twice(
    lab: Any, state: Path
) -> None:
    initial = h.fingerprint(lab.state())
    plan = bench.Plan(index=3, seed=1003, skip_fix=True, lost_answers=True)
    result = bench.one_run(lab, state, plan, bench.Profile())
    assert result.problems == []
    assert (result.exit_code, result.status, result.outcome) == (1, "rolled_back", "rolled_back")
    assert not result.double_applied and not result.wrong_state
    assert h.fingerprint(lab.state()) == initial
    assert result.retries_logged > 0

    events = h.events(state, result.run_id)
    kinds = [(e.kind, e.stage, e.step) for e in events]
    assert ("stage_skipped", "fix-signing-scope", None) in kinds
    failed = [e for e in events if e.kind == "stage_failed"]
    assert [(e.stage, e.data["reason"]) for e in failed] == [
        ("ramp-1", "redirect_loop seen (zero tolerance)")
    ]
    assert [k for k in kinds if k[0] in ("intent", "applied", "rolled_back")] == [
        ("intent", "ramp-1", 0),
        ("applied", "ramp-1", 0),
        ("rolled_back", "ramp-1", 0),
    ]
    assert kinds[-1] == ("rollback_verified", None, None)
    assert h.run_row(state, result.run_id)["exit_code"] == RunExit.ROLLED_BACK
