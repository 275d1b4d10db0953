"""Validated means runnable: what `validate` accepts never fails later, in `run` or `plan`.

Two classes of hole: a value checked only when the engine first uses it (a stage's guard
override merged over the default), and a number with no upper bound (a timeout of 1e50
seconds overflows the clock it is added to). The first is closed by validating every
stage's effective policy at load time, located at the override; the second by bounding
every number of every model, which a walk over the models' validation schemas proves.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from cutover.errors import DocumentError, RunExit
from cutover.runbook.document import load_document
from cutover.runbook.kinds import KINDS
from cutover.runbook.loader import check_runbook, load_runbook
from cutover.runbook.models import Runbook
from cutover.runbook.probe_models import ChecksFile
from cutover.runbook.types import Model

# --- every number is bounded -------------------------------------------------------------------


def unbounded_numbers(model: type[BaseModel]) -> list[str]:
    """Every int/float the model validates without a lower and an upper bound (or that
    accepts inf/NaN), as ``Model.field`` paths, read from pydantic's own core schema: what
    is enforced, not what is documented."""
    found: list[str] = []

    def walk(node: Any, where: str, finite: bool) -> None:
        if isinstance(node, dict):
            if node.get("type") == "model":  # a model's config says for all its floats
                where = node["cls"].__name__
                finite = node.get("config", {}).get("allow_inf_nan", True) is False
            if node.get("type") in ("int", "float"):
                low = "ge" in node or "gt" in node
                high = "le" in node or "lt" in node
                # an int is finite; a float only with allow_inf_nan off (node or config)
                finite_here = node["type"] == "int" or (
                    node.get("allow_inf_nan", not finite) is False
                )
                if not (low and high and finite_here):
                    found.append(where)
            for key, value in node.items():
                if key == "fields" and isinstance(value, dict):
                    for name, field in value.items():
                        walk(field, f"{where.split('.')[0]}.{name}", finite)
                else:
                    walk(value, where, finite)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item, where, finite)

    walk(model.__pydantic_core_schema__, model.__name__, finite=False)
    return sorted(set(found))


def every_document_model() -> Iterator[type[BaseModel]]:
    yield Runbook
    yield ChecksFile
    for kind in KINDS.entries().values():  # also inside Runbook; named here for plugins
        yield kind.settings
        yield kind.step


@pytest.mark.parametrize("model", list(every_document_model()), ids=lambda m: m.__name__)
def test_every_number_of_every_model_is_bounded_and_finite(model: type[BaseModel]) -> None:
    assert unbounded_numbers(model) == []


def test_the_walk_finds_an_unbounded_number() -> None:
    """The proof above would be vacuous if the walk saw nothing: a new unbounded field,
    however deep, fails it."""

    class Inner(Model):
        retries: int = Field(3, ge=0)  # no upper bound
        ratio: float = Field(0.5, ge=0, le=1)

    class Loose(BaseModel):  # not a document Model: inf and NaN pass
        rate: float = Field(0.5, ge=0, le=1)
        count: int = Field(1, ge=0, le=9)  # an int is finite: not reported

    class Outer(Model):
        inner: list[Inner] = []
        loose: Loose | None = None
        budget: float | None = None  # no bounds at all
        seed: int = Field(0, ge=0, le=10)

    assert unbounded_numbers(Outer) == ["Inner.retries", "Loose.rate", "Outer.budget"]


# --- hostile numbers are located errors ----------------------------------------------------------

RUNBOOK = """\
name: demo
environments:
  lab: {{lab: {{seed: {seed}}}}}
backends:
  sh: {{kind: shell, timeout: {timeout}}}
probes:
  smoke:
    probes:
      - url: https://example.test/
        timeout: {probe_timeout}
        max_bytes: {max_bytes}
        expect: {{max_hops: {max_hops}, size: {size}}}
    expand:
      - {{url: "https://example.test/pypi/x/json", limit: {limit}}}
guard: {{budget: {budget}, interval: 0}}
stages:
  - name: one
    settle: {settle}
    steps:
      - {{name: a, backend: sh, command: ["true"], undo: ["true"]}}
    probes: [smoke]
rollback:
  verify: [smoke]
  budget: {rollback_budget}
"""
SANE = {
    "seed": 7,
    "timeout": "5s",
    "probe_timeout": "2s",
    "max_bytes": 1024,
    "max_hops": 3,
    "size": 10,
    "limit": 5,
    "budget": "30s",
    "settle": "1s",
    "rollback_budget": "1m",
}
# (field, hostile value, line, column, path, message)
HOSTILE = [
    ("timeout", "1e50", 5, 30, "backends.sh.timeout", "1e+50 is longer than 24h"),
    ("timeout", "25h", 5, 30, "backends.sh.timeout", "'25h' is longer than 24h"),
    ("timeout", "9" * 400, 5, 30, "backends.sh.timeout", "this number of seconds is out of"),
    ("timeout", ".inf", 5, 30, "backends.sh.timeout", "inf is longer than 24h"),
    ("timeout", ".nan", 5, 30, "backends.sh.timeout", "Input should be a finite number"),
    ("timeout", "0", 5, 30, "backends.sh.timeout", "Input should be greater than 0"),
    ("probe_timeout", "1e50", 10, 18, "probes.smoke.probes[0].timeout", "longer than 24h"),
    ("settle", "1e50", 18, 13, "stages[0].settle", "1e+50 is longer than 24h"),
    ("budget", "1e50", 15, 17, "guard.budget", "1e+50 is longer than 24h"),
    ("rollback_budget", "99999h", 24, 11, "rollback.budget", "longer than 24h"),
    ("max_bytes", "1e30", 11, 20, "probes.smoke.probes[0].max_bytes", "Unable to parse"),
    ("max_bytes", str(2**70), 11, 20, "probes.smoke.probes[0].max_bytes", "less than or equal"),
    ("max_hops", "1000000", 12, 28, "probes.smoke.probes[0].expect.max_hops", "less than or"),
    ("size", str(2**70), 12, 37, "probes.smoke.probes[0].expect.size", "less than or equal"),
    ("limit", str(10**9), 14, 58, "probes.smoke.expand[0].limit", "less than or equal"),
    ("seed", "-1", 3, 21, "environments.lab.lab.seed", "greater than or equal to 0"),
    ("seed", str(2**64), 3, 21, "environments.lab.lab.seed", "less than or equal"),
]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # file names are reported relative to the working directory


def test_the_sane_runbook_loads(tmp_path: Path) -> None:
    path = tmp_path / "rb.yml"
    path.write_text(RUNBOOK.format(**SANE), encoding="utf-8")
    assert [p for p in check_runbook(path) if p.severity == "error"] == []


@pytest.mark.parametrize(
    ("field", "value", "line", "column", "where", "message"),
    HOSTILE,
    ids=[f"{h[0]}={h[1][:12]}" for h in HOSTILE],
)
def test_a_number_out_of_its_range_is_a_located_error(
    tmp_path: Path, field: str, value: str, line: int, column: int, where: str, message: str
) -> None:
    path = tmp_path / "rb.yml"
    path.write_text(RUNBOOK.format(**{**SANE, field: value}), encoding="utf-8")
    errors = [p for p in check_runbook(path) if p.severity == "error"]
    assert len(errors) == 1, [p.render() for p in errors]
    problem = errors[0]
    assert (problem.file, problem.line, problem.column, problem.path) == (
        "rb.yml",
        line,
        column,
        where,
    )
    assert message in problem.message


# --- a stage's guard is validated as it will run: merged over the default -----------------------

GUARDED = """\
name: demo
environments: {{lab: {{}}}}
backends:
  sh: {{kind: shell}}
probes:
  smoke: {{probes: [{{url: "https://example.test/"}}]}}
guard: {default}
stages:
  - name: calm
    probes: [smoke]
  - name: risky
    steps:
      - {{name: a, backend: sh, command: ["true"], undo: ["true"]}}
    probes: [smoke]
    guard: {override}
"""
RATES = "`unacceptable_rate` ({u}) must be greater than `acceptable_rate` ({a})"
EFFECTIVE = " (in this stage's effective guard)"
# (default guard, stage override, column, path, message)
OVERRIDES = [
    # looser than the default's unacceptable_rate (0.1): the case the attack found
    ("{}", "{acceptable_rate: 0.2}", 30, "acceptable_rate", RATES.format(u=0.1, a=0.2)),
    ("{}", "{unacceptable_rate: 0.005}", 32, "unacceptable_rate", RATES.format(u=0.005, a=0.01)),
    (
        "{acceptable_rate: 0.05, unacceptable_rate: 0.3}",
        "{unacceptable_rate: 0.04, budget: 10s}",
        32,
        "unacceptable_rate",
        RATES.format(u=0.04, a=0.05),
    ),
    # every field of an override keeps the bounds it has in the policy
    ("{}", "{acceptable_rate: 5}", 30, "acceptable_rate", "Input should be less than 1"),
    (
        "{}",
        "{budget: 1e50}",
        21,
        "budget",
        "1e+50 is longer than 24h, the longest duration cutover accepts",
    ),
    ("{}", "{min_samples: 0}", 26, "min_samples", "Input should be greater than or equal to 1"),
    ("{}", "{false_rollback: .nan}", 29, "false_rollback", "Input should be a finite number"),
]


@pytest.mark.parametrize(("default", "override", "column", "key", "message"), OVERRIDES)
def test_a_stage_guard_that_would_fail_at_run_time_is_refused_at_the_override(
    tmp_path: Path, default: str, override: str, column: int, key: str, message: str
) -> None:
    path = tmp_path / "rb.yml"
    path.write_text(GUARDED.format(default=default, override=override), encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment="lab")
    assert info.value.exit_code == RunExit.INVALID
    [problem] = info.value.problems
    effective = message.startswith("`unacceptable")
    assert problem.render().splitlines()[0] == (
        f"rb.yml:15:{column}: stages[1].guard.{key}: {message}" + (EFFECTIVE if effective else "")
    )
    if effective:
        assert problem.hint is not None and "override the other value too" in problem.hint


def test_an_override_that_sets_both_rates_runs_with_them(tmp_path: Path) -> None:
    path = tmp_path / "rb.yml"
    override = "{acceptable_rate: 0.2, unacceptable_rate: 0.4}"
    path.write_text(GUARDED.format(default="{}", override=override), encoding="utf-8")
    runbook = load_runbook(path, environment="lab").model
    policy = runbook.guard_for(runbook.stages[1])
    assert (policy.acceptable_rate, policy.unacceptable_rate, policy.budget) == (0.2, 0.4, 120.0)


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_the_cli_refuses_it_before_anything_changes(tmp_path: Path, command: str) -> None:
    """`validate` used to pass it, `plan` and `run` to crash with a traceback mid-run."""
    marker = tmp_path / "applied"
    path = tmp_path / "rb.yml"
    text = GUARDED.format(default="{}", override="{acceptable_rate: 0.2}")
    path.write_text(text.replace('["true"], undo', f'[touch, "{marker}"], undo'), "utf-8")
    extra = {"validate": [], "plan": ["--offline"], "run": ["--yes", "--state-dir", "state"]}
    proc = subprocess.run(
        [sys.executable, "-m", "cutover", command, "rb.yml", *extra[command]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == RunExit.INVALID, proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[0] == (
        "rb.yml:15:30: stages[1].guard.acceptable_rate: " + RATES.format(u=0.1, a=0.2) + EFFECTIVE
    )
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


def test_every_shipped_runbook_has_a_runnable_guard_for_every_stage(root: Path) -> None:
    paths = sorted((root / "runbooks").glob("*.yml"))
    assert paths
    for path in paths:
        for environment in load_document(path).data["environments"]:
            runbook = load_runbook(path, environment=environment).model
            for stage in runbook.stages:
                runbook.guard_for(stage)  # raises if the effective policy were invalid
