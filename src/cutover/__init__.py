"""cutover: orchestrate risky traffic migrations with probes and automatic rollback.

The public face, small on purpose (everything else is internal)::

    import cutover

    loaded = cutover.load_runbook(Path("runbooks/pypi-files.yml"), environment="lab")
    checks = cutover.load_checks(Path("checks/pypi-files.yml"))

    # a plugin: settings and step models for a new backend kind, and its action
    cutover.register_kind(cutover.BackendKind("mycdn", MySettings, MyStep, "My CDN"))
    cutover.register_action("mycdn", MyAction)   # MyAction subclasses cutover.Action

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
    "register_action": "cutover.actions.base",
    "BackendKind": "cutover.runbook.backends",
    "register_kind": "cutover.runbook.backends",
    "Reason": "cutover.reasons",
    "CutoverError": "cutover.errors",
    "RunExit": "cutover.errors",
    "CheckExit": "cutover.errors",
}

__all__ = [
    "Action",
    "BackendKind",
    "CheckExit",
    "CutoverError",
    "Reason",
    "RecordingAction",
    "RunExit",
    "VarOverrides",
    "__version__",
    "load_checks",
    "load_runbook",
    "register_action",
    "register_kind",
]

if TYPE_CHECKING:
    from cutover.actions.base import Action, RecordingAction, register_action
    from cutover.errors import CheckExit, CutoverError, RunExit
    from cutover.reasons import Reason
    from cutover.runbook.backends import BackendKind, register_kind
    from cutover.runbook.loader import VarOverrides, load_checks, load_runbook


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cutover' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
