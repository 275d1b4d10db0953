"""The resolve map (like curl --resolve) and TLS: Host, SNI and certificates keep the real name."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cutover.probes import ProbeRunner, Reason
from cutover.probes.resolve import ResolvingTransport, parse_address, parse_resolve
from cutover.runbook.probe_models import ProbeSpec
from cutover.testing import probe_server as ps


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("127.0.0.1", ("127.0.0.1", None)),
        ("[::1]:8443", ("::1", 8443)),
        ("[::1]", ("::1", None)),
        ("edge-1.example", ("edge-1.example", None)),
    ],
)
def test_parse_address(value: str, parsed: tuple[str, int | None]) -> None:
    assert parse_address(value) == parsed


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"a.test": "127.0.0.1:99999"},
            "resolve: a.test: '127.0.0.1:99999': port 99999 is out of range",
        ),
        ({"a.test": "http://x"}, "resolve: a.test: 'http://x' is not address[:port]"),
        ({"a b": "127.0.0.1"}, "resolve: 'a b' is not a hostname"),
        ({"a.test:0": "127.0.0.1"}, "resolve: 'a.test:0' is not a hostname (or hostname:port)"),
        ({"a.test:x": "127.0.0.1"}, "resolve: 'a.test:x' is not a hostname"),
        ({"a/b:80": "127.0.0.1"}, "resolve: 'a/b:80' is not a hostname"),
    ],
)
def test_parse_resolve_errors(mapping: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_resolve(mapping)
    assert str(err.value).startswith(message)


def test_host_header_keeps_the_real_name(server: Any) -> None:
    with ProbeRunner(resolve={"A.Test": f"127.0.0.1:{server.port}"}, concurrency=1) as runner:
        result = runner.probe(ProbeSpec(url="http://a.test:8080/file"), "t")
    assert result.reason is Reason.OK
    assert result.hops[0].url == "http://a.test:8080/file"
    assert server.seen_hosts[-1] == "a.test:8080"  # the map's port is used, the URL's is sent


def test_a_host_port_key_wins_over_the_bare_name_for_that_port_only(server: Any) -> None:
    assert parse_resolve({"A.Test.:8080": "127.0.0.1:1", "a.test": "[::1]"}) == {
        "a.test:8080": ("127.0.0.1", 1),
        "a.test": ("::1", None),
    }
    resolve = {"a.test:8080": f"127.0.0.1:{server.port}", "a.test": "127.0.0.1:9"}
    with ProbeRunner(resolve=resolve, concurrency=1) as runner:
        mapped = runner.probe(ProbeSpec(url="http://a.test:8080/file"), "t")
        other = runner.probe(ProbeSpec(url="http://a.test:8081/file", timeout=2), "t")
    assert mapped.reason is Reason.OK
    assert server.seen_hosts[-1] == "a.test:8080"
    assert other.reason is not Reason.OK  # port 8081 took the bare name's map: port 9, closed


def test_the_transport_seam_is_httpx_own() -> None:
    # ResolvingTransport replaces HTTPTransport's private pool; this fails loudly if httpx moves it.
    transport = ResolvingTransport({}, ssl.create_default_context(), max_connections=1)
    assert isinstance(transport, httpx.HTTPTransport)
    assert transport._pool._network_backend.__class__.__name__ == "ResolvingBackend"
    transport.close()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = ps.make_certificate(tmp_path_factory.mktemp("tls"), "secure.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with ps.running_server(context) as server:
        yield server, cert


def test_tls_through_the_resolve_map_keeps_sni_and_verifies(tls_server: tuple[Any, Path]) -> None:
    server, cert = tls_server
    resolve = {"secure.test": f"127.0.0.1:{server.port}"}
    with ProbeRunner(resolve=resolve, ca_bundle=str(cert), concurrency=1) as runner:
        result = runner.probe(
            ProbeSpec(url="https://secure.test/file", expect={"sha256": ps.BODY_SHA256}), "t"
        )
    assert (result.reason, result.status) == (Reason.OK, 200)
    assert server.server_names[-1] == "secure.test"


def test_tls_verification_is_on_by_default(tls_server: tuple[Any, Path]) -> None:
    server, _ = tls_server
    with ProbeRunner(resolve={"secure.test": f"127.0.0.1:{server.port}"}, concurrency=1) as runner:
        result = runner.probe(ProbeSpec(url="https://secure.test/file", timeout=5), "t")
    assert (result.reason, result.status) == (Reason.TLS_ERROR, None)
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail


def test_tls_name_mismatch_is_tls_error(tls_server: tuple[Any, Path]) -> None:
    server, cert = tls_server
    resolve = {"other.test": f"127.0.0.1:{server.port}"}
    with ProbeRunner(resolve=resolve, ca_bundle=str(cert), concurrency=1) as runner:
        result = runner.probe(ProbeSpec(url="https://other.test/file", timeout=5), "t")
    assert result.reason is Reason.TLS_ERROR
    assert server.server_names[-1] == "other.test"
