"""``cutover run --dry-run``: the session pointed at private copies, every line marked.

The real targets stay locked while they are read (:func:`rehearsed` releases the locks as
soon as the copies run); the copies and their directory are removed when the run ends,
whatever its outcome.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO

from cutover.cli.output import say
from cutover.lock import HeldLocks
from cutover.session import Session

MARK = "dry run │ "


@contextmanager
def rehearsed(s: Session, held: HeldLocks) -> Iterator[Session]:
    from cutover.dryrun.rehearsal import rehearse

    workdir = Path(tempfile.mkdtemp(prefix="cutover-dry-run-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        try:
            rehearsal = rehearse(s.loaded, workdir, stack)
        finally:
            held.release()  # the real targets were locked only while they were read
        with _marked(json=_json_mode()):
            say(f"rehearsing {s.runbook.name} against private copies; production is not written")
            for copy in rehearsal.copies:
                say(f"  {copy.backend}: {copy.description}")
                for limit in copy.limits:
                    say(f"    cannot tell: {limit}")
            yield Session(s.state_dir, rehearsal.loaded, s.target, s.journal)
            say("the copies are removed")


def _json_mode() -> bool:
    from cutover.log import current_format

    return current_format() == "json"


@contextmanager
def _marked(*, json: bool) -> Iterator[None]:
    """Every stdout line starts with :data:`MARK` (JSON lines are left whole)."""
    if json:
        yield
        return
    original = sys.stdout
    sys.stdout = _Marked(original)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stdout = original


class _Marked:
    """A text stream that marks the start of every line it writes."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._at_start = True

    def write(self, text: str) -> int:
        parts = text.split("\n")
        marked = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part and self._at_start:
                marked.append(MARK + part)
            else:
                marked.append(part)
            self._at_start = not last or (not part and self._at_start)
        self._out.write("\n".join(marked))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)
