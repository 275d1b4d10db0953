"""Each CDN node's cache is bounded in entries and bytes, least recently used out first.

A long ``cutover check --every`` adds hundreds of cache-busted entries per round; the lab
must keep them bounded (memory flat) while the entries every round hits stay cached.
"""

from __future__ import annotations

import pytest

from cutover.lab.cdn import MAX_CACHE_BYTES, MAX_CACHE_ENTRIES, CacheEntry, NodeCache
from cutover.lab.messages import Response
from cutover.testing import LabClient


def entry(body: bytes = b"x" * 100) -> CacheEntry:
    return CacheEntry(Response(200, [("Cache-Control", "max-age=60")], body), 0.0, "svc")


def key(n: int) -> tuple[str, str]:
    return ("files.pythonhosted.org", f"/packages/f?cutover={n}")


def test_entries_are_bounded_and_the_least_recently_used_goes_first() -> None:
    cache = NodeCache("edge", max_entries=3)
    for n in range(3):
        cache.put(key(n), entry())
    assert cache.get(key(0)) is not None  # 0 is now the most recently used
    cache.put(key(3), entry())
    assert list(cache.entries) == [key(2), key(0), key(3)]  # 1 was the least recently used


def test_bytes_are_bounded_and_counted_exactly() -> None:
    one = len(key(0)[0]) + len(key(0)[1]) + len("Cache-Control") + len("max-age=60") + 100
    cache = NodeCache("edge", max_entries=100, max_bytes=2 * one)
    for n in range(5):
        cache.put(key(n), entry())
    assert (list(cache.entries), cache.bytes) == ([key(3), key(4)], 2 * one)
    cache.put(key(9), entry(b"x" * 3 * one))  # larger than the whole cache: not stored
    assert (list(cache.entries), cache.bytes) == ([key(3), key(4)], 2 * one)
    assert (cache.purge("svc"), cache.bytes, len(cache.entries)) == (2, 0, 0)


def test_replacing_an_entry_does_not_count_it_twice() -> None:
    cache = NodeCache("edge")
    cache.put(key(0), entry())
    first = cache.bytes
    cache.put(key(0), entry())
    assert (cache.bytes, len(cache.entries)) == (first, 1)


@pytest.mark.slow
def test_cache_busted_misses_never_push_a_cache_past_its_bounds_and_used_entries_stay(
    world: LabClient,
) -> None:
    f = world.file(".whl")
    plain = world.hash_url(f)
    assert world.get(plain).headers["x-cache"] == "MISS, HIT"  # the warm set, on the edge
    for n in range(MAX_CACHE_ENTRIES + 50):  # each: a new entry on the shield and the edge
        if n % 500 == 0:
            assert world.get(plain).headers["x-cache"] == "MISS, HIT"  # used: it stays
        assert world.get(world.hash_url(f, query=f"cutover={n}")).status_code == 200
    state = world.ok("GET", "/lab/state")
    assert state["caches"] == dict.fromkeys(["cache-lab-edge1", "cache-lab-shield1"], 4096)
    assert all(0 < size <= MAX_CACHE_BYTES for size in state["cache_bytes"].values())
    assert world.get(plain).headers["x-cache"] == "MISS, HIT"
    cached = world.ok("GET", "/lab/cache?node=cache-lab-edge1")["cache-lab-edge1"]
    assert cached[-1] == f"files.pythonhosted.org{f.url_path}"  # the most recently used
    assert f"files.pythonhosted.org{f.url_path}?cutover=0" not in cached  # aged out
