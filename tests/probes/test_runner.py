"""The runner: bounded concurrency against the real server, order, callbacks, interrupts."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

import cutover.probes
from cutover.probes import ProbeRunner, Reason
from cutover.runbook.probe_models import ProbeSpec
from cutover.testing import probe_server as ps


def test_public_api() -> None:
    assert sorted(cutover.probes.__all__) == [
        "ExpansionError",
        "Hop",
        "ProbeResult",
        "ProbeRunner",
        "Reason",
        "expand_sets",
        "run_probe",
    ]


def test_many_probes_in_order_with_one_callback_at_a_time(server: Any) -> None:
    paths = ["/file", "/503", "/loop2", "/gone"] * 25
    specs = [
        ("s", ProbeSpec(url=f"http://a.test{p}", expect={"sha256": ps.BODY_SHA256})) for p in paths
    ]
    active = 0
    most = 0
    calls = 0
    guard = threading.Lock()

    def on_result(result: Any) -> None:
        nonlocal active, most, calls
        with guard:
            active += 1
            most = max(most, active)
            calls += 1
        with guard:
            active -= 1

    with ProbeRunner(resolve=server.resolve(), concurrency=8) as runner:
        results = runner.run(specs, on_result=on_result)
        again = runner.run(specs[:4])  # a runner serves several rounds
    assert [r.reason for r in results[:4]] == [
        Reason.OK,
        Reason.HTTP_5XX,
        Reason.REDIRECT_LOOP,
        Reason.HTTP_4XX,
    ]
    assert [r.reason for r in results] == [r.reason for r in results[:4]] * 25
    assert (calls, most) == (100, 1)
    assert [r.reason for r in again] == [r.reason for r in results[:4]]


def test_concurrency_is_bounded() -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
            if in_flight == 3:
                release.set()
        release.wait(2)
        with lock:
            in_flight -= 1
        return httpx.Response(200)

    specs = [("s", ProbeSpec(url=f"http://a.test/{n}")) for n in range(30)]
    with ProbeRunner(concurrency=3, transport=httpx.MockTransport(handle)) as runner:
        results = runner.run(specs)
    assert peak == 3
    assert {r.reason for r in results} == {Reason.OK}


def test_an_interrupt_stops_new_probes_and_propagates() -> None:
    started = 0
    lock = threading.Lock()

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal started
        with lock:
            started += 1
        return httpx.Response(200)

    def on_result(result: Any) -> None:
        raise KeyboardInterrupt

    specs = [("s", ProbeSpec(url=f"http://a.test/{n}")) for n in range(200)]
    with (
        ProbeRunner(concurrency=2, transport=httpx.MockTransport(handle)) as runner,
        pytest.raises(KeyboardInterrupt),
    ):
        runner.run(specs, on_result=on_result)
    assert started < 200


def test_closed_runner_refuses_work() -> None:
    runner = ProbeRunner(concurrency=2)
    runner.close()
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.probe(ProbeSpec(url="http://a.test/x"))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        ProbeRunner(concurrency=0)
    with pytest.raises(ValueError, match=r"resolve: a\.test"):
        ProbeRunner(resolve={"a.test": "not an address"})
