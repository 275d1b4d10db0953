"""The text of ``cutover plan``: stages, steps and probe sets, as a run would take them.

A view: it renders what it is given. The per-step diffs against live state are read by
:func:`cutover.plan_diffs.live_diffs` (the command fetches them; this module does no I/O).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from cutover.runbook.backends import StepBase

if TYPE_CHECKING:
    from cutover.runbook.loader import Loaded
    from cutover.runbook.models import Runbook


def describe_step(step: StepBase) -> str:
    """One line for a step's change (kind-specific fields, compact JSON)."""
    fields = step.model_dump(exclude={"name", "backend", "note", "kind"}, exclude_defaults=True)
    return json.dumps(fields, sort_keys=True, separators=(", ", ": "))


StepKey = tuple[str, int]  #: (stage name, step index)


def render_plan(
    loaded: Loaded[Runbook], diffs: dict[StepKey, list[str]] | None = None
) -> Iterator[str]:
    runbook = loaded.model
    yield f"runbook {runbook.name} — environment {loaded.environment}"
    if runbook.description:
        yield f"  {runbook.description.strip().splitlines()[0]}"
    for index, stage in enumerate(runbook.stages, 1):
        flags = []
        if not stage.enabled:
            flags.append("SKIPPED")
        if stage.gate:
            flags.append(f"gate: {stage.gate.describe()}")
        if stage.pause:
            flags.append(f"pause: {stage.pause:g}s")
        if stage.preflight:
            flags.append("preflight")
        suffix = f"  [{', '.join(flags)}]" if flags else ""
        yield ""
        yield f"stage {index}: {stage.name}{suffix}"
        for number, step in enumerate(stage.steps):
            yield f"  step  {step.name}  ({step.backend}/{step.kind_name})"
            if diffs is None or (stage.name, number) not in diffs:
                yield f"        {describe_step(step)}"
            else:
                for line in diffs[(stage.name, number)]:
                    yield f"        {line}"
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
