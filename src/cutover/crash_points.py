"""Named crash points inside actions: a test hook, for crash testing only (leave it unset).

``CUTOVER_TEST_CRASH_AT`` holds either a number N (the journal's hook: SIGKILL right after
the process's N-th journal write, see :mod:`cutover.journal`) or ``NAME`` / ``NAME#K``:
SIGKILL when the process reaches the named point for the K-th time (1 by default). The
named points sit where the journal hook cannot reach, inside an action between its write
and the ``applied`` row:

- ``nginx.written``: the include file is written, nginx neither tested nor reloaded;
- ``haproxy.committed``: the runtime map is committed, the map file not yet written;
- ``varnish.loaded``: the VCL is loaded, not yet made active.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

CRASH_ENV = "CUTOVER_TEST_CRASH_AT"

_reached: Counter[str] = Counter()


def reached(name: str) -> None:
    """The process got to the named point; die here if the hook names it (this time)."""
    wanted = os.environ.get(CRASH_ENV, "")
    point, _, nth = wanted.partition("#")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
