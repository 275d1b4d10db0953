"""The servers themselves: HTTP details, speed-relevant keep-alive, clean shutdown."""

from __future__ import annotations

import socket
import threading

import httpx

import cutover.lab
from cutover.lab import start_lab


def test_public_interface():
    assert sorted(cutover.lab.__all__) == [
        "LabHandle",
        "LabStateError",
        "SCENARIOS",
        "read_state_scenario",
        "reset_state_file",
        "start_lab",
    ]
    assert list(cutover.lab.SCENARIOS) == ["pypi-2018"]


def test_handle_attributes(lab):
    host, port = lab.data_address.split(":")
    assert host == "127.0.0.1"
    assert lab.api_url.startswith("http://127.0.0.1:")
    assert lab.hostnames == ["pypi.python.org", "pypi.org", "files.pythonhosted.org"]
    assert lab.resolve == dict.fromkeys(lab.hostnames, f"127.0.0.1:{port}")
    assert set(lab.service_ids) == {"legacy", "warehouse", "files"}
    assert lab.token.startswith("lab-")


def _bind(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_clean_shutdown_frees_ports_and_threads():
    before = set(threading.enumerate())
    lab = start_lab()
    client = httpx.Client(base_url=f"http://{lab.data_address}")
    assert client.get("/", headers={"Host": "pypi.org"}).status_code == 200  # a live connection
    data_port, api_port = lab.data_port, lab.api_port
    lab.close()
    lab.close()  # idempotent
    client.close()
    assert set(threading.enumerate()) == before
    _bind(data_port)
    _bind(api_port)
    # and the same ports can serve a new lab
    with start_lab(data_port=data_port, api_port=api_port) as again:
        assert again.data_port == data_port


def test_keep_alive_head_and_raw_http(lab):
    port = lab.data_port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        request = (
            "HEAD /pypi/peppercorn/json HTTP/1.1\r\nHost: pypi.org\r\n\r\n"
            "GET /nothing HTTP/1.1\r\nHost: pypi.org\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(request.encode())
        received = b""
        for _ in range(100):  # bounded read until the server closes
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    first, _, rest = received.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: keep-alive" in first
    assert b"Content-Length: 0" not in first  # HEAD keeps the GET length, sends no body
    assert rest.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"Connection: close" in rest


def test_unknown_host_at_the_edge_is_fastlys_500(world):
    response = world.get("http://unknown.example/anything")
    assert response.status_code == 500
    assert response.text == (
        "Fastly error: unknown domain: unknown.example. "
        "Please check that this domain has been added to a service.\n"
    )
    assert response.headers["x-served-by"] == "cache-lab-edge1"


def test_bad_requests(lab):
    with socket.create_connection(("127.0.0.1", lab.data_port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    with socket.create_connection(("127.0.0.1", lab.api_port), timeout=5) as sock:
        sock.sendall(
            b"POST /service HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 501 Not Implemented\r\n")


def test_age_header_on_hits_and_misses(world):
    f = world.file(".whl")
    assert world.get(world.hash_url(f, query="age")).headers["age"] == "0"
    assert int(world.get(world.hash_url(f, query="age")).headers["age"]) >= 0
    assert world.get(world.hash_url(f, query="age")).headers["x-cache-hits"] == "0, 2"
