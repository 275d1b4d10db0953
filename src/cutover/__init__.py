"""cutover: orchestrate risky traffic migrations with probes and automatic rollback.

The public face, small on purpose (everything else is internal)::

    import cutover

    loaded = cutover.load_runbook(Path("runbooks/pypi-files.yml"), environment="lab")
    checks = cutover.load_checks(Path("checks/pypi-files.yml"))

    # a plugin: a backend kind is its settings and step models (cutover.Model,
    # cutover.StepBase), its action (cutover.Action: Change, Diff, Reconciled) and a
    # summary; or declare it in the `cutover.kinds` entry-point group (docs/plugins.md)
    cutover.register_kind(cutover.BackendKind("mycdn", MySettings, MyStep, MyAction, "My CDN"))

Names are imported on first use, so ``import cutover`` (and ``cutover --help``) stays
light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

_EXPORTS = {
    "load_runbook": "cutover.runbook.loader",
    "load_checks": "cutover.runbook.loader",
    "VarOverrides": "cutover.runbook.loader",
    "Action": "cutover.actions.base",
    "RecordingAction": "cutover.actions.base",
    "Change": "cutover.actions.base",
    "Diff": "cutover.actions.base",
    "Reconciled": "cutover.actions.base",
    "StepProblem": "cutover.runbook.backends",
    "BackendKind": "cutover.runbook.kinds",
    "StepBase": "cutover.runbook.backends",
    "Model": "cutover.runbook.types",
    "register_kind": "cutover.runbook.kinds",
    "Reason": "cutover.reasons",
    "CutoverError": "cutover.errors",
    "RunExit": "cutover.errors",
    "CheckExit": "cutover.errors",
}

__all__ = [
    "Action",
    "BackendKind",
    "Change",
    "CheckExit",
    "CutoverError",
    "Diff",
    "Model",
    "Reason",
    "Reconciled",
    "RecordingAction",
    "RunExit",
    "StepBase",
    "StepProblem",
    "VarOverrides",
    "__version__",
    "load_checks",
    "load_runbook",
    "register_kind",
]

if TYPE_CHECKING:
    from cutover.actions.base import Action, Change, Diff, Reconciled, RecordingAction
    from cutover.errors import CheckExit, CutoverError, RunExit
    from cutover.reasons import Reason
    from cutover.runbook.backends import StepBase, StepProblem
    from cutover.runbook.kinds import BackendKind, register_kind
    from cutover.runbook.loader import VarOverrides, load_checks, load_runbook
    from cutover.runbook.types import Model


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cutover' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
