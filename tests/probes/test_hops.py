"""Hop logic against ``httpx.MockTransport``: no network, exact reasons and chains."""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cutover.probes import ProbeRunner, Reason, run_probe
from cutover.runbook.probe_models import ProbeSpec

Handler = Callable[[httpx.Request], httpx.Response]


def redirects(table: dict[str, tuple[int, str | None]], final: bytes = b"ok") -> Handler:
    """Answer each URL in ``table`` with (status, Location); anything else 200 ``final``."""

    def handle(request: httpx.Request) -> httpx.Response:
        key = str(request.url)
        if key in table:
            status, location = table[key]
            headers = {"Location": location} if location is not None else {}
            return httpx.Response(status, headers=headers)
        return httpx.Response(200, content=final, headers={"X-Cache": "HIT"})

    return handle


def probe(handler: Handler, url: str, **fields: Any) -> Any:
    spec = ProbeSpec.model_validate({"url": url, **fields})
    return run_probe(httpx.MockTransport(handler), spec, "unit")


def test_https_to_http_downgrade_is_insecure_redirect() -> None:
    result = probe(redirects({"https://a.test/f": (301, "http://a.test/f")}), "https://a.test/f")
    assert (result.reason, result.status) == (Reason.INSECURE_REDIRECT, 301)
    assert result.detail == "https → http downgrade: https://a.test/f → http://a.test/f"
    assert [h.url for h in result.hops] == ["https://a.test/f"]


def test_http_to_https_upgrade_is_fine() -> None:
    result = probe(redirects({"http://a.test/f": (301, "https://a.test/f")}), "http://a.test/f")
    assert result.reason is Reason.OK
    assert [(h.url, h.status) for h in result.hops] == [
        ("http://a.test/f", 301),
        ("https://a.test/f", 200),
    ]


def test_downgrade_is_found_before_the_loop_it_starts() -> None:
    table = {
        "https://a.test/f": (301, "http://a.test/f"),
        "http://a.test/f": (301, "https://a.test/f"),
    }
    assert probe(redirects(table), "https://a.test/f").reason is Reason.INSECURE_REDIRECT


@pytest.mark.parametrize(
    ("location", "detail"),
    [
        (
            "ftp://a.test/x",
            "refused redirect to scheme 'ftp': ftp://a.test/x (from http://a.test/f)",
        ),
        (
            "file:///etc/passwd",
            "refused redirect to scheme 'file': file:///etc/passwd (from http://a.test/f)",
        ),
        (
            "data:text/html,hi",
            "refused redirect to scheme 'data': data:text/html,hi (from http://a.test/f)",
        ),
    ],
)
def test_refused_schemes(location: str, detail: str) -> None:
    result = probe(redirects({"http://a.test/f": (302, location)}), "http://a.test/f")
    assert (result.reason, result.detail) == (Reason.BAD_REDIRECT, detail)


def test_unusable_location_is_bad_redirect() -> None:
    result = probe(redirects({"http://a.test/f": (302, "http://[::1")}), "http://a.test/f")
    assert result.reason is Reason.BAD_REDIRECT
    assert result.detail.startswith("302 with an unusable Location 'http://[::1': ")


@pytest.mark.parametrize(
    ("base", "location", "expected"),
    [
        ("http://a.test/d/e/f", "g", "http://a.test/d/e/g"),
        ("http://a.test/d/e/f", "../g", "http://a.test/d/g"),
        ("http://a.test/d/e/f", "/g?x=1", "http://a.test/g?x=1"),
        ("http://a.test/d/e/f", "?y=2", "http://a.test/d/e/f?y=2"),
        ("https://a.test/d/e/f", "//b.test/g", "https://b.test/g"),
        ("http://a.test/d/e/f", "HTTP://B.TEST/g", "http://b.test/g"),
    ],
)
def test_relative_locations(base: str, location: str, expected: str) -> None:
    result = probe(redirects({base: (307, location)}), base)
    assert result.reason is Reason.OK
    assert [h.url for h in result.hops] == [base, expected]


def test_every_redirect_status_is_followed_and_300_is_final() -> None:
    for status in (301, 302, 303, 307, 308):
        result = probe(redirects({"http://a.test/f": (status, "/g")}), "http://a.test/f")
        assert [h.status for h in result.hops] == [status, 200]
    result = probe(redirects({"http://a.test/f": (300, "/g")}), "http://a.test/f")
    assert (result.reason, result.status) == (Reason.UNEXPECTED_STATUS, 300)


def test_loop_detected_even_at_max_redirects_zero() -> None:
    result = probe(redirects({"http://a.test/f": (301, "/f")}), "http://a.test/f", max_redirects=0)
    assert (result.reason, result.detail) == (
        Reason.REDIRECT_LOOP,
        "loop of 1 hop(s): http://a.test/f → http://a.test/f",
    )


def test_max_redirects_zero_refuses_any_redirect() -> None:
    result = probe(redirects({"http://a.test/f": (301, "/g")}), "http://a.test/f", max_redirects=0)
    assert (result.reason, result.detail) == (
        Reason.TOO_MANY_REDIRECTS,
        "more than 0 redirect(s), next http://a.test/g",
    )


def test_hop_records_cache_headers() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/f":
            return httpx.Response(
                302,
                headers={"Location": "/g", "X-Served-By": "edge-1", "X-Cache": "MISS", "Age": "3"},
            )
        return httpx.Response(200, content=b"x", headers={"X-Cache": "HIT, HIT", "Age": "12"})

    result = probe(handle, "http://a.test/f")
    first, second = result.hops
    assert (first.location, first.x_served_by, first.x_cache, first.age) == (
        "/g",
        "edge-1",
        "MISS",
        "3",
    )
    assert (second.location, second.x_cache, second.age) == (None, "HIT, HIT", "12")
    assert result.to_dict()["hops"][0]["location"] == "/g"


@pytest.mark.parametrize(
    ("exc", "reason", "detail"),
    [
        (httpx.ConnectTimeout("slow"), Reason.TIMEOUT, "connect timed out (timeout 1s) (a.test)"),
        (httpx.ReadTimeout("slow"), Reason.TIMEOUT, "read timed out (timeout 1s) (a.test)"),
        (httpx.ConnectError("refused"), Reason.CONNECT_ERROR, "cannot connect: refused (a.test)"),
        (
            httpx.RemoteProtocolError("Server disconnected"),
            Reason.TRANSFER_ERROR,
            "RemoteProtocolError: Server disconnected (a.test)",
        ),
    ],
)
def test_transport_errors(exc: Exception, reason: Reason, detail: str) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise exc

    result = probe(handle, "http://a.test/f", timeout=1)
    assert (result.reason, result.detail, result.status) == (reason, detail, None)
    assert [(h.url, h.status) for h in result.hops] == [("http://a.test/f", None)]


def test_tls_failures_are_tls_error() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed: self-signed")
        except ssl.SSLError as cause:
            raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]") from cause

    result = probe(handle, "https://a.test/f")
    assert (result.reason, result.detail) == (
        Reason.TLS_ERROR,
        "TLS failed: [SSL: CERTIFICATE_VERIFY_FAILED] (a.test)",
    )


def test_status_precedes_host_and_hops() -> None:
    handler = redirects({"http://a.test/f": (301, "http://b.test/f")})

    def failing(request: httpx.Request) -> httpx.Response:
        return handler(request) if request.url.host == "a.test" else httpx.Response(503)

    result = probe(failing, "http://a.test/f", expect={"final_host": "a.test", "max_hops": 0})
    assert result.reason is Reason.HTTP_5XX


def test_hops_precede_final_host() -> None:
    result = probe(
        redirects({"http://a.test/f": (301, "http://b.test/f")}),
        "http://a.test/f",
        expect={"final_host": "a.test", "max_hops": 0},
    )
    assert result.reason is Reason.TOO_MANY_REDIRECTS


def test_checksum_precedes_size_and_content_type() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>", headers={"Content-Type": "text/html"})

    good = hashlib.sha256(b"wheel").hexdigest()
    result = probe(
        handle,
        "http://a.test/f",
        expect={"sha256": good, "size": 5, "content_type": "application/zip"},
    )
    assert result.reason is Reason.CHECKSUM_MISMATCH
    result = probe(handle, "http://a.test/f", expect={"size": 5, "content_type": "application/zip"})
    assert result.reason is Reason.SIZE_MISMATCH


def test_slow_is_judged_last() -> None:
    ticks = iter([0.0, 0.0, 0.1, 0.2, 5.0, 5.0, 5.0, 5.0])

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x")

    spec = ProbeSpec.model_validate({"url": "http://a.test/f", "expect": {"latency": 1, "size": 2}})
    result = run_probe(httpx.MockTransport(handle), spec, "u", clock=lambda: next(ticks, 5.0))
    assert result.reason is Reason.SIZE_MISMATCH  # a content failure wins over slowness
    ticks = iter([0.0, 0.0, 0.1, 0.2, 5.0, 5.0, 5.0, 5.0])
    spec = ProbeSpec.model_validate({"url": "http://a.test/f", "expect": {"latency": 1}})
    result = run_probe(httpx.MockTransport(handle), spec, "u", clock=lambda: next(ticks, 5.0))
    assert (result.reason, result.detail) == (Reason.SLOW, "took 5000 ms, budget 1000 ms")


def test_custom_headers_override_and_reach_every_hop() -> None:
    seen: list[tuple[str, str | None, str | None]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(
            (str(request.url), request.headers.get("x-token"), request.headers.get("user-agent"))
        )
        if request.url.path == "/f":
            return httpx.Response(302, headers={"Location": "/g"})
        return httpx.Response(200)

    probe(handle, "http://a.test/f", headers={"X-Token": "abc"}, user_agent="browser")
    assert [s[1] for s in seen] == ["abc", "abc"]
    assert seen[0][2] is not None and seen[0][2].startswith("Mozilla/5.0")


def test_result_is_json_serialisable() -> None:
    result = probe(redirects({"http://a.test/f": (302, "/g")}), "http://a.test/f", name="file f")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["set"] == "unit"
    assert data["name"] == "file f"
    assert data["reason"] == "ok"
    assert data["ok"] is True
    assert data["status"] == 200
    assert [(h["url"], h["status"]) for h in data["hops"]] == [
        ("http://a.test/f", 302),
        ("http://a.test/g", 200),
    ]
    assert data["sha256"] == hashlib.sha256(b"ok").hexdigest()
    assert data["size"] == 2
    assert data["final_url"] == "http://a.test/g"
    assert result.redirects == 1
    assert result.chain() == "http://a.test/f (302) → http://a.test/g (200)"


def test_runner_with_mock_transport_keeps_order_and_calls_back() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        n = int(request.url.path.strip("/"))
        return httpx.Response(200 if n % 3 else 503, content=b"x")

    specs = [("s", ProbeSpec(url=f"http://a.test/{n}")) for n in range(50)]
    seen: list[str] = []
    with ProbeRunner(concurrency=4, transport=httpx.MockTransport(handle)) as runner:
        results = runner.run(specs, on_result=lambda r: seen.append(r.url))
    assert [r.url for r in results] == [f"http://a.test/{n}" for n in range(50)]
    assert sorted(seen) == sorted(r.url for r in results)
    assert [r.reason for r in results[:4]] == [
        Reason.HTTP_5XX,
        Reason.OK,
        Reason.OK,
        Reason.HTTP_5XX,
    ]
