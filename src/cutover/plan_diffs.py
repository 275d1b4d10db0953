"""What each step of a runbook would change, read from live state (for ``cutover plan``).

Read-only: each step's action takes a snapshot and plans against it; nothing is written.
The plan view (:mod:`cutover.report.plan`) renders the result. A change of multi-line
text (a VCL snippet's or a custom VCL file's content) is shown as a unified diff: live
state first (``--- live``, or ``--- earlier steps`` when an earlier step of the run
changes it) and the runbook's text second (``+++ runbook``).
"""

from __future__ import annotations

import difflib
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
                earlier = change.target in expected
                before = expected.get(change.target, change.before)
                shown = Change(change.target, before, change.after)
                expected[change.target] = change.after
                if _is_text(shown):
                    lines.extend(_text_diff(shown, "earlier steps" if earlier else "live"))
                else:
                    lines.append(shown.render())
            out[key] = lines
    return out


def _is_text(change: Change) -> bool:
    values = (change.before, change.after)
    return all(v is None or isinstance(v, str) for v in values) and any(
        isinstance(v, str) and "\n" in v for v in values
    )


def _text_diff(change: Change, source: str) -> list[str]:
    """``~ TARGET:`` and the unified diff of its text (``= TARGET (unchanged)`` if none);
    ``source``: where the text before comes from (``live``, or ``earlier steps``)."""
    if not change.changes:
        return [f"= {change.target} (unchanged)"]
    before = [] if change.before is None else str(change.before).splitlines()
    after = [] if change.after is None else str(change.after).splitlines()
    diff = difflib.unified_diff(
        before,
        after,
        fromfile=source if change.before is not None else f"{source} (absent)",
        tofile="runbook" if change.after is not None else "runbook (deleted)",
        lineterm="",
    )
    return [f"~ {change.target}:", *(f"  {line}" for line in diff)]
