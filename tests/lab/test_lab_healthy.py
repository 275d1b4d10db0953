"""LAB.md's "What a probe should hit" table, row by row, after a correct cutover.

The correct cutover: files signs on the origin-facing node only, legacy no longer
claims the bucket host, then the legacy redirect goes to 100 % (301).
"""

from __future__ import annotations

import hashlib
import re

import pytest

from cutover.lab.hostnames import BUCKET_HOST, FILES_HOST, LEGACY_HOST, WAREHOUSE_HOST
from cutover.lab.scenarios import FIX_2018


@pytest.fixture
def cutover_done(world):
    world.new_version("files", snippets=FIX_2018)
    world.new_version("legacy", remove_domains=(BUCKET_HOST,))
    world.set_redirect(mode="301", percent="100", prefixes="/")
    return world


def _json_files(world, project):
    payload = world.get(f"http://{WAREHOUSE_HOST}/pypi/{project}/json").json()
    return {u["filename"]: u for u in payload["urls"]}


@pytest.mark.parametrize("suffix", [".whl", "sampleproject-1.3.1.tar.gz"])
def test_files_hash_path_cache_miss_then_hit(cutover_done, suffix):
    world = cutover_done
    f = world.file(suffix)
    listed = _json_files(world, f.project)[f.filename]
    assert listed["url"] == f"http://{FILES_HOST}{f.url_path}"

    hops, miss = world.follow(world.hash_url(f, query="healthy-miss"), max_hops=3)
    assert [h.status for h in hops] == [200]
    assert miss.headers["x-cache"] == "MISS, MISS"
    assert hashlib.sha256(miss.content).hexdigest() == listed["digests"]["sha256"]
    assert len(miss.content) == listed["size"]

    hops, hit = world.follow(world.hash_url(f, query="healthy-miss"), max_hops=3)
    assert [h.status for h in hops] == [200]
    assert hit.headers["x-cache"] == "MISS, HIT"
    assert hashlib.sha256(hit.content).hexdigest() == listed["digests"]["sha256"]


def test_warehouse_packages_path_one_301_then_200(cutover_done):
    world = cutover_done
    f = world.file(".whl")
    hops, final = world.follow(world.hash_url(f, host=WAREHOUSE_HOST), max_hops=5)
    assert [(h.status, h.location) for h in hops] == [
        (301, f"http://{FILES_HOST}{f.url_path}"),
        (200, None),
    ]
    assert hashlib.sha256(final.content).hexdigest() == f.sha256


def test_legacy_packages_path_after_the_flip(cutover_done):
    world = cutover_done
    f = world.file("hello-lab-1.0.0.tar.gz")
    hops, final = world.follow(world.hash_url(f, host=LEGACY_HOST), max_hops=5)
    assert [(h.status, h.location) for h in hops] == [
        (301, f"http://{WAREHOUSE_HOST}{f.url_path}"),
        (301, f"http://{FILES_HOST}{f.url_path}"),
        (200, None),
    ]
    assert httpx_host(hops[-1].url) == FILES_HOST
    assert hashlib.sha256(final.content).hexdigest() == f.sha256


def httpx_host(url: str) -> str:
    return url.split("/")[2]


@pytest.mark.parametrize("suffix", [".whl", "peppercorn-0.6.tar.gz"])
def test_conveyor_path_302_to_hash_url_then_200(cutover_done, suffix):
    world = cutover_done
    f = world.file(suffix)
    hops, final = world.follow(f"http://{FILES_HOST}{f.conveyor_path}", max_hops=5)
    assert [(h.status, h.location) for h in hops] == [
        (302, f"http://{FILES_HOST}{f.url_path}"),
        (200, None),
    ]
    assert hashlib.sha256(final.content).hexdigest() == f.sha256


def test_simple_index_on_pypi_org_and_after_the_flip_on_pypi_python_org(cutover_done):
    world = cutover_done
    hops, page = world.follow(f"http://{WAREHOUSE_HOST}/simple/sampleproject/", max_hops=3)
    assert [h.status for h in hops] == [200]
    links = re.findall(r'href="([^"]+)"', page.text)
    expected = {
        f"http://{FILES_HOST}{f.url_path}#sha256={f.sha256}"
        for f in world.catalog.project("sampleproject").files
    }
    assert set(links) == expected

    hops, page = world.follow(f"http://{LEGACY_HOST}/simple/sampleproject/", max_hops=3)
    assert [(h.status, h.location) for h in hops] == [
        (301, f"http://{WAREHOUSE_HOST}/simple/sampleproject/"),
        (200, None),
    ]
    assert set(re.findall(r'href="([^"]+)"', page.text)) == expected


def test_missing_hash_path_is_a_clean_404(cutover_done):
    world = cutover_done
    missing = f"http://{FILES_HOST}/packages/00/11/{'2' * 60}/nothing-1.0.tar.gz"
    hops, final = world.follow(missing, max_hops=3)
    assert [h.status for h in hops] == [404]
    assert "NoSuchKey" in final.text
    assert final.headers["x-lab-route"] == "cache-lab-shield1=files, cache-lab-edge1=files"
