"""Failed probes as terminal text, the same in the live view, the plain lines and ``show``.

One list per probe round: the first :data:`SHOWN_FAILURES` failures, each with its chain,
then ``… and N more failed probes in this round`` (N counts every failure of the round,
not only those the journal kept). Long URLs keep their host and their last path segment
and lose the middle (``http://files.example/packages/2f/…/pkg-1.0.whl``); the probes'
cache-busting parameter is left out; a chain too long for one line goes one hop a line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

SHOWN_FAILURES = 5  #: failed probes shown per round (the journal and the report keep them all)
URL_WIDTH = 72  #: a URL longer than this loses the middle of its path
LINE_WIDTH = 110  #: a chain longer than this goes one hop a line

_CACHE_BUSTER = re.compile(r"[?&]cutover=[0-9a-f]{8,}(?=$|[&#\s)])")
_URL = re.compile(r"https?://[^\s)'\"]+")


def elide_url(url: str, width: int = URL_WIDTH) -> str:
    """``url`` without the cache-busting parameter; past ``width``, the middle of its path
    becomes ``…`` (the host and the last segment stay whole unless one alone is too long)."""
    url = _CACHE_BUSTER.sub("", url)
    if len(url) <= width:
        return url
    parts = urlsplit(url)
    head = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    segments = parts.path.split("/")
    tail = segments[-1] + (f"?{parts.query}" if parts.query else "")
    for shortened in (f"{head}{'/'.join(segments[:2])}/…/{tail}", f"{head}/…/{tail}"):
        if len(shortened) <= width:
            return shortened
    if len(tail) <= width:
        return f"{head}/…/{tail}"
    half = width // 2
    return f"{head}/…/{tail[:half]}…{tail[-half:]}"


def elide_urls(text: str, width: int = URL_WIDTH, *, hosts_only: bool = False) -> str:
    """Every URL in ``text`` shortened as :func:`elide_url` does, or to its host alone
    (``hosts_only``: when the chain below shows every URL in full)."""

    def short(match: re.Match[str]) -> str:
        url = match.group(0)
        return urlsplit(url).netloc or url if hosts_only else elide_url(url, width)

    return _URL.sub(short, text)


def reasons_text(reasons: Mapping[str, Any]) -> str:
    """Each reason but ``ok`` with its count (``redirect_loop ×16``), or empty text."""  # noqa: RUF002
    return ", ".join(f"{k} ×{v}" for k, v in sorted(reasons.items()) if k != "ok")


def chain_lines(hops: Sequence[Mapping[str, Any]], limit: int = 8) -> list[str]:
    """``302 URL → 301 URL → 200 URL`` on one line if it fits, else one hop a line;
    shortened past ``limit`` hops."""
    parts = [f"{h.get('status') or 'no answer'} {elide_url(str(h.get('url', '?')))}" for h in hops]
    if len(parts) > limit:
        parts = [*parts[: limit - 2], f"… {len(parts) - limit + 1} more …", parts[-1]]
    line = " → ".join(parts)
    if len(line) <= LINE_WIDTH:
        return [line]
    return [parts[0], *(f"→ {part}" for part in parts[1:])]


def failure_lines(
    failures: Sequence[Mapping[str, Any]], total: int | None = None, indent: str = "      "
) -> Iterator[str]:
    """The first :data:`SHOWN_FAILURES` of a round's failures with their chains, then how
    many more there were (``total``: every failure of the round, when known)."""
    for failure in failures[:SHOWN_FAILURES]:
        hops = failure.get("hops") or []
        detail = str(failure.get("detail") or "")
        detail = f" ({elide_urls(detail, hosts_only=bool(hops))})" if detail else ""
        url = elide_url(str(failure.get("url")))
        yield f"{indent}✗ [{failure.get('set')}] {url}: {failure.get('reason')}{detail}"
        for line in chain_lines(hops):
            yield f"{indent}  {line}"
    more = max(total if total is not None else 0, len(failures)) - SHOWN_FAILURES
    if more > 0:
        yield f"{indent}… and {more} more failed probes in this round"
