"""Where a runbook's ``include:`` may read from, and what may be shown of what it reads.

A runbook is input that may come from someone else (a pull request run in CI). Its
``include:`` names a file that cutover opens and, when the file has problems, quotes in
error messages. So:

- An include resolves (symbolic links followed, ``..`` applied) inside the *include
  roots*: the runbook's own folder, the repository that holds it (the nearest folder
  above it with a ``.git``), every ``--include-root DIR`` and every folder of
  ``$CUTOVER_INCLUDE_ROOTS`` (separated by ``:``). Anything else is refused before it is
  opened or even looked at.
- A directory, a device (``/dev/zero``) or a named pipe (which would block the reader
  forever) is refused by its kind, without opening it.
- A file that is not a checks file (invalid YAML, not a mapping, top-level keys a checks
  file does not have, no ``sets``) is refused as a whole, located at the ``include:`` key:
  no line, key or value of it is quoted. Only a file shaped like a checks file gets the
  detailed, quoting problems of the checks file schema.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cutover.errors import DocumentError
from cutover.runbook.document import Document, display_name, load_document

ROOTS_ENV = "CUTOVER_INCLUDE_ROOTS"  #: more include roots, separated by os.pathsep
ROOTS_HINT = f"or name its folder with --include-root DIR (or ${ROOTS_ENV})"


@dataclass(frozen=True)
class Refusal:
    """Why an include is not read: a message (naming only the path) and a hint."""

    message: str
    hint: str | None = None


def include_roots(runbook_folder: Path, extra: Iterable[Path] = ()) -> tuple[Path, ...]:
    """The folders includes of a runbook in ``runbook_folder`` may resolve into (real paths)."""
    folder = Path(os.path.realpath(runbook_folder))
    roots = [folder]
    checkout = _checkout(folder)
    if checkout is not None:
        roots.append(checkout)
    named = [*extra, *(Path(p) for p in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if p)]
    roots.extend(Path(os.path.realpath(p)) for p in named)
    return tuple(dict.fromkeys(roots))


def _checkout(folder: Path) -> Path | None:
    """The nearest folder at or above ``folder`` that holds a ``.git`` (a repository or a
    worktree): the runbook's project."""
    for candidate in (folder, *folder.parents):
        if candidate.parent == candidate:  # the file system's root is never a project
            return None
        if os.path.lexists(candidate / ".git"):
            return candidate
    return None


def locate(include: str, base: Path, roots: Sequence[Path]) -> Path | Refusal:
    """The real path of ``include`` (relative to ``base``), or why it may not be read.

    The roots are checked before anything is opened; the kind of file before it is read."""
    try:
        target = Path(os.path.realpath(base / include))
    except (OSError, ValueError):  # a NUL byte
        return Refusal(f"{include!r} is not a usable path")
    if not any(target.is_relative_to(root) for root in roots):
        shown = ", ".join(display_name(r) for r in roots)
        return Refusal(
            f"{include}: outside the folders an include may read from ({shown})",
            hint=f"move the checks file into the runbook's folder or repository, {ROOTS_HINT}",
        )
    try:
        mode = target.stat().st_mode
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValueError) or exc.errno in (errno.ENOENT, errno.ENAMETOOLONG):
            return Refusal(
                f"{include}: no such file",
                hint=f"the path is relative to the runbook's folder, {display_name(base)}",
            )
        return Refusal(f"{include}: cannot be read ({exc.strerror})")
    kind = _special_kind(mode)
    if kind is not None:
        return Refusal(f"{include}: {kind}", hint="name a checks file (a YAML file with `sets`)")
    return target


def _special_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a checks file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO); cutover does not open it (reading would wait forever)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a checks file; cutover does not read it"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a checks file"
    return "is not a regular file"


def load_included(include: str, target: Path, fields: Iterable[str]) -> Document | Refusal:
    """The included document when it is shaped like a checks file (a mapping with ``sets``
    and only the top-level ``fields`` of one); otherwise a refusal that quotes nothing of it."""
    not_checks = f"{include}: not a checks file"
    hint = f"if it is one, `cutover validate {display_name(target)}` shows its problems"
    try:
        doc = load_document(target)
    except DocumentError as exc:
        where = exc.problems[0] if exc.problems else None
        at = f" (line {where.line}, column {where.column})" if where else ""
        return Refusal(f"{not_checks}: it cannot be read as YAML{at}", hint=hint)
    reason = _shape_problem(doc.data, set(fields))
    if reason is not None:
        return Refusal(f"{not_checks}: {reason}", hint=hint)
    return doc


def _shape_problem(data: Any, fields: set[str]) -> str | None:
    if not isinstance(data, Mapping):
        kinds = {list: "a list", str: "text", type(None): "empty"}
        return f"its top level is {kinds.get(type(data), 'a single value')}, not a mapping"
    unknown = [key for key in data if key not in fields]
    if unknown:
        return f"{len(unknown)} of its top-level keys are not checks file keys"
    if not isinstance(data.get("sets"), Mapping):
        return "it has no `sets` mapping"
    return None


__all__ = ["ROOTS_ENV", "Refusal", "include_roots", "load_included", "locate"]
