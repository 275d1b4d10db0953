"""The text of ``cutover plan``: stages, steps and probe sets, as a run would take them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from cutover.runbook.backends import StepBase


def describe_step(step: StepBase) -> str:
    """One line for a step's change (kind-specific fields, compact JSON)."""
    fields = step.model_dump(exclude={"name", "backend", "note", "kind"}, exclude_defaults=True)
    return json.dumps(fields, sort_keys=True, separators=(", ", ": "))


def render_plan(loaded: Any) -> Iterator[str]:
    runbook = loaded.model
    yield f"runbook {runbook.name} — environment {loaded.environment}"
    if runbook.description:
        yield f"  {runbook.description.strip().splitlines()[0]}"
    for index, stage in enumerate(runbook.stages, 1):
        flags = []
        if not stage.enabled:
            flags.append("SKIPPED")
        if stage.gate:
            flags.append("gate: confirm")
        if stage.preflight:
            flags.append("preflight")
        suffix = f"  [{', '.join(flags)}]" if flags else ""
        yield ""
        yield f"stage {index}: {stage.name}{suffix}"
        for step in stage.steps:
            yield f"  step  {step.name}  ({step.backend}/{step.kind})"
            yield f"        {describe_step(step)}"
        if stage.settle:
            yield f"  settle {stage.settle:g}s"
        guard = runbook.guard_for(stage)
        for name in stage.probes:
            count = len(runbook.probes[name].probes)
            expand = len(runbook.probes[name].expand)
            extra = f" + {expand} expansion(s)" if expand else ""
            yield f"  probe {name}: {count} probe(s){extra}"
        if stage.probes:
            yield (
                f"  guard fail at once on {', '.join(r.value for r in guard.zero_tolerance)};"
                f" rate {guard.acceptable_rate:g} vs {guard.unacceptable_rate:g},"
                f" min {guard.min_samples} samples, budget {guard.budget:g}s"
            )
    verify = ", ".join(runbook.rollback.verify) or "(none)"
    mode = "automatic" if runbook.rollback.automatic else "manual"
    yield ""
    yield f"rollback: {mode}, verified by {verify}"
