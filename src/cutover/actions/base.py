"""The Action interface, its registry, and the recording fake beside it.

An action changes one thing on one backend, reversibly by construction:

- :meth:`Action.snapshot` reads the live value(s) the step touches: the *prior state*,
  journaled (``intent``) **before** anything is written;
- :meth:`Action.plan` compares live state with the desired state (never memory);
- :meth:`Action.apply` writes, reads back to verify, and returns a *record* (what it did,
  e.g. the new version number), journaled as ``applied``;
- :meth:`Action.rollback` restores the prior state; it needs only the prior state (the
  record helps when present), so it works after a crash between ``intent`` and
  ``applied``; it is idempotent;
- :meth:`Action.reconcile` tells, from live state, whether the step is applied, not
  applied, or neither (something else changed it): used by ``resume`` and ``rollback``
  after a crash, so a step is never applied twice;
- :meth:`Action.finish` makes the *effect* of a step found applied after a crash live
  (``resume`` calls it before journaling ``applied``): by default the value reconcile
  read is the effect and there is nothing to do; the nginx action tests and reloads;
- :meth:`Action.targets` names each value the step would leave, with its live value,
  keyed by what it names on the backend (so two steps writing the same value share the
  key): :meth:`Action.at_target` (skip a step already in place) and the whole-run check
  of a runbook's final state (``cutover.final_state``) compare them.

States and records are JSON-serialisable mappings (they go into the journal), and never
hold secrets.

``Action`` is generic over the models of its backend kind's settings and steps
(``class NginxAction(Action[NginxSettings, NginxStep])``): ``self.settings`` and
``self.step`` have those types, and the kind (:class:`cutover.runbook.kinds.BackendKind`)
checks them once, before an action is made. Actions are found through the kind registry,
like everything a plugin adds; see docs/plugins.md.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic

from typing_extensions import TypeVar

from cutover.runbook.backends import StepBase
from cutover.runbook.types import Model

#: the settings and step models of an action's kind (``Action[Settings, Step]``)
SettingsT = TypeVar("SettingsT", bound=Model, default=Model, covariant=True)
StepT = TypeVar("StepT", bound=StepBase, default=StepBase, covariant=True)

State = dict[str, Any]
Record = dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One value a step would change: where, from what, to what."""

    target: str
    before: Any
    after: Any

    @property
    def changes(self) -> bool:
        return bool(self.before != self.after)

    def render(self) -> str:
        def show(value: Any) -> str:
            if value is None:
                return "(absent)"
            if isinstance(value, str) and "\n" not in value:
                return repr(value)
            return json.dumps(value, sort_keys=True)

        mark = "~" if self.changes else "="
        if not self.changes:
            return f"{mark} {self.target}: {show(self.before)} (unchanged)"
        return f"{mark} {self.target}: {show(self.before)} → {show(self.after)}"


@dataclass(frozen=True)
class Diff:
    changes: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(c.changes for c in self.changes)


class Reconciled(StrEnum):
    APPLIED = "applied"  #: live state is the desired state
    NOT_APPLIED = "not_applied"  #: live state is still the prior state
    DRIFTED = "drifted"  #: neither: someone else changed it


class Action(ABC, Generic[SettingsT, StepT]):
    """One step on one backend. Subclasses set :attr:`kind` and implement five methods
    (and :meth:`targets`, to be skippable when already in place)."""

    kind: ClassVar[str]

    def __init__(self, settings: SettingsT, step: StepT) -> None:
        self.settings = settings
        self.step = step

    @abstractmethod
    def snapshot(self) -> State:
        """The live prior state this step will change."""

    @abstractmethod
    def plan(self, live: State) -> Diff:
        """What :meth:`apply` would change, given the live state."""

    @abstractmethod
    def apply(self, prior: State) -> Record:
        """Write the desired state, read it back, and return what is needed to undo."""

    @abstractmethod
    def rollback(self, prior: State, record: Record | None) -> None:
        """Restore ``prior``; idempotent; ``record`` is None after a crash mid-apply."""

    @abstractmethod
    def reconcile(self, prior: State, record: Record | None) -> Reconciled:
        """Is the step applied, according to live state?"""

    def target_id(self) -> str | None:
        """The one thing this step changes, named for the run's locks (see ``cutover.lock``).

        Two steps that can interfere must name the same target, whatever runbook or state
        directory they come from. None: the kind cannot tell; the step is then locked on
        its backend within its runbook.
        """
        return None

    def targets(self, live: State) -> list[Change] | None:
        """Each value :meth:`apply` would leave: ``Change(key, live value, desired value)``.

        ``key`` names the value on its backend (not the step), so the last step of a
        runbook writing a key holds its final desired value. None: live state cannot tell
        (a shell step with no ``check``), so the step is never "already at target"; the
        default, so an action registered by a plugin is never skipped by mistake.
        """
        return None

    def at_target(self, live: State) -> bool | None:
        """Does ``live`` (a :meth:`snapshot`) already hold everything :meth:`apply` would
        write? None when live state cannot tell."""
        found = self.targets(live)
        if found is None:
            return None
        return not any(change.changes for change in found)

    def finish(self, prior: State) -> Record:
        """After a crash between ``intent`` and ``applied``, with :meth:`reconcile` saying
        APPLIED: make sure the step's effect is live, and return its record.

        By default the value reconcile read *is* the effect (an API's setting, an edge
        dictionary item, the active version): nothing to do. An action whose write takes
        effect only through a further command (nginx: test and reload) overrides this,
        idempotently.
        """
        return {}

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Action:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def planned_changes(action: Action[Any, Any], prior: State) -> list[str]:
    """What the step is about to change, one rendered line each (``~ target: a → b``), for
    the journal's intent row and the run report; empty when the action cannot plan (a
    plan that fails never stops the step: :meth:`Action.apply` decides)."""
    from cutover.errors import CutoverError

    try:
        return [c.render() for c in action.plan(prior).changes if c.changes]
    except CutoverError:
        return []


class RecordingAction(Action):
    """A fake for engine tests: keeps its 'live' state in a shared dict and logs every call.

    ``world`` maps a key to a value; the step's desired values come from ``desired``.
    ``fail_on`` names calls that raise (e.g. ``{"apply", "rollback", "finish"}``) to test
    failures.
    """

    kind = "recording"

    def __init__(
        self,
        world: dict[str, Any],
        desired: Mapping[str, Any],
        *,
        calls: list[tuple[str, str]] | None = None,
        fail_on: set[str] | None = None,
        name: str = "step",
    ) -> None:
        self.world = world
        self.desired = dict(desired)
        self.calls = calls if calls is not None else []
        self.fail_on = fail_on or set()
        self.name = name

    def _call(self, what: str) -> None:
        self.calls.append((what, self.name))
        if what in self.fail_on:
            from cutover.errors import RejectedActionError

            raise RejectedActionError(f"{self.name}: {what} refused (recording fake)")

    def snapshot(self) -> State:
        self._call("snapshot")
        return {k: self.world.get(k) for k in self.desired}

    def plan(self, live: State) -> Diff:
        return Diff([Change(k, live.get(k), v) for k, v in self.desired.items()])

    def apply(self, prior: State) -> Record:
        self._call("apply")
        self.world.update(self.desired)
        return {"wrote": sorted(self.desired)}

    def rollback(self, prior: State, record: Record | None) -> None:
        self._call("rollback")
        for key, value in prior.items():
            if value is None:
                self.world.pop(key, None)
            else:
                self.world[key] = value

    def targets(self, live: State) -> list[Change] | None:
        return [Change(f"{self.kind} {k}", live.get(k), v) for k, v in self.desired.items()]

    def finish(self, prior: State) -> Record:
        self._call("finish")
        return {}

    def reconcile(self, prior: State, record: Record | None) -> Reconciled:
        live = {k: self.world.get(k) for k in self.desired}
        if live == self.desired:
            return Reconciled.APPLIED
        if live == prior:
            return Reconciled.NOT_APPLIED
        return Reconciled.DRIFTED
