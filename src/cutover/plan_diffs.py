"""What each step of a runbook would change, read from live state (for ``cutover plan``).

Read-only: each step's action takes a snapshot and plans against it; nothing is written.
The plan view (:mod:`cutover.report.plan`) renders the result.
"""

from __future__ import annotations

from typing import Any

from cutover.actions.base import Change
from cutover.errors import CutoverError
from cutover.report.plan import StepKey
from cutover.runbook.kinds import action_for
from cutover.runbook.models import Runbook


def live_diffs(runbook: Runbook) -> dict[StepKey, list[str]]:
    """Each enabled step's changes against live state, read-only, cumulative.

    A later step that touches what an earlier step changes is shown against the earlier
    step's result (the state the run would meet), not against today's value.
    """
    out: dict[StepKey, list[str]] = {}
    expected: dict[str, Any] = {}
    for stage in runbook.stages:
        if not stage.enabled:
            continue
        for number, step in enumerate(stage.steps):
            key = (stage.name, number)
            try:
                with action_for(runbook.backends[step.backend], step) as action:
                    diff = action.plan(action.snapshot())
            except CutoverError as exc:
                out[key] = [f"! live state unavailable: {exc.message}"]
                continue
            lines = []
            for change in diff.changes:
                before = expected.get(change.target, change.before)
                shown = Change(change.target, before, change.after)
                expected[change.target] = change.after
                lines.append(shown.render())
            out[key] = lines
    return out
