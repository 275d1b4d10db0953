"""What a node's VCL reads of the state (dictionary items, backends, default TTL) is kept
between requests and rebuilt on every change: a change is live at the next request."""

from __future__ import annotations

from cutover.lab.hostnames import LEGACY_HOST
from cutover.testing import LabClient

PAGE = f"http://{LEGACY_HOST}/simple/sampleproject/"


def test_a_dictionary_change_is_live_at_the_next_request(world: LabClient) -> None:
    assert world.get(PAGE).status_code == 200  # the legacy service's tables are built
    world.set_redirect(mode="302")
    assert world.get(PAGE).status_code == 302
    world.set_redirect(mode="301")
    assert world.get(PAGE).status_code == 301
    world.set_redirect(mode="off")
    assert world.get(PAGE).status_code == 200


def test_a_new_version_and_a_rollback_are_live_at_the_next_request(world: LabClient) -> None:
    url = "http://pypi.org/packages/source/s/sampleproject/x.tar.gz?env"
    assert world.get(url + "1").headers["x-cache"] == "MISS, MISS"
    assert world.get(url + "1").headers["x-cache"] == "MISS, HIT"  # default TTL: stored
    world.new_version("warehouse", settings={"general.default_ttl": "0"})
    assert world.get(url + "2").headers["x-cache"] == "MISS, MISS"
    assert world.get(url + "2").headers["x-cache"] == "MISS, MISS"  # TTL 0: not stored
    world.ok("PUT", f"/service/{world.sid('warehouse')}/version/1/activate")
    assert world.get(url + "3").headers["x-cache"] == "MISS, MISS"
    assert world.get(url + "3").headers["x-cache"] == "MISS, HIT"
