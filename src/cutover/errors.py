"""The exception tree and the exit codes, in one place.

Every error cutover raises on purpose derives from :class:`CutoverError` and carries
the exit code the CLI uses for it. The CLI is the only place that turns these into
messages and exit codes; nothing else prints or exits.

::

    CutoverError                      exit 3 unless a subclass says otherwise
    ├── InputError                    exit 2: bad input, nothing was changed
    │   ├── DocumentError             a runbook or checks file has problems (file:line:col)
    │   ├── VariableError             a --var / --vars-file / environment problem
    │   ├── LockHeldError             another run holds the (runbook, environment) lock
    │   └── PluginError               a plugin failed to load, or registers a taken name
    ├── SecretError                   exit 2: a secret reference could not be resolved
    ├── ActionError                   a control-plane call failed
    │   ├── TransientActionError      5xx, timeout, connection reset: retried (bounded)
    │   └── RejectedActionError       4xx or a refusal: never retried
    ├── ReadBackError                 an action wrote but the read-back disagrees
    ├── RollbackFailedError           exit 3: a human must act now
    └── OperatorStop                  exit 4: declined gate, Ctrl-C (after a clean rollback)

Exit codes of ``run``/``resume``/``rollback`` are :class:`RunExit`; ``check`` follows the
Nagios convention, :class:`CheckExit`. docs/cli.md ("Exit codes") documents both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum


class RunExit(IntEnum):
    """Exit codes of ``run``, ``resume``, ``rollback`` and the input-checking commands."""

    OK = 0  #: completed, all guards passed
    ROLLED_BACK = 1  #: a guard failed; the rollback succeeded and was verified
    INVALID = 2  #: invalid input (runbook, checks file, options): nothing was changed
    NEEDS_ATTENTION = 3  #: rollback failed or could not be verified: a human must act now
    STOPPED = 4  #: stopped by the operator (declined gate, Ctrl-C) after a clean rollback


class CheckExit(IntEnum):
    """Exit codes of ``cutover check``: the Nagios plugin convention."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def exit_code_for(error: BaseException, *, nagios: bool = False) -> int:
    """The exit code a command ends with when ``error`` stops it: one mapping for every command.

    With ``nagios`` (``cutover check``), whatever stopped the check means it could not run:
    UNKNOWN, never a status a monitoring system would page on. Otherwise a
    :class:`CutoverError` carries its own code, Ctrl-C is a stop by the operator, and
    anything else (not raised on purpose) is for a human to look at.
    """
    if nagios:
        return CheckExit.UNKNOWN
    if isinstance(error, CutoverError):
        return int(error.exit_code)
    if isinstance(error, KeyboardInterrupt):
        return RunExit.STOPPED
    return RunExit.NEEDS_ATTENTION


class CutoverError(Exception):
    """Base of every deliberate cutover error."""

    exit_code: int = RunExit.NEEDS_ATTENTION

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """The message a user reads (no traceback)."""
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class InputError(CutoverError):
    """Bad input: a file, an option or a variable. Nothing was changed."""

    exit_code = RunExit.INVALID


@dataclass(frozen=True)
class Problem:
    """One problem in a document, located as ``FILE:LINE:COL: YAML.path: message``."""

    file: str
    line: int  #: 1-based
    column: int  #: 1-based
    path: str  #: dotted YAML path, e.g. ``stages[2].steps[0].set``; ``""`` for the root
    message: str
    hint: str | None = None
    severity: str = "error"  #: "error" or "warning"

    def render(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        path = self.path or "(document)"
        text = f"{where}: {path}: {self.message}"
        if self.severity == "warning":
            text = f"{where}: {path}: warning: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class DocumentError(InputError):
    """A runbook or checks file has one or more problems; all of them are listed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0].render() if self.problems else "invalid document"
        super().__init__(first)

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)


class VariableError(InputError):
    """A ``--var``, ``--vars-file`` or ``--env`` problem."""


class LockHeldError(InputError):
    """Another run holds the lock for this runbook and environment."""


class PluginError(InputError):
    """A plugin (an entry point, a registered kind) failed to load or was refused."""


class SecretError(CutoverError):
    """A secret reference could not be resolved (e.g. the environment variable is unset)."""

    exit_code = RunExit.INVALID


class ActionError(CutoverError):
    """A control-plane call failed."""


class TransientActionError(ActionError):
    """A failure worth retrying: 5xx, timeout, connection reset."""


class RejectedActionError(ActionError):
    """A refusal (4xx, validation failure): retrying would not help."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None):
        super().__init__(message, hint=hint)
        self.status = status  #: the HTTP status of the refusal, when there was one


class ReadBackError(ActionError):
    """An action wrote, but reading the value back shows something else."""


class RollbackFailedError(CutoverError):
    """Rollback failed or could not be verified: a human must act now."""

    exit_code = RunExit.NEEDS_ATTENTION


class OperatorStop(CutoverError):
    """The operator stopped the run (declined gate, Ctrl-C)."""

    exit_code = RunExit.STOPPED
