"""The 2018-04-16 incident, phase by phase, against the lab on a real socket."""

from __future__ import annotations

import hashlib

import pytest

from cutover.lab.hostnames import BUCKET_HOST, FILES_HOST, LEGACY_HOST, WAREHOUSE_HOST
from cutover.lab.scenarios import ATTEMPTED_FIX_2018 as SELECT_BY_HOST
from cutover.lab.scenarios import FIX_2018 as FIX


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_before_15_00_misses_and_hits_work_through_the_latent_bug(world):
    wheel = world.file(".whl")
    hit = world.get(world.hash_url(wheel))
    assert hit.status_code == 200
    assert _sha(hit.content) == wheel.sha256
    assert hit.headers["x-cache"] == "MISS, HIT"
    assert hit.headers["x-served-by"] == "cache-lab-shield1, cache-lab-edge1"

    miss = world.get(world.hash_url(wheel, query="before-15"))
    assert miss.status_code == 200
    assert _sha(miss.content) == wheel.sha256
    assert int(miss.headers["content-length"]) == wheel.size
    assert miss.headers["x-cache"] == "MISS, MISS"
    # the bug is there, latent: the shield ran the *legacy* service (Host: bucket host)
    assert miss.headers["x-lab-route"] == "cache-lab-shield1=legacy, cache-lab-edge1=files"


@pytest.mark.parametrize("mode", ["302", "301"])
def test_naive_change_loops_on_cache_miss_and_hits_still_work(world, mode):
    world.set_redirect(mode=mode)  # legacy redirects everything: the 15:00 change
    sdist = world.file("sampleproject-1.3.1.tar.gz")
    start = world.hash_url(sdist, query="loop")
    hops, _ = world.follow(start, max_hops=6)

    files_url = f"http://{FILES_HOST}{sdist.url_path}?loop"
    warehouse_url = f"http://{WAREHOUSE_HOST}{sdist.url_path}?loop"
    assert [(h.url, h.status, h.location) for h in hops] == [
        (files_url, int(mode), warehouse_url),
        (warehouse_url, 301, files_url),
    ] * 3
    # why: the edge sent Host: bucket host to the shield, which ran the legacy service
    assert hops[0].route == "cache-lab-shield1=legacy, cache-lab-edge1=files"
    # the shield answered the redirect itself (synthetic: HIT); the edge missed
    assert hops[0].cache == "HIT, MISS"

    hit = world.get(world.hash_url(sdist))
    assert hit.status_code == 200
    assert hit.headers["x-cache"] == "MISS, HIT"
    assert _sha(hit.content) == sdist.sha256


def test_fix_signing_on_origin_node_only_ends_the_loop_with_no_other_change(world):
    world.set_redirect(mode="302")
    wheel = world.file(".whl")
    hops, _ = world.follow(world.hash_url(wheel, query="fix"), max_hops=4)
    assert [h.status for h in hops] == [302, 301, 302, 301]

    version = world.new_version("files", snippets=FIX)
    assert version == 2

    # the edge kept the shield's 302 (no caching header: the default TTL), as Fastly does:
    # the same URL is answered from cache until it is purged
    cached = world.get(world.hash_url(wheel, query="fix"))
    assert (cached.status_code, cached.headers["x-cache"]) == (302, "HIT, HIT")
    purged = world.ok("POST", f"/purge/{FILES_HOST}{wheel.url_path}?fix")
    assert purged["status"] == "ok"

    hops, final = world.follow(world.hash_url(wheel, query="fix"), max_hops=4)
    assert [(h.status, h.location) for h in hops] == [(200, None)]
    assert _sha(final.content) == wheel.sha256
    assert final.headers["x-lab-route"] == "cache-lab-shield1=files, cache-lab-edge1=files"
    # the redirect is still on, legacy still claims the bucket host: only signing changed
    assert world.get(f"http://{LEGACY_HOST}/simple/sampleproject/").status_code == 302

    # rolling back = activating the previous version: the loop is back at once
    world.ok("PUT", f"/service/{world.sid('files')}/version/1/activate")
    hops, _ = world.follow(world.hash_url(wheel, query="rolled-back"), max_hops=2)
    assert [h.status for h in hops] == [302, 301]


def test_503_phase_legacy_drops_the_bucket_host_while_files_still_signs_everywhere(world):
    world.set_redirect(mode="302")
    world.new_version("legacy", remove_domains=(BUCKET_HOST,))
    wheel = world.file(".whl")

    miss = world.get(world.hash_url(wheel, query="503"))
    assert miss.status_code == 503
    assert miss.headers["x-lab-error"] == f"unknown-domain:{BUCKET_HOST}"
    assert miss.headers["x-served-by"] == "cache-lab-shield1, cache-lab-edge1"

    hit = world.get(world.hash_url(wheel))
    assert hit.status_code == 200
    assert _sha(hit.content) == wheel.sha256


def test_503_phase_unhealthy_object_store(world):
    world.ok("PUT", "/lab/faults/backends/object_store", json={"healthy": False})
    wheel = world.file(".whl")
    miss = world.get(world.hash_url(wheel, query="unhealthy"))
    assert miss.status_code == 503
    assert miss.headers["x-lab-error"] == "backend-unhealthy:object_store"
    assert miss.text.startswith("Error 503 Backend is unhealthy")
    assert world.get(world.hash_url(wheel)).status_code == 200


def test_404_phase_object_store_selected_by_host(world):
    world.set_redirect(mode="302")
    world.new_version("files", snippets=SELECT_BY_HOST)
    sdist = world.file("peppercorn-0.6.tar.gz")

    miss = world.get(world.hash_url(sdist, query="404"))
    assert miss.status_code == 404
    assert miss.text == "404 Not Found\n"
    # the hash path fell through to the conveyor, which cannot parse it
    assert miss.headers["x-lab-route"] == "cache-lab-shield1=files, cache-lab-edge1=files"

    hit = world.get(world.hash_url(sdist))
    assert hit.status_code == 200


def test_final_state_of_16_45_bucket_host_removed_and_signing_fixed(world):
    world.set_redirect(mode="301")
    world.new_version("files", snippets=FIX)
    world.new_version("legacy", remove_domains=(BUCKET_HOST,))
    for f in world.catalog.files:
        hops, final = world.follow(world.hash_url(f, query="final"), max_hops=3)
        assert [h.status for h in hops] == [200]
        assert _sha(final.content) == f.sha256


def test_purge_all_of_files_turns_hits_into_looping_misses(world):
    world.set_redirect(mode="302")
    wheel = world.file(".whl")
    assert world.ok("POST", f"/service/{world.sid('files')}/purge_all") == {"status": "ok"}
    hops, _ = world.follow(world.hash_url(wheel), max_hops=2)
    assert [h.status for h in hops] == [302, 301]
