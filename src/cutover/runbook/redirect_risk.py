"""Does a fastly step make the CDN answer with a redirect? The lint heuristic behind the
cached-redirect warning (docs/runbook.md, "Cached redirects").

Fastly caches 301 and 302 answers like any other (for the default TTL, an hour, when no
header says otherwise; with shielding, even a redirect the shield makes in VCL is a
backend answer to the edge, which keeps it). A step is taken to set a redirect when any
value it writes (dictionary items, settings, snippet or VCL content, header objects;
every string in the step, whatever field a future step kind adds) is:

- a redirect status on its own (``301``, ``302``, ``303``, ``307``, ``308``: a
  dictionary or setting that VCL turns into a redirect, like ``mode: "302"``), or
- VCL that makes one: ``error 30x``, ``set resp|obj|beresp.status = 30x``, or anything
  naming ``http.Location`` (a ``Location`` header set in VCL or by a header object).

It errs towards warning: a step that only mentions ``http.Location`` to remove it is
still flagged. Purge steps never are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from cutover.runbook.backends import FastlyStep, StepBase

REDIRECT_STATUSES = frozenset({"301", "302", "303", "307", "308"})
_VCL_REDIRECT = re.compile(
    r"\berror\s+30[12378]\b|\b(?:resp|obj|beresp)\.status\s*=\s*30[12378]\b|\bhttp\.Location\b",
    re.IGNORECASE,
)
#: step fields that say what the step is, not what it writes
_NOT_WRITTEN = {"name", "note", "backend", "service", "sensitive", "kind", "dictionary"}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def writes_redirect(value: str) -> bool:
    return value.strip() in REDIRECT_STATUSES or _VCL_REDIRECT.search(value) is not None


def sets_cdn_redirect(step: StepBase) -> bool:
    """Does this step (a fastly step that is not a purge) set a redirect, as above?"""
    if not isinstance(step, FastlyStep) or step.purge is not None:
        return False
    written = step.model_dump(exclude=_NOT_WRITTEN)
    return any(writes_redirect(value) for value in _strings(written))
