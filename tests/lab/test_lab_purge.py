"""Caching of redirects and every purge form, on a served lab (real sockets).

The files service gets the 2018 fix (so edge and shield both run ``files`` and key
objects by files.pythonhosted.org) and a ``fetch`` snippet tagging each stored answer
with surrogate keys: ``files`` on all, ``key-a`` / ``key-b`` by query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cutover.lab.cache_ttl import cache_ttl
from cutover.lab.hostnames import EDGE_NODE, FILES_HOST, SHIELD_NODE
from cutover.lab.messages import Response
from cutover.lab.scenarios import FIX_2018
from cutover.testing import LabClient

TAG = """\
if (req.url ~ "\\?a$") {
  set beresp.http.Surrogate-Key = "files key-a";
} else {
  set beresp.http.Surrogate-Key = "files key-b";
}
"""


def tagged(world: LabClient) -> tuple[str, str]:
    """Fix signing, tag answers with keys; the URLs ``?a`` and ``?b``, both cached."""
    sid = world.sid("files")
    draft = world.ok("PUT", f"/service/{sid}/version/1/clone")["number"]
    base = f"/service/{sid}/version/{draft}"
    world.ok("PUT", f"{base}/snippet/s3-signing", data={"content": FIX_2018["s3-signing"]})
    world.ok("POST", f"{base}/snippet", data={"name": "tag", "type": "fetch", "content": TAG})
    world.ok("PUT", f"{base}/activate")
    wheel = world.file(".whl")
    urls = (world.hash_url(wheel, query="a"), world.hash_url(wheel, query="b"))
    for url in urls:
        assert world.get(url).headers["x-cache"] == "MISS, MISS"
        assert world.get(url).headers["x-cache"] == "MISS, HIT"
    return urls


def cached(world: LabClient, url: str) -> dict[str, bool]:
    """Is ``url`` in each node's cache (fresh or stale)?"""
    listing = world.ok("GET", "/lab/cache")
    key = url.removeprefix("http://")
    return {node: key in listing[node] for node in (EDGE_NODE, SHIELD_NODE)}


def test_surrogate_keys_are_recorded_and_never_delivered(world: LabClient) -> None:
    url, _ = tagged(world)
    hit = world.get(url)
    assert hit.status_code == 200
    assert "surrogate-key" not in hit.headers
    assert "surrogate-control" not in hit.headers


def _purge_url(world: LabClient, a: str, b: str) -> httpx.Response:
    return world.call("POST", "/purge/" + a.removeprefix("http://"))


def _purge_method(world: LabClient, a: str, b: str) -> httpx.Response:
    return world.get(a, method="PURGE")  # on the data port, no token


def _purge_key(world: LabClient, a: str, b: str) -> httpx.Response:
    return world.call("POST", f"/service/{world.sid('files')}/purge/key-a")


def _purge_keys_header(world: LabClient, a: str, b: str) -> httpx.Response:
    sid = world.sid("files")
    return world.call("POST", f"/service/{sid}/purge", headers={"Surrogate-Key": "key-a key-b"})


def _purge_keys_json(world: LabClient, a: str, b: str) -> httpx.Response:
    sid = world.sid("files")
    return world.call("POST", f"/service/{sid}/purge", json={"surrogate_keys": ["key-b"]})


def _purge_shared_key(world: LabClient, a: str, b: str) -> httpx.Response:
    return world.call("POST", f"/service/{world.sid('files')}/purge/files")


def _purge_all(world: LabClient, a: str, b: str) -> httpx.Response:
    return world.call("POST", f"/service/{world.sid('files')}/purge_all")


Purge = Callable[[LabClient, str, str], httpx.Response]
STATUS_ID = {"status", "id"}


@pytest.mark.parametrize(
    ("purge", "answer_keys", "gone"),
    [
        (_purge_url, STATUS_ID, "a"),
        (_purge_method, STATUS_ID, "a"),
        (_purge_key, STATUS_ID, "a"),
        (_purge_keys_header, {"key-a", "key-b"}, "ab"),
        (_purge_keys_json, {"key-b"}, "b"),
        (_purge_shared_key, STATUS_ID, "ab"),
        (_purge_all, {"status"}, "ab"),
    ],
    ids=["url", "PURGE method", "key", "keys header", "keys json", "shared key", "all"],
)
def test_each_purge_form_removes_exactly_its_objects_on_every_node(
    world: LabClient, purge: Purge, answer_keys: set[str], gone: str
) -> None:
    a, b = tagged(world)
    response = purge(world, a, b)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == answer_keys
    if "status" in body:
        assert body["status"] == "ok"
    assert all(isinstance(v, str) and v for k, v in body.items() if k != "status")
    for name, url in (("a", a), ("b", b)):
        expected = name not in gone
        assert cached(world, url) == {EDGE_NODE: expected, SHIELD_NODE: expected}, name
        assert world.get(url).headers["x-cache"] == ("MISS, HIT" if expected else "MISS, MISS")


def test_soft_purge_keeps_the_object_stale_and_the_next_request_fetches_again(
    world: LabClient,
) -> None:
    a, b = tagged(world)
    sid = world.sid("files")
    soft = world.call("POST", f"/service/{sid}/purge/key-a", headers={"Fastly-Soft-Purge": "1"})
    assert soft.status_code == 200
    assert soft.json()["status"] == "ok"
    assert cached(world, a) == {EDGE_NODE: True, SHIELD_NODE: True}  # kept, but stale
    assert world.get(a).headers["x-cache"] == "MISS, MISS"  # fetched again, on both nodes
    assert world.get(a).headers["x-cache"] == "MISS, HIT"  # and fresh again
    assert world.get(b).headers["x-cache"] == "MISS, HIT"  # untouched


def test_purge_all_is_never_soft(world: LabClient) -> None:
    a, _ = tagged(world)
    sid = world.sid("files")
    answer = world.call("POST", f"/service/{sid}/purge_all", headers={"Fastly-Soft-Purge": "1"})
    assert answer.json() == {"status": "ok"}
    assert cached(world, a) == {EDGE_NODE: False, SHIELD_NODE: False}


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "detail"),
    [
        ("/service/{sid}/purge", {}, 400, "Surrogate keys are required"),
        ("/service/{sid}/purge", {"json": {"surrogate_keys": []}}, 400, "Surrogate keys are"),
        ("/service/nope/purge/key-a", {}, 404, "Cannot find service 'nope'"),
        ("/service/nope/purge_all", {}, 404, "Cannot find service 'nope'"),
    ],
)
def test_purge_refusals(
    world: LabClient, path: str, kwargs: dict[str, Any], status: int, detail: str
) -> None:
    response = world.call("POST", path.format(sid=world.sid("files")), **kwargs)
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)


def test_a_purge_needs_the_token(world: LabClient) -> None:
    with httpx.Client(base_url=world.lab.api_url, timeout=10) as anonymous:
        assert anonymous.post(f"/purge/{FILES_HOST}/x").status_code == 401


def test_a_redirect_is_cached_for_the_default_ttl_and_a_zero_ttl_stores_nothing(
    world: LabClient,
) -> None:
    # pypi.org/packages/… answers a 301 with no caching header: kept (default TTL 3600 s)
    url = "http://pypi.org/packages/source/s/sampleproject/x.tar.gz?ttl"
    assert world.get(url).headers["x-cache"] == "MISS, MISS"
    again = world.get(url)
    assert (again.status_code, again.headers["x-cache"]) == (301, "MISS, HIT")
    world.new_version("warehouse", settings={"general.default_ttl": "0"})
    other = url + "-zero"
    assert world.get(other).headers["x-cache"] == "MISS, MISS"
    assert world.get(other).headers["x-cache"] == "MISS, MISS"  # nothing stored


def _response(*headers: tuple[str, str], status: int = 301) -> Response:
    return Response(status, list(headers))


@pytest.mark.parametrize(
    ("response", "ttl"),
    [
        (_response(), 3600.0),  # default TTL
        (_response(status=302), 3600.0),
        (_response(("Cache-Control", "max-age=60")), 60.0),
        (_response(("Cache-Control", "max-age=60, s-maxage=30")), 30.0),
        (_response(("Surrogate-Control", "max-age=10"), ("Cache-Control", "s-maxage=30")), 10.0),
        (
            _response(
                ("Expires", "Mon, 16 Apr 2018 12:02:00 GMT"),
                ("Date", "Mon, 16 Apr 2018 12:00:00 GMT"),
            ),
            120.0,
        ),
        (_response(("Expires", "0")), None),  # invalid Expires: already expired
        (_response(("Cache-Control", "max-age=0")), None),
        (_response(("Cache-Control", "private, max-age=60")), None),
        (_response(("Cache-Control", "no-store")), None),
        (_response(status=404), None),
        (_response(status=500), None),
        (_response(status=200), 3600.0),
    ],
)
def test_beresp_ttl_follows_fastly(response: Response, ttl: float | None) -> None:
    assert cache_ttl(response, 3600.0, lambda: 0.0) == ttl
