"""A runbook's final state, composed over its stages, against live state.

Every step names the values it would leave (:meth:`~cutover.actions.base.Action.targets`,
keyed by what they name on the backend). Walking the enabled stages in order, a later step
writing a key overrides an earlier one, so each key ends holding its *final* desired
value: for ``pypi-files.yml``'s redirect dictionary, ``percent`` is the ramp-100 step's
``100`` and ``mode`` the permanent step's ``301``. The runbook already holds when every
final value equals the live one; nothing is read twice and nothing is written.

A step whose live state cannot be read (a shell step with no ``check``) makes the answer
unknown: the run cannot claim "already holds", and runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cutover.actions.base import Action, Change
from cutover.runbook.backends import StepBase
from cutover.runbook.models import Runbook


@dataclass(frozen=True)
class FinalState:
    """The final desired value of every target, and what live state says of them."""

    targets: list[Change] = field(default_factory=list)  #: final value per key, live first
    unknown: list[str] = field(default_factory=list)  #: ``stage/step`` that cannot be read

    @property
    def differs(self) -> list[Change]:
        return [change for change in self.targets if change.changes]

    @property
    def holds(self) -> bool:
        """Live state is the runbook's final state (and the runbook changes something)."""
        return bool(self.targets) and not self.unknown and not self.differs


def final_state(runbook: Runbook, action_for: Callable[[StepBase], Action]) -> FinalState:
    """Read every step's targets from live state (enabled stages only), last writer wins."""
    final: dict[str, Change] = {}
    unknown: list[str] = []
    for stage in runbook.stages:
        if not stage.enabled:
            continue
        for step in stage.steps:
            with action_for(step) as action:
                found = action.targets(action.snapshot())
            if found is None:
                unknown.append(f"{stage.name}/{step.name}")
                continue
            for change in found:
                final.pop(change.target, None)  # keep the order of the last writer
                final[change.target] = change
    return FinalState(list(final.values()), unknown)
