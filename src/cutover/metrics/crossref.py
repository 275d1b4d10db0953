"""What a metric check names must exist: its source under ``metric_sources``, and a query
that source can answer (a ``fastly_stats`` query names only Fastly's measurements)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from cutover.errors import PluginError, Problem
from cutover.hints import did_you_mean
from cutover.metrics.sources import METRIC_SOURCES

if TYPE_CHECKING:
    from cutover.metrics.checks import MetricCheck
    from cutover.runbook.document import PathKey, Positions
    from cutover.runbook.models import Runbook


def slow_metric_checks(
    runbook: Runbook, index: int
) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    """A lint warning (path, message, hint) for each metric check of stage ``index`` that
    cannot take its ``count`` measurements within the stage's budget: such a check can
    only fail (or pass by ``on_budget: pass``)."""
    stage = runbook.stages[index]
    policy = runbook.guard_for(stage)
    own = bool(getattr(stage.guard, "metrics", None))
    where: tuple[str | int, ...] = (
        ("stages", index, "guard", "metrics")
        if own
        else (
            "guard",
            "metrics",
        )
    )
    for j, check in enumerate(policy.metrics):
        needs = (check.count - 1) * check.interval
        if needs >= policy.budget:
            yield (
                (*where, j, "count"),
                f"metric check {check.name!r} needs {needs:g} s for its {check.count}"
                f" measurements (every {check.interval:g} s) in stage {stage.name!r}, whose"
                f" budget is {policy.budget:g} s",
                "lower `count` or `interval`, or raise the guard's `budget`",
            )


def metric_problems(runbook: Runbook, pos: Positions) -> Iterator[Problem]:
    """A problem for each metric check (default guard and stage overrides) whose source is
    not configured or whose query its source refuses."""
    yield from _checks(runbook, pos, ("guard", "metrics"), runbook.guard.metrics)
    for i, stage in enumerate(runbook.stages):
        checks = getattr(stage.guard, "metrics", None)  # an override's (GuardOverride)
        if checks:
            yield from _checks(runbook, pos, ("stages", i, "guard", "metrics"), checks)


def _checks(
    runbook: Runbook, pos: Positions, where: PathKey, checks: list[MetricCheck]
) -> Iterator[Problem]:
    seen: set[str] = set()
    for j, check in enumerate(checks):
        if check.name in seen:
            yield pos.problem(
                (*where, j, "name"),
                f"metric check name {check.name!r} is used twice in this guard",
                hint="names tell the checks apart in decisions and the journal",
            )
        seen.add(check.name)
        settings = runbook.metric_sources.get(check.source)
        if settings is None:
            yield pos.problem(
                (*where, j, "source"),
                f"unknown metric source {check.source!r}",
                hint=did_you_mean(check.source, runbook.metric_sources)
                or "define it under `metric_sources`",
            )
            continue
        try:
            kind = METRIC_SOURCES.get(getattr(settings, "kind", ""))
        except PluginError as exc:
            yield pos.problem((*where, j, "source"), exc.message)
            continue
        if kind.check_query is None:
            continue
        try:
            kind.check_query(check.query)
        except ValueError as exc:
            yield pos.problem(
                (*where, j, "query"), f"not a {kind.name} query: {exc}", hint=kind.summary
            )
