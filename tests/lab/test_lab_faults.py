"""Seeded fault injection, for backends and for the control-plane API."""

from __future__ import annotations

import httpx
import pytest

from cutover.lab import start_lab


def _backend_statuses(seed: int, count: int = 40) -> list[int]:
    with start_lab("pypi-2018", seed=seed) as lab:
        api = httpx.Client(base_url=lab.api_url, headers={"Fastly-Key": lab.token})
        data = httpx.Client(base_url=f"http://{lab.data_address}")
        configured = api.put(
            "/lab/faults/backends/warehouse_app", json={"error_rate": 0.5, "status": 502}
        )
        assert configured.status_code == 200
        assert configured.json() == {
            "healthy": True,
            "error_rate": 0.5,
            "status": 502,
            "latency_ms": 0,
            "seed": None,
        }
        statuses = [
            data.get("/simple/sampleproject/", headers={"Host": "pypi.org"}).status_code
            for _ in range(count)
        ]
        api.close()
        data.close()
        return statuses


def test_backend_faults_same_seed_same_sequence_other_seed_other_sequence():
    first = _backend_statuses(seed=7)
    assert set(first) == {200, 502}
    assert _backend_statuses(seed=7) == first
    assert _backend_statuses(seed=8) != first


def test_injected_backend_failure_shape(world):
    world.ok(
        "PUT", "/lab/faults/backends/conveyor", json={"error_rate": 1.0, "status": 504, "seed": 1}
    )
    f = world.file(".whl")
    response = world.get(f"http://files.pythonhosted.org{f.conveyor_path}")
    assert response.status_code == 504
    assert response.headers["x-lab-error"] == "backend-injected:conveyor"
    assert response.headers["x-served-by"] == "cache-lab-shield1, cache-lab-edge1"


def test_shield_hop_can_fail_too(world):
    world.ok("PUT", "/lab/faults/backends/shield", json={"healthy": False})
    f = world.file(".whl")
    miss = world.get(world.hash_url(f, query="shield-down"))
    assert miss.status_code == 503
    assert miss.headers["x-lab-error"] == "backend-unhealthy:shield"
    assert miss.headers["x-served-by"] == "cache-lab-edge1"


def _api_outcomes(seed: int, count: int = 60) -> list[str]:
    with start_lab("pypi-2018", seed=seed) as lab:
        api = httpx.Client(base_url=lab.api_url, headers={"Fastly-Key": lab.token}, timeout=2)
        faults = {
            "error_rate": 0.3,
            "error_statuses": [500, 503],
            "timeout_rate": 0.1,
            "timeout_seconds": 0.2,
            "slow_rate": 0.2,
            "slow_ms": 1,
        }
        assert api.put("/lab/faults/api", json=faults).status_code == 200
        outcomes = []
        for _ in range(count):
            try:
                response = api.get("/service")
            except httpx.TransportError:
                outcomes.append("dropped")
                continue
            outcomes.append(str(response.status_code))
            if response.status_code != 200:
                assert response.json() == {
                    "msg": "Service unavailable",
                    "detail": "lab fault injection",
                }
        api.close()
        return outcomes


@pytest.mark.slow
def test_api_faults_are_seeded():
    first = _api_outcomes(seed=3)
    assert set(first) == {"200", "500", "503", "dropped"}
    assert _api_outcomes(seed=3) == first
    assert _api_outcomes(seed=4) != first


def test_api_fault_never_half_applies_a_change(world):
    world.ok("PUT", "/lab/faults/api", json={"error_rate": 1.0, "error_statuses": [503]})
    sid = world.sid("files")
    refused = world.call("PUT", f"/service/{sid}/version/1/clone")
    assert refused.status_code == 503
    world.ok("DELETE", "/lab/faults")
    assert [v["number"] for v in world.ok("GET", f"/service/{sid}/version")] == [1]


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        (
            "/lab/faults/backends/object_store",
            {"error_rate": 2},
            "error_rate must be a number from 0 to 1",
        ),
        (
            "/lab/faults/backends/object_store",
            {"colour": "red"},
            "unknown backend fault field 'colour'",
        ),
        (
            "/lab/faults/api",
            {"error_rate": 0.6, "slow_rate": 0.6},
            "error_rate + timeout_rate + slow_rate must not exceed 1",
        ),
    ],
)
def test_invalid_fault_settings_are_refused(world, path, body, detail):
    response = world.call("PUT", path, json=body)
    assert response.status_code == 400
    assert response.json() == {"msg": "Bad request", "detail": detail}


def test_unknown_backend_is_404(world):
    response = world.call("PUT", "/lab/faults/backends/nowhere", json={"healthy": False})
    assert response.status_code == 404
    assert response.json()["msg"] == "Record not found"
