"""The targets of a runbook: every thing its steps can change, named for the locks.

Each step's action names its target (:meth:`cutover.actions.base.Action.target_id`). A
step whose action cannot name one (a shell backend without ``lock_key``, or a plugin
that does not say) is locked on its backend within the runbook, so two runs of the same
runbook still exclude each other; ``cutover validate`` warns about shell backends
without ``lock_key``. Every run also locks its runbook and environment in its state
directory, which keeps the journal's own checks (an unfinished run of this runbook)
free of races.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from cutover.runbook.backends import StepBase
    from cutover.runbook.models import Runbook

_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """``url`` with its scheme and host lower-cased, no default port, no trailing slash."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    return urlunsplit((scheme, host, parts.path.rstrip("/"), parts.query, ""))


def join_url(base: str, path: str) -> str:
    return canonical_url(base.rstrip("/") + "/" + path.lstrip("/"))


def step_target(runbook: Runbook, step: StepBase) -> str:
    """The target of one step: its action's, else its backend within the runbook."""
    from cutover.runbook.kinds import action_for

    with action_for(runbook.backends[step.backend], step) as action:
        declared = action.target_id()
    if declared is not None:
        return declared
    return f"{step.kind_name} backend {step.backend!r} of runbook {runbook.name!r}"


def run_targets(runbook: Runbook, environment: str, state: Path | str) -> list[str]:
    """Every target a run of ``runbook`` can touch (enabled or not), sorted; ``state``
    is the store's name (a directory, or a URL without its password)."""
    targets = {step_target(runbook, step) for stage in runbook.stages for step in stage.steps}
    where = state.resolve() if isinstance(state, Path) else state
    targets.add(f"runbook {runbook.name!r} on {environment!r} in state {where}")
    return sorted(targets)
