"""Cross-references a schema cannot express: names that must exist elsewhere in the runbook."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from cutover.errors import Problem
from cutover.hints import did_you_mean
from cutover.metrics.crossref import metric_problems

if TYPE_CHECKING:
    from cutover.runbook.backends import StepBase
    from cutover.runbook.document import PathKey, Positions
    from cutover.runbook.loader import Loaded
    from cutover.runbook.models import Runbook


def cross_check(loaded: Loaded[Runbook]) -> list[Problem]:
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
        problems.extend(_unknown_probe_sets(runbook, pos, ("stages", i, "probes"), stage.probes))
        for j, step in enumerate(stage.steps):
            where = ("stages", i, "steps", j)
            if step.sensitive and runbook.state.key is None:
                problems.append(_keyless(pos, (*where, "sensitive")))
            problems.extend(_step_problems(runbook, pos, where, step))
    if runbook.state.sensitive and runbook.state.key is None:
        problems.append(_keyless(pos, ("state", "sensitive")))
    verify = runbook.rollback.verify
    problems.extend(_unknown_probe_sets(runbook, pos, ("rollback", "verify"), verify))
    problems.extend(metric_problems(runbook, pos))
    problems.extend(_rollback_purge_problems(runbook, pos))
    return problems


def _rollback_purge_problems(runbook: Runbook, pos: Positions) -> Iterator[Problem]:
    """Each ``rollback.purge`` entry is a fastly purge step: a fastly backend, a service."""
    for k, entry in enumerate(runbook.rollback.purge):
        where = ("rollback", "purge", k)
        kind = getattr(runbook.backends.get(entry.backend), "kind", "fastly")
        if kind != "fastly":
            yield pos.problem(
                (*where, "backend"),
                f"rollback.purge needs a fastly backend; {entry.backend!r} is {kind!r}",
                hint="purge through the fastly backend whose caches keep the answers",
            )
            continue
        yield from _step_problems(runbook, pos, where, entry.as_step(k))


def _unknown_probe_sets(
    runbook: Runbook, pos: Positions, where: PathKey, names: Sequence[str]
) -> Iterator[Problem]:
    """A problem for each name in the list at ``where`` that is not a probe set."""
    for j, name in enumerate(names):
        if name not in runbook.probes:
            yield pos.problem(
                (*where, j),
                f"unknown probe set {name!r}",
                hint=did_you_mean(name, runbook.probes) or "define it under `probes`",
            )


def _step_problems(
    runbook: Runbook, pos: Positions, where: PathKey, step: StepBase
) -> Iterator[Problem]:
    """A step's backend must exist and be of the step's kind; then the kind's own checks."""
    backend = runbook.backends.get(step.backend)
    if backend is None:
        yield pos.problem(
            (*where, "backend"),
            f"unknown backend {step.backend!r}",
            hint=did_you_mean(step.backend, runbook.backends),
        )
        return
    step_kind, backend_kind = getattr(step, "kind", None), getattr(backend, "kind", None)
    if step_kind != backend_kind:
        yield pos.problem(
            (*where, "kind"),
            f"step kind {step_kind!r} does not match its backend"
            f" {step.backend!r} ({backend_kind!r})",
            hint="a step's kind comes from its backend: drop the step's `kind:`",
        )
        return
    for found in step.cross_check(backend):
        yield pos.problem((*where, *found.path), found.message, hint=found.hint)


def _keyless(pos: Positions, path: PathKey) -> Problem:
    return pos.problem(
        path,
        "sensitive values are stored encrypted, and no key is configured",
        hint="add `state: {key: env:CUTOVER_STATE_KEY}` (a secret reference) to the runbook",
    )
