"""Hints for a misspelt name: the closest choice, or the choices.

A leaf module (stdlib only): the plugin registry, the runbook models and the CLI all use it
without importing each other.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str], *, list_all: bool = False) -> str | None:
    """A hint naming the closest choice, or listing the choices when none is close.

    ``list_all`` lists the choices after the closest one too (e.g. registered kinds, where
    the reader may be missing a plugin rather than misspelling a name).
    """
    options = sorted(set(choices))
    if not options:
        return None
    shown = ", ".join(options[:12]) + (", …" if len(options) > 12 else "")
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    close = close or [o for o in options if word and o.startswith(word)][:1]
    if close:
        return f"did you mean {close[0]!r}?" + (f" (one of: {shown})" if list_all else "")
    return f"expected one of: {shown}"
