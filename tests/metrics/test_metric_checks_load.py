"""Metric checks and sources are validated when the runbook loads: each mistake is a
located error (FILE:LINE:COL: path: message), exit 2, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutover.errors import DocumentError, RunExit
from cutover.metrics.fastly_stats import FIELDS
from cutover.runbook.loader import load_runbook

RUNBOOK = """\
name: demo
environments:
  lab: {{}}
metric_sources:
  prom: {{kind: prometheus, url: "http://127.0.0.1:9090"}}
  cdn: {{kind: fastly_stats, token: env:TOKEN, service: S1}}
guard:
  metrics:
    - {{name: base, source: prom, query: up, threshold: {{min: 1}}}}
stages:
  - name: flip
    guard:
      metrics:
        - {check}
"""
OK = "{name: m, source: cdn, query: status_5xx / requests, threshold: {max: 0.01}}"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def errors_of(tmp_path: Path, check: str, extra: str = "") -> list[str]:
    path = tmp_path / "rb.yml"
    path.write_text(RUNBOOK.format(check=check) + extra, encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment="lab")
    assert info.value.exit_code == RunExit.INVALID
    return [p.render().splitlines()[0] for p in info.value.problems]


def test_a_valid_check_loads_and_a_stage_list_replaces_the_default(tmp_path: Path) -> None:
    path = tmp_path / "rb.yml"
    path.write_text(RUNBOOK.format(check=OK), encoding="utf-8")
    runbook = load_runbook(path, environment="lab").model
    assert [c.name for c in runbook.guard.metrics] == ["base"]
    (check,) = runbook.guard_for(runbook.stages[0]).metrics
    assert (check.name, check.interval, check.count, check.no_data) == ("m", 5.0, 3, "inconclusive")


AT = "rb.yml:14:11: stages[0].guard.metrics[0]"


@pytest.mark.parametrize(
    ("check", "error"),
    [
        (
            "{name: m, source: nope, query: up, threshold: {max: 1}}",
            "rb.yml:14:29: stages[0].guard.metrics[0].source: unknown metric source 'nope'",
        ),
        (
            "{name: m, source: cdn, query: status_6xx / requests, threshold: {max: 1}}",
            "rb.yml:14:41: stages[0].guard.metrics[0].query: not a fastly_stats query: unknown"
            f" name 'status_6xx' (known: {', '.join(sorted(FIELDS))})",
        ),
        (
            "{name: m, source: prom, query: up}",
            f"{AT}: a metric check is judged by exactly one of `success_condition`/"
            "`failure_condition`, `threshold` or `baseline` (found 0)",
        ),
        (
            "{name: m, source: prom, query: up, threshold: {max: 1}, baseline: {max_increase: 5}}",
            f"{AT}: a metric check is judged by exactly one of `success_condition`/"
            "`failure_condition`, `threshold` or `baseline` (found 2: `threshold`, `baseline`)",
        ),
        (
            "{name: m, source: prom, query: up, success_condition: 'result ** 2 < 1'}",
            "rb.yml:14:65: stages[0].guard.metrics[0].success_condition: only + - * / are allowed",
        ),
        (
            "{name: m, source: prom, query: up, failure_condition: 'value > 1'}",
            "rb.yml:14:65: stages[0].guard.metrics[0].failure_condition: unknown name 'value'"
            " (known: baseline, result)",
        ),
        (
            "{name: m, source: prom, query: up, threshold: {}}",
            "rb.yml:14:57: stages[0].guard.metrics[0].threshold: a threshold needs `min`,"
            " `max` or both",
        ),
        (
            "{name: m, source: prom, query: up, threshold: {min: 2, max: 1}}",
            "rb.yml:14:57: stages[0].guard.metrics[0].threshold: `min` (2) must not be above"
            " `max` (1)",
        ),
        (
            "{name: m, source: prom, query: up, threshold: {max: 1}, interval: 0.01}",
            "rb.yml:14:77: stages[0].guard.metrics[0].interval: Input should be greater than"
            " or equal to 0.1",
        ),
        (
            "{name: m, source: prom, query: up, threshold: {max: 1}, count: 0}",
            "rb.yml:14:74: stages[0].guard.metrics[0].count: Input should be greater than or"
            " equal to 1",
        ),
        (
            "{name: m, source: prom, query: up, threshold: {max: 1}, failure_limit: 10001}",
            "rb.yml:14:82: stages[0].guard.metrics[0].failure_limit: Input should be less"
            " than or equal to 10000",
        ),
        (
            "{name: m, source: prom, query: up, threshold: {max: 1}, no_data: maybe}",
            "rb.yml:14:76: stages[0].guard.metrics[0].no_data: invalid value 'maybe'",
        ),
        (
            "{name: 'a b', source: prom, query: up, threshold: {max: 1}}",
            "rb.yml:14:18: stages[0].guard.metrics[0].name: String should match pattern"
            " '^[A-Za-z0-9_.:-]+$'",
        ),
        (
            "{name: m, source: prom, query: up, baseline: {max_increase: -5}}",
            "rb.yml:14:71: stages[0].guard.metrics[0].baseline.max_increase: Input should be"
            " greater than or equal to 0",
        ),
    ],
)
def test_a_bad_check_is_a_located_error(tmp_path: Path, check: str, error: str) -> None:
    assert errors_of(tmp_path, check) == [error]


@pytest.mark.parametrize(
    ("source", "error"),
    [
        (
            "{kind: graphite, url: x}",
            "rb.yml:5:17: metric_sources.extra.kind: unknown kind 'graphite'",
        ),
        (
            "{kind: prometheus, url: x, auth_header: 'Bearer abc'}",
            "rb.yml:5:50: metric_sources.extra.auth_header: String should match pattern"
            " '^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$'",
        ),
        (
            "{kind: prometheus, url: x, auth_header: env:T, basic_auth: {username: u,"
            " password: env:P}}",
            "rb.yml:5:10: metric_sources.extra: give `auth_header` or `basic_auth`, not both",
        ),
        (
            "{kind: fastly_stats, token: env:T, service: S, window: 500}",
            "rb.yml:5:65: metric_sources.extra.window: Input should be less than or equal to 120",
        ),
    ],
)
def test_a_bad_source_is_a_located_error(tmp_path: Path, source: str, error: str) -> None:
    text = RUNBOOK.format(check=OK).replace(
        "metric_sources:\n", f"metric_sources:\n  extra: {source}\n", 1
    )
    path = tmp_path / "rb.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment="lab")
    assert [p.render().splitlines()[0] for p in info.value.problems] == [error]


def test_an_unknown_source_kind_names_the_registered_ones(tmp_path: Path) -> None:
    text = RUNBOOK.format(check=OK).replace(
        "metric_sources:\n", "metric_sources:\n  extra: {kind: graphite}\n", 1
    )
    (tmp_path / "rb.yml").write_text(text, encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        load_runbook(tmp_path / "rb.yml", environment="lab")
    (problem,) = info.value.problems
    assert problem.hint == (
        "expected one of: fastly_stats, prometheus; a plugin's kind is known once its package"
        " is installed"
    )


def test_a_check_name_used_twice_in_a_guard_is_an_error(tmp_path: Path) -> None:
    assert errors_of(tmp_path, OK + "\n        - " + OK.replace("status_5xx", "status_4xx")) == [
        "rb.yml:15:18: stages[0].guard.metrics[1].name: metric check name 'm' is used twice in"
        " this guard"
    ]


@pytest.mark.parametrize(
    ("extra", "warned"),
    [
        ("count: 7, interval: 20s", True),  # 6 * 20 s = 120 s: the default budget
        ("count: 7, interval: 19s", False),
    ],
)
def test_a_check_that_cannot_finish_in_the_budget_is_a_lint_warning(
    tmp_path: Path, extra: str, warned: bool
) -> None:
    from cutover.runbook.lint import lint
    from cutover.runbook.loader import load_runbook as load

    check = OK.replace("threshold", f"{extra}, threshold")
    path = tmp_path / "rb.yml"
    path.write_text(RUNBOOK.format(check=check), encoding="utf-8")
    found = [p.render().splitlines()[0] for p in lint(load(path, environment="lab"))]
    expected = (
        "rb.yml:14:71: stages[0].guard.metrics[0].count: warning: metric check 'm' needs 120 s"
        " for its 7 measurements (every 20 s) in stage 'flip', whose budget is 120 s"
    )
    assert [f for f in found if "metric check" in f] == ([expected] if warned else [])
