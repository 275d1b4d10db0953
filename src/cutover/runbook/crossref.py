"""Cross-references a schema cannot express: names that must exist elsewhere in the runbook."""

from __future__ import annotations

from typing import Any

from cutover.errors import Problem
from cutover.runbook.backends import FastlySettings, FastlyStep
from cutover.runbook.problems import did_you_mean


def cross_check(loaded: Any) -> list[Problem]:
    runbook = loaded.model
    pos = loaded.document.positions
    problems: list[Problem] = []
    seen_stages: dict[str, int] = {}
    for i, stage in enumerate(runbook.stages):
        if stage.name in seen_stages:
            problems.append(
                pos.problem(
                    ("stages", i, "name"),
                    f"stage name {stage.name!r} is used twice",
                    hint=f"stage {seen_stages[stage.name]} has it already; names identify stages in"
                    " the journal",
                )
            )
        seen_stages.setdefault(stage.name, i)
        if stage.preflight and stage.steps:
            problems.append(
                pos.problem(
                    ("stages", i, "steps"),
                    "a preflight stage measures the baseline: no steps",
                    hint="move the steps to a stage of their own",
                )
            )
        for j, name in enumerate(stage.probes):
            if name not in runbook.probes:
                problems.append(
                    pos.problem(
                        ("stages", i, "probes", j),
                        f"unknown probe set {name!r}",
                        hint=did_you_mean(name, runbook.probes) or "define it under `probes`",
                    )
                )
        for j, step in enumerate(stage.steps):
            backend = runbook.backends.get(step.backend)
            where = ("stages", i, "steps", j)
            if backend is None:
                problems.append(
                    pos.problem(
                        (*where, "backend"),
                        f"unknown backend {step.backend!r}",
                        hint=did_you_mean(step.backend, runbook.backends),
                    )
                )
                continue
            if (
                isinstance(step, FastlyStep)
                and isinstance(backend, FastlySettings)
                and backend.services
                and step.service not in backend.services
            ):
                problems.append(
                    pos.problem(
                        (*where, "service"),
                        f"unknown service {step.service!r}",
                        hint=did_you_mean(step.service, backend.services),
                    )
                )
    for j, name in enumerate(runbook.rollback.verify):
        if name not in runbook.probes:
            problems.append(
                pos.problem(
                    ("rollback", "verify", j),
                    f"unknown probe set {name!r}",
                    hint=did_you_mean(name, runbook.probes) or "define it under `probes`",
                )
            )
    return problems
