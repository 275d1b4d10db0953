"""Calls to a control-plane HTTP API, with bounded, logged retries of transient failures.

Transient: a 5xx, 429, a timeout, a reset connection: retried with tenacity (exponential
back-off with jitter, bounded in attempts and in total time), each retry logged. A 4xx is
a refusal: raised at once as :class:`~cutover.errors.RejectedActionError` with the API's
message, never retried. Nothing here logs a request header, so tokens stay out of logs.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from cutover.errors import RejectedActionError, TransientActionError
from cutover.log import get_logger
from cutover.secrets import clip

MESSAGE_CHARS = 200  #: how much of an API's error body a message quotes

MAX_RETRY_SECONDS = 30.0  #: a call never retries for longer than this in total


class ControlPlane:
    """A small API client: base URL, auth headers, timeouts, retry policy."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        retries: int = 4,
        name: str = "api",
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,  #: TLS verification (a context for a CA bundle)
    ) -> None:
        self.name = name
        self.retries = retries
        try:
            self._client = httpx.Client(
                base_url=base_url.rstrip("/"),
                headers={"Accept": "application/json", **dict(headers or {})},
                timeout=timeout,
                transport=transport,
                verify=verify,
            )
        except UnicodeEncodeError:  # the message names no value: it may be a token
            raise RejectedActionError(
                f"{name}: a request header (the token?) holds a character that is not ASCII",
                hint="check the secret's value for a stray or non-ASCII character",
            ) from None
        self._log = get_logger("cutover.control")

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        missing_ok: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one call (with retries); the decoded JSON body, or None for a tolerated 404.
        ``headers`` are added to this call's (``Fastly-Soft-Purge``, say)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1) | stop_after_delay(MAX_RETRY_SECONDS),
            wait=wait_exponential(multiplier=0.1, max=2.0) + wait_random(0, 0.1),
            retry=retry_if_exception_type(TransientActionError),
            before_sleep=self._log_retry,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._once(method, path, json, data, params, missing_ok, headers)
        raise AssertionError("unreachable")  # pragma: no cover  (reraise=True)

    def _once(
        self,
        method: str,
        path: str,
        json: Any,
        data: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        missing_ok: bool,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        where = f"{method} {path}"
        try:
            response = self._client.request(
                method, path, json=json, data=data, params=params, headers=headers
            )
        except httpx.TimeoutException:
            raise TransientActionError(f"{self.name}: {where} timed out") from None
        except httpx.TransportError as exc:
            raise TransientActionError(f"{self.name}: {where} failed: {exc}") from None
        status = response.status_code
        if status == 404 and missing_ok:
            return None
        if status >= 500 or status == 429:
            raise TransientActionError(f"{self.name}: {where} answered {status}")
        if status >= 400:
            raise RejectedActionError(
                f"{self.name}: {where} refused: {status} {_message(response)}", status=status
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientActionError(f"{self.name}: {where}: the answer is not JSON") from None

    def _log_retry(self, state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome else None
        self._log.warning(
            "control-plane call failed; retrying",
            api=self.name,
            attempt=state.attempt_number,
            of=self.retries + 1,
            error=str(error),
        )


def _message(response: httpx.Response) -> str:
    """Fastly-style errors carry ``msg`` and ``detail``; otherwise the first of the body.
    Redacted before it is cut, so a token the API echoes near the cut leaves nothing."""
    try:
        body = response.json()
    except ValueError:
        return clip(response.text, MESSAGE_CHARS)
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("msg", "detail", "message", "error") if body.get(k)]
        if parts:
            return clip(": ".join(parts), MESSAGE_CHARS)
    return clip(str(body), MESSAGE_CHARS)
