"""The state file: one world shared by separate labs (processes), reset, scenario check."""

from __future__ import annotations

import json

import httpx
import pytest

from cutover.lab import LabStateError, read_state_scenario, reset_state_file, start_lab
from cutover.lab.hostnames import FILES_HOST
from cutover.lab.packages import default_catalog
from cutover.lab.scenarios import FIX_2018


def _api(lab):
    return httpx.Client(base_url=lab.api_url, headers={"Fastly-Key": lab.token})


def _active(api, sid):
    return [v["number"] for v in api.get(f"/service/{sid}/version").json() if v["active"]]


def test_a_mutation_in_one_lab_is_seen_by_a_second_one(tmp_path):
    state_file = tmp_path / "lab.json"
    with start_lab("pypi-2018", state_file=state_file) as first:
        assert state_file.exists()
        sid = first.service_ids["files"]
        with _api(first) as api:
            api.put(f"/service/{sid}/version/1/clone").raise_for_status()
            api.put(
                f"/service/{sid}/version/2/snippet/s3-signing",
                data={"content": FIX_2018["s3-signing"]},
            ).raise_for_status()
            api.put(f"/service/{sid}/version/2/activate").raise_for_status()

        # a second lab running at the same time sees it, and its changes reach the first
        with start_lab("pypi-2018", state_file=state_file) as second, _api(second) as api2:
            assert second.token == first.token
            assert second.service_ids == first.service_ids
            assert _active(api2, sid) == [2]
            api2.put(f"/service/{sid}/version/1/activate").raise_for_status()
            with _api(first) as api:
                assert _active(api, sid) == [1]

    # and a lab started later, too (the file is the world)
    with start_lab("pypi-2018", state_file=state_file) as third, _api(third) as api3:
        assert [v["number"] for v in api3.get(f"/service/{sid}/version").json()] == [1, 2]
        assert _active(api3, sid) == [1]


def test_the_data_plane_follows_the_shared_state(tmp_path):
    state_file = tmp_path / "lab.json"
    with start_lab(state_file=state_file) as observer, start_lab(state_file=state_file) as actor:
        sid = actor.service_ids["legacy"]
        with _api(actor) as api:
            did = api.get(f"/service/{sid}/version/1/dictionary/redirects").json()["id"]
            api.put(f"/service/{sid}/dictionary/{did}/item/mode", data={"item_value": "302"})
        seen = httpx.get(
            f"http://{observer.data_address}/simple/sampleproject/",
            headers={"Host": "pypi.python.org"},
        )
        assert seen.status_code == 302
        assert seen.headers["location"] == "http://pypi.org/simple/sampleproject/"


def test_reset_restores_the_scenario(tmp_path):
    state_file = tmp_path / "lab.json"
    with start_lab(state_file=state_file) as lab, _api(lab) as api:
        sid = lab.service_ids["files"]
        api.put(f"/service/{sid}/version/1/clone").raise_for_status()
        api.put("/lab/faults/backends/object_store", json={"healthy": False}).raise_for_status()
        assert api.post("/lab/reset").json() == {"status": "ok", "scenario": "pypi-2018"}
        assert [v["number"] for v in api.get(f"/service/{sid}/version").json()] == [1]
        assert api.get("/lab/faults").json()["backends"]["object_store"]["healthy"] is True

        api.put(f"/service/{sid}/version/1/clone").raise_for_status()
        assert reset_state_file(state_file) == "pypi-2018"  # e.g. `cutover lab reset`
        assert [v["number"] for v in api.get(f"/service/{sid}/version").json()] == [1]

        api.put(f"/service/{sid}/version/1/clone").raise_for_status()
        lab.reset()
        assert [v["number"] for v in api.get(f"/service/{sid}/version").json()] == [1]


def test_reset_rewarms_and_purge_empties_caches(world):
    f = world.file(".whl")
    assert world.get(world.hash_url(f)).headers["x-cache"] == "MISS, HIT"
    purged = world.ok("POST", "/lab/purge", params={"node": "cache-lab-edge1"})["purged"]
    assert purged == len(default_catalog().files)
    assert world.get(world.hash_url(f)).headers["x-cache"] == "MISS, MISS"
    world.ok("POST", "/lab/reset")
    assert world.get(world.hash_url(f)).headers["x-cache"] == "MISS, HIT"
    assert world.ok("GET", "/lab/cache")["cache-lab-edge1"][0].startswith(FILES_HOST)


def test_a_state_file_of_another_scenario_is_refused(tmp_path):
    state_file = tmp_path / "lab.json"
    with start_lab(state_file=state_file):
        pass
    data = json.loads(state_file.read_text())
    data["scenario"] = "some-other-scenario"
    state_file.write_text(json.dumps(data))
    assert read_state_scenario(state_file) == "some-other-scenario"
    with pytest.raises(LabStateError, match="is from scenario 'some-other-scenario'"):
        start_lab("pypi-2018", state_file=state_file)


def test_an_unreadable_state_file_is_refused_and_reset_repairs_it(tmp_path):
    state_file = tmp_path / "lab.json"
    state_file.write_text("{not json")
    with pytest.raises(LabStateError, match="cannot read lab state file") as raised:
        start_lab(state_file=state_file)
    assert raised.value.hint == f"reset it with: cutover lab reset --state-file {state_file}"
    assert reset_state_file(state_file) == "pypi-2018"
    with start_lab(state_file=state_file) as lab:
        assert lab.scenario == "pypi-2018"


def test_unknown_scenario_is_refused():
    with pytest.raises(LabStateError, match="unknown lab scenario 'nope'"):
        start_lab("nope")


def test_state_file_holds_no_cache_and_is_written_atomically(tmp_path):
    state_file = tmp_path / "lab.json"
    with start_lab(state_file=state_file) as lab, _api(lab) as api:
        api.put("/lab/world", json={"public_scheme": "https"}).raise_for_status()
    data = json.loads(state_file.read_text())
    assert data["public_scheme"] == "https"
    assert "caches" not in data
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["lab.json", "lab.json.lock"]
