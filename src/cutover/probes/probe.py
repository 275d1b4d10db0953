"""One probe: a synthetic download, redirects followed by hand, one hop at a time.

The chain is judged as it is walked; the first broken hop decides the reason:

- a 3xx (301, 302, 303, 307, 308) without a usable ``Location`` → ``bad_redirect``;
  to a scheme other than http/https → ``bad_redirect`` (refused, never requested);
- https → http → ``insecure_redirect``;
- a URL already requested in this chain → ``redirect_loop`` (the cycle is in the detail);
- more redirects than ``max_redirects`` → ``too_many_redirects``;
- no answer → ``timeout`` / ``connect_error`` / ``tls_error`` / ``transfer_error``.

The final answer is then judged by :mod:`cutover.probes.expect`. Bodies are streamed and
hashed, never held (only up to :data:`BODY_KEEP` bytes are kept when a body pattern is
expected). ``timeout`` bounds a whole attempt, every hop and the body included.

Requests go straight to an httpx transport, not through ``httpx.Client.send``: the client
would build a follow-up request for every 3xx even with redirects off (and raise on a
``javascript:`` Location before we could judge it), keep cookies across probes, and cost
time on every hop.
"""

from __future__ import annotations

import hashlib
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from cutover.probes.expect import Failure, judge_chain, judge_content, judge_latency, judge_status
from cutover.probes.result import Hop, ProbeResult
from cutover.reasons import Reason
from cutover.runbook.probe_models import ProbeSpec

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DRAIN_LIMIT = 64 * 1024  #: body bytes read from a redirect or error answer (keeps the connection)
BODY_KEEP = 1024 * 1024  #: body bytes kept to match ``expect.body`` against
CACHE_BUST_PARAM = "cutover"
#: Sent with every request (a probe's ``headers`` override them). ``identity``: the digest
#: is of the bytes as stored, as pip computes it. No cookies are kept, not even in a chain.
BASE_HEADERS = {"Accept": "*/*", "Accept-Encoding": "identity"}
_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class _Outcome:
    reason: Reason
    detail: str
    hops: tuple[Hop, ...]
    status: int | None
    sha256: str | None = None
    size: int | None = None
    elapsed: float = 0.0


def run_probe(
    transport: httpx.BaseTransport,
    spec: ProbeSpec,
    set_name: str = "",
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> ProbeResult:
    """Probe ``spec`` through ``transport`` (requests go to it directly, one hop each).

    With ``retries: N`` a failed attempt is tried again, up to N more times; a pass after a
    retry is ``flaky``. When every attempt fails, the first failure is reported.
    """
    first: _Outcome | None = None
    total = spec.retries + 1
    outcome: _Outcome | None = None
    for attempt in range(1, total + 1):
        outcome = _attempt(transport, spec, clock)
        if outcome.reason is Reason.OK:
            if first is not None:
                detail = (
                    f"passed on attempt {attempt} of {total}; attempt 1 failed: "
                    f"{first.reason.value}: {first.detail}"
                )
                return _result(spec, set_name, outcome, attempt, Reason.FLAKY, detail)
            return _result(spec, set_name, outcome, attempt)
        if first is None:
            first = outcome
    assert first is not None and outcome is not None
    detail = first.detail
    if total > 1:
        detail += f" (failed all {total} attempts; last: {outcome.reason.value})"
    return _result(spec, set_name, first, total, first.reason, detail)


def _result(
    spec: ProbeSpec,
    set_name: str,
    outcome: _Outcome,
    attempts: int,
    reason: Reason | None = None,
    detail: str | None = None,
) -> ProbeResult:
    reason = reason or outcome.reason
    return ProbeResult(
        set=set_name,
        name=spec.name or spec.url,
        url=spec.url,
        ok=reason.passed,
        reason=reason,
        detail=outcome.detail if detail is None else detail,
        status=outcome.status,
        hops=outcome.hops,
        sha256=outcome.sha256,
        sha256_match=_digest_match(spec, outcome.sha256),
        size=outcome.size,
        elapsed_ms=outcome.elapsed * 1000.0,
        attempts=attempts,
        method=spec.method,
    )


def _digest_match(spec: ProbeSpec, sha256: str | None) -> bool | None:
    """Did the body's digest match the expected one (None: none expected, or not read)?"""
    expected = spec.expect.sha256
    return None if expected is None or sha256 is None else sha256 == expected.lower()


def first_url(spec: ProbeSpec) -> httpx.URL:
    """The URL of the first hop: with a unique ``cutover=`` parameter when cache-busting."""
    url = httpx.URL(spec.url)
    if spec.cache_bust:
        url = url.copy_merge_params({CACHE_BUST_PARAM: uuid.uuid4().hex})
    return url


def _attempt(
    transport: httpx.BaseTransport, spec: ProbeSpec, clock: Callable[[], float]
) -> _Outcome:
    start = clock()
    deadline = start + spec.timeout
    hops: list[Hop] = []
    seen: dict[str, int] = {}
    headers = {**BASE_HEADERS, "User-Agent": spec.user_agent_header, **spec.headers}

    def fail(reason: Reason, detail: str, status: int | None = None) -> _Outcome:
        return _Outcome(reason, detail, tuple(hops), status, elapsed=clock() - start)

    try:
        url = first_url(spec)
    except httpx.InvalidURL as exc:
        return fail(Reason.BAD_REDIRECT, f"unusable first URL {spec.url!r}: {exc}")
    # Bounded: each pass requests one URL; a pass that does not return follows a redirect,
    # and more than max_redirects of those returns too_many_redirects.
    for _ in range(spec.max_redirects + 1):
        key = str(url)
        seen[key] = len(hops)
        remaining = deadline - clock()
        if remaining <= 0:
            return fail(Reason.TIMEOUT, f"no answer within {spec.timeout:g}s (before {key})")
        sent = clock()
        try:
            request = httpx.Request(
                spec.method,
                url,
                headers=headers,
                extensions={"timeout": httpx.Timeout(remaining).as_dict()},
            )
            response = transport.handle_request(request)
        except httpx.HTTPError as exc:
            hops.append(Hop(key, None, elapsed_ms=(clock() - sent) * 1000.0))
            reason, detail = transport_failure(exc, spec.timeout)
            return fail(reason, f"{detail} ({url.host})")
        try:
            status = response.status_code
            location = response.headers.get("location")
            hops.append(
                Hop(
                    key,
                    status,
                    location,
                    response.headers.get("x-cache"),
                    response.headers.get("x-served-by"),
                    response.headers.get("age"),
                    (clock() - sent) * 1000.0,
                )
            )
            if status not in REDIRECT_STATUSES:
                return _final(response, spec, hops, url, start, deadline, clock)
            _drain(response)
            target = _follow(url, status, location, hops, seen, spec.max_redirects)
            if isinstance(target, tuple):
                return fail(target[0], target[1], status)
            url = target
        finally:
            response.close()
    raise AssertionError("unreachable: the redirect cap returns inside the loop")


def _follow(
    url: httpx.URL,
    status: int,
    location: str | None,
    hops: list[Hop],
    seen: dict[str, int],
    max_redirects: int,
) -> httpx.URL | Failure:
    """The next URL of a redirect, or why it must not be followed."""
    if location is None or not location.strip():
        return Reason.BAD_REDIRECT, f"{status} without a Location header from {url}"
    try:
        target = url.join(location.strip())
    except httpx.InvalidURL as exc:
        return Reason.BAD_REDIRECT, f"{status} with an unusable Location {location!r}: {exc}"
    if target.scheme not in _SCHEMES:
        return (
            Reason.BAD_REDIRECT,
            f"refused redirect to scheme {target.scheme!r}: {location} (from {url})",
        )
    if not target.host:
        return Reason.BAD_REDIRECT, f"{status} with a Location without a host: {location!r}"
    if url.scheme == "https" and target.scheme == "http":
        return Reason.INSECURE_REDIRECT, f"https → http downgrade: {url} → {target}"
    key = str(target)
    if key in seen:
        cycle = [hop.url for hop in hops[seen[key] :]] + [key]
        return Reason.REDIRECT_LOOP, f"loop of {len(cycle) - 1} hop(s): " + " → ".join(cycle)
    if len(hops) > max_redirects:
        return (
            Reason.TOO_MANY_REDIRECTS,
            f"more than {max_redirects} redirect(s), next {target}",
        )
    return target


def _final(
    response: httpx.Response,
    spec: ProbeSpec,
    hops: list[Hop],
    url: httpx.URL,
    start: float,
    deadline: float,
    clock: Callable[[], float],
) -> _Outcome:
    status = response.status_code
    expect = spec.expect
    chain = tuple(hops)

    def outcome(
        failure: Failure | None,
        sha: str | None = None,
        size: int | None = None,
        elapsed: float | None = None,
    ) -> _Outcome:
        reason, detail = failure if failure is not None else (Reason.OK, "")
        took = clock() - start if elapsed is None else elapsed
        return _Outcome(reason, detail, chain, status, sha, size, took)

    failure = judge_status(expect, status, url)
    if failure is None:
        failure = judge_chain(expect, [hop.url for hop in hops], url)
    if failure is not None:
        _drain(response)
        return outcome(failure)
    declared = _content_length(response)
    if declared is False:
        return outcome(
            (
                Reason.TRANSFER_ERROR,
                f"invalid Content-Length header {response.headers.get('content-length')!r}",
            )
        )
    if spec.method == "HEAD":
        size = declared if isinstance(declared, int) else None
        elapsed = clock() - start
        failure = judge_content(
            expect, headers=response.headers, sha256=None, size=size, text=None
        ) or judge_latency(expect, elapsed)
        return outcome(failure, None, size, elapsed)
    if isinstance(declared, int) and declared > spec.max_bytes:
        return outcome(
            (
                Reason.TOO_LARGE,
                f"Content-Length {declared} is over the cap of {spec.max_bytes} bytes",
            )
        )
    body = _read_body(response, spec, declared, deadline, clock)
    if body.failure is not None:
        return outcome(body.failure, size=body.size)
    elapsed = clock() - start
    failure = judge_content(
        expect, headers=response.headers, sha256=body.sha, size=body.size, text=body.text
    )
    return outcome(failure or judge_latency(expect, elapsed), body.sha, body.size, elapsed)


@dataclass(frozen=True, slots=True)
class _Body:
    """What reading a body found: its size, digest and kept text, or why reading it failed
    (with the size to report: None when it went over the cap)."""

    size: int | None
    sha: str | None = None
    text: str | None = None
    failure: Failure | None = None


def _read_body(
    response: httpx.Response,
    spec: ProbeSpec,
    declared: int | None,
    deadline: float,
    clock: Callable[[], float],
) -> _Body:
    """Stream the body within the size cap and the deadline: its SHA-256, and its first
    :data:`BODY_KEEP` bytes as text when the expectations look at the body."""
    digest = hashlib.sha256()
    size = 0
    keep: bytearray | None = bytearray() if spec.expect.body is not None else None
    try:
        for chunk in raw_chunks(response):
            size += len(chunk)
            if size > spec.max_bytes:
                return _Body(
                    None, failure=(Reason.TOO_LARGE, f"body over the cap of {spec.max_bytes} bytes")
                )
            digest.update(chunk)
            if keep is not None and len(keep) < BODY_KEEP:
                keep += chunk[: BODY_KEEP - len(keep)]
            if clock() > deadline:
                return _Body(
                    size,
                    failure=(
                        Reason.TIMEOUT,
                        f"body not complete within {spec.timeout:g}s ({size} bytes read)",
                    ),
                )
    except httpx.HTTPError as exc:
        reason, detail = transport_failure(exc, spec.timeout)
        if reason is Reason.TRANSFER_ERROR:
            detail = (
                f"body cut short after {size} bytes"
                + (f" of {declared}" if isinstance(declared, int) else "")
                + f": {detail}"
            )
        return _Body(size, failure=(reason, detail))
    if isinstance(declared, int) and size != declared:
        return _Body(
            size,
            failure=(
                Reason.TRANSFER_ERROR,
                f"Content-Length {declared} but the body had {size} bytes",
            ),
        )
    text = keep.decode("utf-8", errors="replace") if keep is not None else None
    return _Body(size, digest.hexdigest(), text)


def raw_chunks(response: httpx.Response) -> Iterator[bytes]:
    """The body as sent (no decoding), streamed; a response already read (an
    ``httpx.MockTransport`` answer built from bytes) yields its content at once."""
    if response.is_stream_consumed:
        yield response.content
    else:
        yield from response.iter_raw()


def _content_length(response: httpx.Response) -> int | bool | None:
    """The declared body size; None when absent, False when unparseable."""
    raw = response.headers.get("content-length")
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return False
    return value if value >= 0 else False


def _drain(response: httpx.Response) -> None:
    """Read a small body so the connection can be reused; give up quietly on a large one."""
    read = 0
    try:
        for chunk in raw_chunks(response):
            read += len(chunk)
            if read > DRAIN_LIMIT:
                return
    except httpx.HTTPError:
        return


def transport_failure(exc: httpx.HTTPError, timeout: float) -> Failure:
    """The reason for an exception raised while sending or reading."""
    if isinstance(exc, httpx.TimeoutException):
        what = {
            httpx.ConnectTimeout: "connect",
            httpx.ReadTimeout: "read",
            httpx.WriteTimeout: "write",
            httpx.PoolTimeout: "pool",
        }.get(type(exc), "request")
        return Reason.TIMEOUT, f"{what} timed out (timeout {timeout:g}s)"
    if isinstance(exc, httpx.ConnectError):
        if _caused_by_tls(exc):
            return Reason.TLS_ERROR, f"TLS failed: {exc}"
        return Reason.CONNECT_ERROR, f"cannot connect: {exc}"
    return Reason.TRANSFER_ERROR, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _caused_by_tls(exc: BaseException) -> bool:
    current: BaseException | None = exc
    for _ in range(10):  # bounded walk of the cause chain
        if current is None:
            return False
        if isinstance(current, ssl.SSLError):
            return True
        current = current.__cause__ or current.__context__
    return False
