"""Whether to colour output: on a terminal, unless ``NO_COLOR`` is set (https://no-color.org).

One rule for every coloured output (the run's plain lines, the check table, log lines);
``FORCE_COLOR`` colours even off a terminal (for a pager that shows colours, ``less -R``).
"""

from __future__ import annotations

import os
from typing import Any

RED, GREEN, YELLOW, DIM = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[2m"
RESET = "\x1b[0m"


def wants_colour(stream: Any) -> bool:
    """Colour for ``stream``: never with ``NO_COLOR`` set (non-empty); always with
    ``FORCE_COLOR``; otherwise when ``stream`` is a terminal."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, colour: str | None) -> str:
    """``text`` in ``colour`` (one of the codes above), or as is for None."""
    return f"{colour}{text}{RESET}" if colour else text
