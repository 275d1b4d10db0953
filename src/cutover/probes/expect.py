"""Judging a final answer against a probe's expectations, in the documented precedence.

Each function returns ``None`` when its expectations hold, or the failing
``(reason, detail)``. :mod:`cutover.probes.probe` calls them in this order (the first
failure wins; ``docs/probes.md`` lists the whole precedence):

1. :func:`judge_status`  → ``http_4xx`` / ``http_5xx`` / ``unexpected_status``
2. :func:`judge_chain`   → ``too_many_redirects`` (``max_hops``), ``wrong_final_host``
3. (the body transfer)   → ``too_large``, ``timeout``, ``transfer_error``
4. :func:`judge_content` → ``checksum_mismatch``, ``size_mismatch``, ``content_mismatch``
5. :func:`judge_latency` → ``slow``
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import httpx

from cutover.reasons import Reason
from cutover.runbook.probe_models import Expect

Failure = tuple[Reason, str]


def status_reason(status: int) -> Reason:
    """The reason of an unexpected final status."""
    if 400 <= status < 500:
        return Reason.HTTP_4XX
    if status >= 500:
        return Reason.HTTP_5XX
    return Reason.UNEXPECTED_STATUS


def judge_status(expect: Expect, status: int, url: httpx.URL) -> Failure | None:
    if status in expect.status:
        return None
    wanted = ", ".join(str(s) for s in expect.status)
    return status_reason(status), f"{status} from {url.host}, expected {wanted}"


def judge_chain(expect: Expect, chain: Sequence[str], final: httpx.URL) -> Failure | None:
    """``chain`` is every URL requested, the final one last."""
    redirects = len(chain) - 1
    if expect.max_hops is not None and redirects > expect.max_hops:
        return (
            Reason.TOO_MANY_REDIRECTS,
            f"{redirects} redirect(s), expected at most {expect.max_hops}: " + " → ".join(chain),
        )
    if expect.final_host and final.host.lower() not in {h.lower() for h in expect.final_host}:
        wanted = " or ".join(expect.final_host)
        return Reason.WRONG_FINAL_HOST, f"ended on {final.host}, expected {wanted}"
    if expect.final_url is not None and not re.search(expect.final_url, str(final)):
        return Reason.WRONG_FINAL_HOST, f"final URL {final} does not match {expect.final_url!r}"
    return None


def judge_content(
    expect: Expect,
    *,
    headers: httpx.Headers,
    sha256: str | None,
    size: int | None,
    text: str | None,
) -> Failure | None:
    """Digest, size, then content type, headers and the body pattern.

    ``sha256`` is None for HEAD (no body): the digest is then not judged, and ``size`` is
    the Content-Length header.
    """
    if expect.sha256 is not None and sha256 is not None and sha256 != expect.sha256.lower():
        extra = f"; size {size}, expected {expect.size}" if expect.size not in (None, size) else ""
        return Reason.CHECKSUM_MISMATCH, f"sha256 {sha256}, expected {expect.sha256.lower()}{extra}"
    if expect.size is not None and size != expect.size:
        return Reason.SIZE_MISMATCH, f"{size} bytes, expected {expect.size}"
    if expect.content_type is not None:
        got = headers.get("content-type", "")
        if not got.lower().startswith(expect.content_type.lower()):
            return (
                Reason.CONTENT_MISMATCH,
                f"Content-Type {got or '(none)'!r}, expected {expect.content_type!r}",
            )
    for name in expect.header_present:
        if name not in headers:
            return Reason.CONTENT_MISMATCH, f"header {name} is missing"
    for name in expect.header_absent:
        if name in headers:
            return Reason.CONTENT_MISMATCH, f"header {name} is present"
    for name, pattern in expect.header_matches.items():
        value = headers.get(name)
        if value is None or not re.search(pattern, value):
            shown = "missing" if value is None else repr(value)
            return Reason.CONTENT_MISMATCH, f"header {name} {shown} does not match {pattern!r}"
    if expect.body is not None and text is not None and not re.search(expect.body, text):
        return Reason.CONTENT_MISMATCH, f"body does not match {expect.body!r}"
    return None


def judge_latency(expect: Expect, elapsed: float) -> Failure | None:
    if expect.latency is not None and elapsed > expect.latency:
        return Reason.SLOW, f"took {elapsed * 1000:.0f} ms, budget {expect.latency * 1000:.0f} ms"
    return None
