"""Probe outcome reasons: every probe result has exactly one.

This is the documented enum (``docs/probes.md`` lists each with its meaning). It lives on
its own, with no imports, so the runbook models, the probes, the guards and the reports
all share one home for the names.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    OK = "ok"  #: every expectation held on the first attempt
    FLAKY = "flaky"  #: passed, but only after a retry (never reported as a plain pass)
    REDIRECT_LOOP = "redirect_loop"  #: a URL was seen twice in one chain
    TOO_MANY_REDIRECTS = "too_many_redirects"  #: more hops than allowed, no repeat
    BAD_REDIRECT = "bad_redirect"  #: a 3xx without a usable Location, or to a refused scheme
    INSECURE_REDIRECT = "insecure_redirect"  #: an https → http downgrade
    HTTP_4XX = "http_4xx"  #: the final answer was a 4xx that was not expected
    HTTP_5XX = "http_5xx"  #: the final answer was a 5xx that was not expected
    UNEXPECTED_STATUS = "unexpected_status"  #: another status outside the expected set
    TIMEOUT = "timeout"  #: no answer (connect, read or total) within the timeout
    CONNECT_ERROR = "connect_error"  #: the connection could not be made
    TLS_ERROR = "tls_error"  #: TLS handshake or certificate verification failed
    TRANSFER_ERROR = "transfer_error"  #: body cut short, or Content-Length disagrees
    TOO_LARGE = "too_large"  #: the body exceeded the probe's size cap
    CHECKSUM_MISMATCH = "checksum_mismatch"  #: sha256 of the body differs from expected
    SIZE_MISMATCH = "size_mismatch"  #: body size differs from expected
    WRONG_FINAL_HOST = "wrong_final_host"  #: the chain ended on another host or URL
    CONTENT_MISMATCH = "content_mismatch"  #: content type, header or body pattern failed
    SLOW = "slow"  #: everything held, but over the latency budget

    @property
    def passed(self) -> bool:
        return self in (Reason.OK, Reason.FLAKY)


#: Reasons that fail a stage on their first occurrence, by default.
ZERO_TOLERANCE_DEFAULT: tuple[Reason, ...] = (
    Reason.REDIRECT_LOOP,
    Reason.CHECKSUM_MISMATCH,
    Reason.WRONG_FINAL_HOST,
    Reason.INSECURE_REDIRECT,
)
