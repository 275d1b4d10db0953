"""The ``nginx`` action: one include or map file, written atomically, tested, reloaded.

- **snapshot**: the file's content, or ``None`` when it does not exist;
- **apply**: write the desired content atomically (a temp file in the same directory,
  fsync, rename over the old one, keeping its mode and owner), run ``test_command``; if
  nginx refuses the configuration, put the previous file back and raise
  :class:`RejectedActionError` with nginx's message (nothing changed: nginx was never
  reloaded); otherwise run ``reload_command`` and read the file back;
- **rollback**: write the prior content back (or remove the file if it did not exist), test
  and reload; it always tests and reloads, even when the file already holds the prior
  content, so a rollback interrupted between its write and its reload is finished by the
  next one;
- **reconcile**: compare the file with the desired and the prior content. The file alone
  does not prove nginx serves it: a crash between the write and the reload leaves the
  desired file and the old configuration running. So :meth:`NginxAction.finish` (what
  ``resume`` calls for a step found applied without an ``applied`` row) always tests and
  reloads again (idempotent: reloading the same configuration changes nothing);
- **targets**: the file's whole content (the key is the file's path).

Commands are argument lists run without a shell, each bounded by the backend's timeout.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
from pathlib import Path

from cutover import crash_points
from cutover.actions.base import Action, Change, Diff, Reconciled, Record, State
from cutover.actions.shell import Ran, run_command
from cutover.errors import ActionError, ReadBackError, RejectedActionError
from cutover.fileio import atomic_write, fsync_directory
from cutover.log import get_logger
from cutover.runbook.backends import NginxSettings, NginxStep

DEFAULT_MODE = 0o644


class NginxAction(Action[NginxSettings, NginxStep]):
    """Manage the one file named by the backend's ``file``."""

    kind = "nginx"

    def __init__(self, settings: NginxSettings, step: NginxStep) -> None:
        super().__init__(settings, step)
        self.path = Path(settings.file)
        self._log = get_logger("cutover.actions.nginx").bind(step=step.name, file=str(self.path))

    def target_id(self) -> str:
        """The managed file's real path: symlinks and relative paths name one file."""
        return f"nginx file {os.path.realpath(self.path)}"

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self) -> State:
        return {"file": str(self.path), "content": self._read()}

    def plan(self, live: State) -> Diff:
        return Diff(line_changes(str(self.path), live.get("content"), self.step.content))

    def targets(self, live: State) -> list[Change] | None:
        return [Change(f"nginx file {self.path}", live.get("content"), self.step.content)]

    def reconcile(self, prior: State, record: Record | None) -> Reconciled:
        live = self._read()
        if live == self.step.content:
            return Reconciled.APPLIED
        if live == prior.get("content"):
            return Reconciled.NOT_APPLIED
        return Reconciled.DRIFTED

    # -- writing ---------------------------------------------------------------------------

    def apply(self, prior: State) -> Record:
        previous = self._read()
        desired = self.step.content
        self._write(desired)
        crash_points.reached("nginx.written")  # test hook: see cutover.crash_points
        try:
            self._test_and_reload(
                refused=f"nginx refused the new {self.path.name} (file restored, nothing reloaded)",
                refused_hint="fix the step's content; `nginx -t` shows the same message",
                failed="nginx reload failed (file restored)",
                failed_hint="is nginx running, and does reload_command reach it?",
            )
        except BaseException:
            # Whatever went wrong (refusal, failed reload, timeout, Ctrl-C): the previous
            # file goes back before the error travels on.
            self._restore(previous)
            raise
        return self._read_back(previous)

    def finish(self, prior: State) -> Record:
        """The file holds the desired content, but the crash may have come before the
        reload: test and reload again, so nginx serves what the file says. A refusal
        leaves the file as it is: the rollback that follows restores the prior one."""
        self._test_and_reload(
            refused=f"nginx refuses the {self.path.name} found after the crash",
            refused_hint="the rollback restores the prior file; fix the step's content",
            failed="nginx reload failed while finishing the interrupted step",
            failed_hint="is nginx running, and does reload_command reach it?",
        )
        return self._read_back(prior.get("content"))

    def _read_back(self, previous: str | None) -> Record:
        desired = self.step.content
        if self._read() != desired:
            raise ReadBackError(f"{self.path} does not hold the content just written")
        self._log.info("applied", sha256=digest(desired))
        return {
            "file": str(self.path),
            "sha256": digest(desired),
            "previous_sha256": digest(previous),
        }

    def _test_and_reload(
        self, *, refused: str, refused_hint: str, failed: str, failed_hint: str
    ) -> None:
        """``test_command``, then ``reload_command``; each failure raised with nginx's words."""
        tested = self._run("test", self.settings.test_command)
        if not tested.ok:
            reason = tested.tail() or f"exit {tested.returncode}"
            raise RejectedActionError(f"{refused}: {reason}", hint=refused_hint)
        reloaded = self._run("reload", self.settings.reload_command)
        if not reloaded.ok:
            reason = reloaded.tail() or f"exit {reloaded.returncode}"
            raise ActionError(f"{failed}: {reason}", hint=failed_hint)

    def rollback(self, prior: State, record: Record | None) -> None:
        if "content" not in prior or prior.get("file", str(self.path)) != str(self.path):
            raise ActionError(
                f"rollback of {self.path}: the journaled prior state is not this file's "
                f"({sorted(prior)!r}, file {prior.get('file')!r}); refusing to guess",
                hint="restore the file by hand from the journal",
            )
        content = prior["content"]
        if self._read() != content:
            self._restore(content)
        self._test_and_reload(
            refused=f"nginx refuses the restored {self.path.name}",
            refused_hint="nginx still runs the step's configuration; fix the configuration by hand",
            failed="nginx reload failed during rollback",
            failed_hint=f"{self.path} holds the prior content; reload nginx by hand",
        )
        if self._read() != content:
            raise ReadBackError(f"{self.path} does not hold the prior content after rollback")
        self._log.info("rolled back", sha256=digest(content))

    # -- helpers ---------------------------------------------------------------------------

    def _read(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _restore(self, content: str | None) -> None:
        if content is None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            fsync_directory(self.path.parent)
            self._log.info("file removed")
        else:
            self._write(content)

    def _write(self, content: str) -> None:
        atomic_write(self.path, content, mode=DEFAULT_MODE, keep_existing=True)
        self._log.info("file written", sha256=digest(content))

    def _run(self, what: str, argv: list[str]) -> Ran:
        ran = run_command(argv, timeout=self.settings.timeout)
        log = self._log.info if ran.ok else self._log.warning
        log(f"{what} command finished", returncode=ran.returncode, output=ran.tail() or None)
        return ran


def digest(content: str | None) -> str | None:
    if content is None:
        return None
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def line_changes(target: str, before: str | None, after: str | None) -> list[Change]:
    """A unified-diff-like list of changes: one :class:`Change` per changed line.

    ``target`` is ``FILE:LINE`` (line numbers of the new content); an added line has
    ``before=None``, a removed one ``after=None``. An unchanged file gives one unchanged
    :class:`Change` that names its size and digest.
    """
    if before == after:
        summary = None if before is None else _summary(before)
        return [Change(target, summary, summary)]
    if before is None or after is None:
        head = [Change(target, _summary(before), _summary(after))]
    else:
        head = []
    old = (before or "").splitlines()
    new = (after or "").splitlines()
    out: list[Change] = list(head)
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        width = max(i2 - i1, j2 - j1)
        for k in range(width):
            old_line = old[i1 + k] if i1 + k < i2 else None
            new_line = new[j1 + k] if j1 + k < j2 else None
            line = j1 + k + 1 if new_line is not None else max(j1, 1)
            out.append(Change(f"{target}:{line}", old_line, new_line))
    if len(out) == len(head) and before is not None and after is not None:
        # Same lines, different bytes (e.g. a trailing newline).
        out.append(Change(target, _summary(before), _summary(after)))
    return out


def _summary(content: str | None) -> str | None:
    if content is None:
        return None
    lines = len(content.splitlines())
    short = hashlib.sha256(content.encode("utf-8")).hexdigest()[:12]
    return f"{lines} line{'s' if lines != 1 else ''}, sha256 {short}"
