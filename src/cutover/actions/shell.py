"""The ``shell`` action: a command and its undo, as argument lists.

Commands run without a shell (``subprocess`` with an argument list), so a template value
such as ``; rm -rf /`` stays one literal argument. Every run is bounded by the backend's
``timeout``; on expiry the whole process group is killed. Output that reaches a log line
or an error message is cut to its tail and redacted.

State: without a ``check`` command there is nothing to read, so the prior state is ``{}``.
With one, the state is ``{"applied": bool}`` (exit 0: the change is in place; 1: it is not).

Crash recovery: without a ``check``, :meth:`ShellAction.reconcile` cannot tell whether the
command ran, and answers :attr:`Reconciled.APPLIED` ("it may have run"): rollback then runs
``undo``, which is safe because the runbook author must make ``undo`` idempotent, and
resume never runs the command a second time. A ``check`` makes the answer exact.

Targets: with a ``check``, "check exits 0"; without one, live state cannot tell, so a
shell step is never skipped as already in place, and a runbook holding one can never be
found "already at its final state".
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cutover.actions.base import Action, Change, Diff, Reconciled, Record, State
from cutover.errors import ActionError, ReadBackError, RejectedActionError
from cutover.log import get_logger
from cutover.runbook.backends import ShellSettings, ShellStep
from cutover.secrets import clip, redact

TAIL_LINES = 20  #: lines of output kept in an error message
TAIL_CHARS = 2000  #: characters of output kept in an error message


@dataclass(frozen=True)
class Ran:
    """A finished command: its argument list, exit code and (redacted) output."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self) -> str:
        """The end of stderr (or stdout when stderr is empty), redacted, for a message."""
        return tail(self.stderr.strip() or self.stdout.strip())


def tail(text: str) -> str:
    """The last lines of ``text``, redacted before they are cut."""
    return clip(text, TAIL_CHARS, keep="tail", lines=TAIL_LINES)


def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Ran:
    """Run ``argv`` (no shell), bounded by ``timeout`` seconds; never raises on exit codes.

    Raises :class:`RejectedActionError` when the program cannot be started and
    :class:`ActionError` when it outlives ``timeout`` (its process group is killed).
    """
    args = [str(a) for a in argv]
    full_env = {**os.environ, **dict(env)} if env else None
    try:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills it all
        )
    except OSError as exc:
        raise RejectedActionError(
            f"cannot run {redact(args[0])!r}: {exc.strerror or exc}",
            hint="commands are argument lists: the first item is the program",
        ) from None
    try:
        out, err = proc.communicate(timeout=timeout or None)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        raise ActionError(
            f"{_show(args)} did not finish within {timeout:g}s (killed)",
            hint="raise the backend's timeout, or make the command faster",
        ) from None
    except BaseException:  # anything else while waiting (Ctrl-C, a bug): leave no orphan
        _kill_group(proc)
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        raise
    return Ran(
        argv=args,
        returncode=proc.returncode,
        stdout=redact(out.decode("utf-8", "replace")),
        stderr=redact(err.decode("utf-8", "replace")),
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # pragma: no cover  (already gone)
        proc.kill()


def _show(argv: Sequence[str]) -> str:
    """An argument list as the operator would read it (for messages, never for running),
    redacted."""
    import shlex

    return redact(shlex.join(argv))


class ShellAction(Action[ShellSettings, ShellStep]):
    """Run ``command``; roll back with ``undo``; read state with the optional ``check``."""

    kind = "shell"

    def __init__(self, settings: ShellSettings, step: ShellStep) -> None:
        super().__init__(settings, step)
        self._log = get_logger("cutover.actions.shell").bind(step=step.name)

    def target_id(self) -> str | None:
        """The backend's declared ``lock_key``; commands do not say what they change."""
        key = self.settings.lock_key
        return f"shell lock_key {key}" if key else None

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self) -> State:
        if self.step.check is None:
            return {}
        return {"applied": self._check()}

    def plan(self, live: State) -> Diff:
        command = _show(self.step.command)
        if "applied" not in live:
            return Diff([Change(f"run: {command}", None, "(will run; no check to read)")])
        return Diff([Change(f"check: {_show(self.step.check or [])}", live["applied"], True)])

    def targets(self, live: State) -> list[Change] | None:
        if self.step.check is None or "applied" not in live:
            return None
        return [Change(f"shell check {_show(self.step.check)}", live["applied"], True)]

    def reconcile(self, prior: State, record: Record | None) -> Reconciled:
        if self.step.check is None:
            # Nothing to read: "it may have run". Rollback then runs the (idempotent) undo;
            # resume never runs the command twice.
            return Reconciled.APPLIED
        if self._check():
            return Reconciled.APPLIED
        return Reconciled.NOT_APPLIED

    # -- writing ---------------------------------------------------------------------------

    def apply(self, prior: State) -> Record:
        ran = self._run("command", self.step.command)
        if not ran.ok:
            raise RejectedActionError(
                f"step {self.step.name!r}: {_show(ran.argv)} exited {ran.returncode}"
                + (f":\n{ran.tail()}" if ran.tail() else "")
            )
        record: Record = {"returncode": ran.returncode}
        if self.step.check is not None:
            if not self._check():
                raise ReadBackError(
                    f"step {self.step.name!r}: the command succeeded but "
                    f"{_show(self.step.check)} says the change is not in place"
                )
            record["applied"] = True
        return record

    def rollback(self, prior: State, record: Record | None) -> None:
        if self.step.check is not None:
            if prior.get("applied"):
                self._log.info("rollback: the change was in place before the step; kept")
                return
            if not self._check():
                self._log.info("rollback: check says the change is not in place; nothing to do")
                return
        if self.step.undo is None:
            raise RejectedActionError(
                f"step {self.step.name!r} is irreversible (no undo): it cannot be rolled back",
                hint="restore it by hand; the runbook declared it `irreversible: true`",
            )
        ran = self._run("undo", self.step.undo)
        if not ran.ok:
            raise RejectedActionError(
                f"step {self.step.name!r}: undo {_show(ran.argv)} exited {ran.returncode}"
                + (f":\n{ran.tail()}" if ran.tail() else "")
            )
        if self.step.check is not None and self._check():
            raise ReadBackError(
                f"step {self.step.name!r}: undo succeeded but "
                f"{_show(self.step.check)} says the change is still in place"
            )

    # -- helpers ---------------------------------------------------------------------------

    def _run(self, what: str, argv: Sequence[str]) -> Ran:
        self._log.info(f"running {what}", argv=_show(argv))
        ran = run_command(
            argv, timeout=self.settings.timeout, cwd=self.settings.cwd, env=self.settings.env
        )
        log = self._log.info if ran.ok else self._log.warning
        log(f"{what} finished", returncode=ran.returncode, stderr=ran.tail() or None)
        return ran

    def _check(self) -> bool:
        assert self.step.check is not None
        ran = self._run("check", self.step.check)
        if ran.returncode in (0, 1):
            return ran.returncode == 0
        raise ActionError(
            f"step {self.step.name!r}: check {_show(ran.argv)} exited {ran.returncode} "
            "(0 means applied, 1 not applied)" + (f":\n{ran.tail()}" if ran.tail() else "")
        )
