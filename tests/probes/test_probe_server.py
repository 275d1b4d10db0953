"""Every misbehaviour of a real loopback server, each with its exact reason (and chain)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cutover.probes import ProbeRunner, Reason
from cutover.runbook.probe_models import ProbeSpec
from cutover.testing import free_port
from cutover.testing import probe_server as ps


def urls(result: Any) -> list[str]:
    return [hop.url for hop in result.hops]


def statuses(result: Any) -> list[int | None]:
    return [hop.status for hop in result.hops]


def test_healthy_download_is_ok_with_digest_size_and_cache_headers(probe: Any) -> None:
    result = probe("http://a.test/file", expect={"sha256": ps.BODY_SHA256, "size": len(ps.BODY)})
    assert (result.ok, result.reason, result.status) == (True, Reason.OK, 200)
    assert result.sha256 == ps.BODY_SHA256
    assert result.size == len(ps.BODY)
    assert result.detail == ""
    assert result.attempts == 1
    (hop,) = result.hops
    assert (hop.url, hop.status, hop.x_cache, hop.x_served_by, hop.age) == (
        "http://a.test/file",
        200,
        "MISS, MISS",
        "edge-a.test, shield-a.test",
        "0",
    )


@pytest.mark.parametrize(
    ("path", "chain", "cycle"),
    [
        (
            "/loop1",
            ["http://a.test/loop1"],
            "loop of 1 hop(s): http://a.test/loop1 → http://a.test/loop1",
        ),
        (
            "/loop2",
            ["http://a.test/loop2", "http://b.test/loop2"],
            "loop of 2 hop(s): http://a.test/loop2 → http://b.test/loop2 → http://a.test/loop2",
        ),
        (
            "/loop3",
            ["http://a.test/loop3", "http://b.test/loop3", "http://c.test/loop3"],
            "loop of 3 hop(s): http://a.test/loop3 → http://b.test/loop3 → http://c.test/loop3"
            " → http://a.test/loop3",
        ),
    ],
)
def test_redirect_loops_across_hostnames(
    probe: Any, path: str, chain: list[str], cycle: str
) -> None:
    result = probe(f"http://a.test{path}")
    assert (result.ok, result.reason) == (False, Reason.REDIRECT_LOOP)
    assert urls(result) == chain
    assert result.detail == cycle
    assert result.status in (301, 302)


def test_loop_is_found_after_a_cache_busted_first_hop(probe: Any) -> None:
    # The first URL carries ?cutover=…; the loop comes back without it and repeats later.
    result = probe("http://a.test/loop2", cache_bust=True)
    assert result.reason is Reason.REDIRECT_LOOP
    assert re.fullmatch(r"http://a\.test/loop2\?cutover=[0-9a-f]{32}", result.hops[0].url)
    assert result.detail == (
        "loop of 2 hop(s): http://b.test/loop2 → http://a.test/loop2 → http://b.test/loop2"
    )
    assert result.url == "http://a.test/loop2"


def test_endless_never_repeating_redirects(probe: Any) -> None:
    result = probe("http://a.test/endless/0", max_redirects=5)
    assert result.reason is Reason.TOO_MANY_REDIRECTS
    assert urls(result) == [f"http://a.test/endless/{n}" for n in range(6)]
    assert result.detail == "more than 5 redirect(s), next http://a.test/endless/6"


@pytest.mark.parametrize("path", ["/no-location", "/empty-location"])
def test_redirect_without_location(probe: Any, path: str) -> None:
    result = probe(f"http://a.test{path}")
    assert result.reason is Reason.BAD_REDIRECT
    assert result.detail.endswith(f"without a Location header from http://a.test{path}")


def test_404_after_a_redirect(probe: Any) -> None:
    result = probe("http://a.test/to-404")
    assert (result.reason, result.status) == (Reason.HTTP_4XX, 404)
    assert urls(result) == ["http://a.test/to-404", "http://b.test/gone"]
    assert statuses(result) == [301, 404]
    assert result.detail == "404 from b.test, expected 200"


def test_expected_404_is_ok(probe: Any) -> None:
    result = probe("http://a.test/gone", expect={"status": 404, "max_hops": 0})
    assert (result.ok, result.reason, result.status) == (True, Reason.OK, 404)


def test_503(probe: Any) -> None:
    result = probe("http://a.test/503")
    assert (result.reason, result.status, result.detail) == (
        Reason.HTTP_5XX,
        503,
        "503 from a.test, expected 200",
    )


def test_other_unexpected_status(probe: Any) -> None:
    assert probe("http://a.test/204").reason is Reason.UNEXPECTED_STATUS
    assert probe("http://a.test/418").reason is Reason.HTTP_4XX


def test_wrong_bytes_is_checksum_mismatch(probe: Any) -> None:
    result = probe(
        "http://a.test/wrong-bytes", expect={"sha256": ps.BODY_SHA256, "size": len(ps.BODY)}
    )
    assert result.reason is Reason.CHECKSUM_MISMATCH
    assert result.detail == f"sha256 {ps.sha(ps.WRONG)}, expected {ps.BODY_SHA256}"


def test_html_error_page_with_200_is_checksum_mismatch(probe: Any) -> None:
    result = probe(
        "http://a.test/html-error", expect={"sha256": ps.BODY_SHA256, "size": len(ps.BODY)}
    )
    assert (result.reason, result.status) == (Reason.CHECKSUM_MISMATCH, 200)
    assert result.detail.endswith(f"; size {len(ps.HTML_ERROR)}, expected {len(ps.BODY)}")


def test_html_error_page_without_digest_is_content_or_size_mismatch(probe: Any) -> None:
    by_type = probe("http://a.test/html-error", expect={"content_type": "application/octet-stream"})
    assert by_type.reason is Reason.CONTENT_MISMATCH
    assert by_type.detail == (
        "Content-Type 'text/html; charset=utf-8', expected 'application/octet-stream'"
    )
    by_size = probe("http://a.test/html-error", expect={"size": len(ps.BODY)})
    assert (by_size.reason, by_size.detail) == (
        Reason.SIZE_MISMATCH,
        f"{len(ps.HTML_ERROR)} bytes, expected {len(ps.BODY)}",
    )


def test_truncated_chunked_body_is_transfer_error(probe: Any) -> None:
    result = probe("http://a.test/truncated")
    assert (result.reason, result.status) == (Reason.TRANSFER_ERROR, 200)
    assert result.detail.startswith("body cut short after 1100 bytes: RemoteProtocolError")
    assert result.sha256 is None


def test_content_length_larger_than_body_is_transfer_error(probe: Any) -> None:
    result = probe("http://a.test/short")
    assert result.reason is Reason.TRANSFER_ERROR
    assert result.detail.startswith(
        f"body cut short after {len(ps.BODY) // 2} bytes of {len(ps.BODY)}"
    )


def test_server_that_never_answers_is_timeout(probe: Any) -> None:
    result = probe("http://a.test/hang", timeout=0.3)
    assert (result.reason, result.status) == (Reason.TIMEOUT, None)
    assert result.detail == "read timed out (timeout 0.3s) (a.test)"
    assert statuses(result) == [None]


def test_body_that_stops_arriving_is_timeout(probe: Any) -> None:
    result = probe("http://a.test/hang-body", timeout=0.3)
    assert (result.reason, result.status) == (Reason.TIMEOUT, 200)


def test_connection_refused_is_connect_error() -> None:
    port = free_port()
    with ProbeRunner(resolve={"down.test": f"127.0.0.1:{port}"}, concurrency=1) as runner:
        result = runner.probe(ProbeSpec(url="http://down.test/file", timeout=2.0), "t")
    assert (result.reason, result.status) == (Reason.CONNECT_ERROR, None)
    assert result.detail.startswith("cannot connect: ")
    assert result.detail.endswith("(down.test)")
    assert urls(result) == ["http://down.test/file"]


@pytest.mark.parametrize(("path", "scheme"), [("/to-ftp", "ftp"), ("/to-javascript", "javascript")])
def test_redirect_to_other_schemes_is_refused(probe: Any, path: str, scheme: str) -> None:
    result = probe(f"http://a.test{path}")
    assert result.reason is Reason.BAD_REDIRECT
    assert result.detail.startswith(f"refused redirect to scheme {scheme!r}: ")
    assert urls(result) == [f"http://a.test{path}"]  # never requested


def test_over_the_size_cap_is_too_large(probe: Any) -> None:
    declared = probe("http://a.test/big", max_bytes=1024 * 1024)
    assert (declared.reason, declared.detail) == (
        Reason.TOO_LARGE,
        "Content-Length 2097152 is over the cap of 1048576 bytes",
    )
    streamed = probe("http://a.test/big-chunked", max_bytes=1024 * 1024)
    assert (streamed.reason, streamed.detail) == (
        Reason.TOO_LARGE,
        "body over the cap of 1048576 bytes",
    )


def test_over_the_latency_budget_is_slow(probe: Any) -> None:
    result = probe("http://a.test/slow", expect={"latency": "100ms", "sha256": ps.BODY_SHA256})
    assert (result.ok, result.reason) == (False, Reason.SLOW)
    assert result.detail.endswith("budget 100 ms")
    assert result.sha256 == ps.BODY_SHA256


def test_wrong_final_host(probe: Any) -> None:
    result = probe("http://a.test/to-b", expect={"final_host": "a.test"})
    assert (result.reason, result.detail) == (
        Reason.WRONG_FINAL_HOST,
        "ended on b.test, expected a.test",
    )
    assert urls(result) == ["http://a.test/to-b", "http://b.test/file"]
    by_url = probe("http://a.test/to-b", expect={"final_url": r"^http://a\.test/"})
    assert by_url.reason is Reason.WRONG_FINAL_HOST
    assert probe("http://a.test/to-b", expect={"final_host": ["a.test", "b.test"]}).ok


def test_max_hops_expectation(probe: Any) -> None:
    result = probe("http://a.test/to-b", expect={"max_hops": 0})
    assert result.reason is Reason.TOO_MANY_REDIRECTS
    assert (
        result.detail
        == "1 redirect(s), expected at most 0: http://a.test/to-b → http://b.test/file"
    )


def test_pass_after_a_retry_is_flaky(probe: Any) -> None:
    result = probe("http://a.test/flaky/one", retries=2)
    assert (result.ok, result.reason, result.attempts) == (True, Reason.FLAKY, 2)
    assert result.detail == (
        "passed on attempt 2 of 3; attempt 1 failed: http_5xx: 503 from a.test, expected 200"
    )


def test_no_silent_retries(probe: Any, server: Any) -> None:
    result = probe("http://a.test/flaky/two")
    assert (result.ok, result.reason, result.attempts) == (False, Reason.HTTP_5XX, 1)
    failed = probe("http://a.test/always-503/x", retries=2)
    assert (failed.reason, failed.attempts) == (Reason.HTTP_5XX, 3)
    assert failed.detail == "503 from a.test, expected 200 (failed all 3 attempts; last: http_5xx)"
    assert server.state.counters["/always-503/x"] == 3


def test_relative_locations_resolve_as_browsers_do(probe: Any) -> None:
    result = probe("http://a.test/rel/a/b", expect={"sha256": ps.BODY_SHA256})
    assert result.reason is Reason.OK
    assert urls(result) == ["http://a.test/rel/a/b", "http://a.test/file"]
    other = probe("http://a.test/scheme-relative")
    assert urls(other) == ["http://a.test/scheme-relative", "http://b.test/file"]


def test_cache_bust_touches_the_first_url_only(probe: Any) -> None:
    first = probe("http://a.test/echo-query", cache_bust=True)
    second = probe("http://a.test/echo-query", cache_bust=True)
    assert first.hops[0].url != second.hops[0].url
    assert re.fullmatch(r"http://a\.test/echo-query\?cutover=[0-9a-f]{32}", first.hops[0].url)
    chained = probe("http://a.test/to-b", cache_bust=True)
    assert chained.hops[1].url == "http://b.test/file"


def test_head_and_user_agent_presets(probe: Any, server: Any) -> None:
    head = probe(
        "http://a.test/file",
        method="HEAD",
        user_agent="curl",
        expect={"size": len(ps.BODY), "sha256": ps.BODY_SHA256},
    )
    assert (head.reason, head.size, head.sha256, head.method) == (
        Reason.OK,
        len(ps.BODY),
        None,
        "HEAD",
    )
    assert server.seen_user_agents[-1] == "curl/8.5.0"
    probe("http://a.test/file", user_agent="my-agent/1")
    assert server.seen_user_agents[-1] == "my-agent/1"
    probe("http://a.test/file")
    assert server.seen_user_agents[-1].startswith("pip/24.0")


def test_header_and_body_expectations(probe: Any) -> None:
    index = probe(
        "http://index.test/simple/sampleproject/", expect={"body": r"files\.test/packages/"}
    )
    assert index.reason is Reason.OK
    missing = probe("http://index.test/simple/sampleproject/", expect={"body": "pypi.python.org"})
    assert (missing.reason, missing.detail) == (
        Reason.CONTENT_MISMATCH,
        "body does not match 'pypi.python.org'",
    )
    assert probe("http://a.test/file", expect={"header_present": ["X-Cache"]}).ok
    absent = probe("http://a.test/file", expect={"header_absent": ["Age"]})
    assert (absent.reason, absent.detail) == (Reason.CONTENT_MISMATCH, "header Age is present")
    matches = probe("http://a.test/file", expect={"header_matches": {"X-Cache": "HIT"}})
    assert (matches.reason, matches.detail) == (
        Reason.CONTENT_MISMATCH,
        "header X-Cache 'MISS, MISS' does not match 'HIT'",
    )


def test_pypi_paths_through_three_hostnames(probe: Any) -> None:
    name = "sampleproject-4.0.0.tar.gz"
    data = ps.PACKAGES[name]
    expect = {"sha256": ps.sha(data), "size": len(data), "final_host": "files.test", "max_hops": 1}
    result = probe(f"http://index.test{ps.hash_path(name)}", expect=expect)
    assert result.reason is Reason.OK
    assert statuses(result) == [301, 200]
