"""Wire-level fidelity of the lab's Fastly API: one row per endpoint, its status and its
exact JSON keys, as Fastly's public API reference and recorded answers show them (the
go-fastly client's recorded fixtures: ``fastly/fixtures/{services,versions,domains,
dictionaries,dictionary_items,dictionary_info,vcl_snippets}/*.yaml``).

A draft (version 2 of ``legacy``, cloned from the active version 1) is ready for the
rows that edit a version.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cutover.lab import LabHandle
from cutover.lab.hostnames import BUCKET_HOST, LEGACY_HOST
from cutover.testing import LabClient

VERSION = {
    "active", "comment", "created_at", "deleted_at", "deployed", "locked", "number",
    "service_id", "staging", "testing", "updated_at",
}  # fmt: skip
SERVICE = {
    "comment", "created_at", "customer_id", "deleted_at", "id", "name", "paused",
    "publish_key", "type", "updated_at", "versions",
}  # fmt: skip
LISTED_SERVICE = (SERVICE - {"publish_key"}) | {"version"}
DETAILS = (SERVICE - {"paused", "publish_key"}) | {"version", "active_version"}
VERSION_DETAIL = VERSION | {
    "acls", "backends", "cache_settings", "conditions", "dictionaries", "directors",
    "domains", "gzips", "headers", "healthchecks", "request_settings", "response_objects",
    "settings", "snippets", "vcls", "wordpress",
}  # fmt: skip
DOMAIN = {"comment", "created_at", "deleted_at", "name", "service_id", "updated_at", "version"}
DICTIONARY = {
    "created_at", "deleted_at", "id", "name", "service_id", "updated_at", "version", "write_only",
}  # fmt: skip
ITEM = {
    "created_at", "deleted_at", "dictionary_id", "item_key", "item_value", "service_id",
    "updated_at",
}  # fmt: skip
UPSERTED_ITEM = {"dictionary_id", "item_key", "item_value", "service_id"}
SNIPPET = {
    "content", "created_at", "deleted_at", "dynamic", "id", "name", "priority", "service_id",
    "type", "updated_at", "version",
}  # fmt: skip
SETTINGS = {
    "general.default_host", "general.default_ttl", "general.stale_if_error",
    "general.stale_if_error_ttl", "service_id", "version",
}  # fmt: skip
ERROR = {"msg", "detail"}


@pytest.fixture
def draft(lab: LabHandle) -> Iterator[tuple[LabClient, dict[str, str]]]:
    """A client, a draft version 2 of legacy, and the path placeholders."""
    with LabClient(lab) as world:
        sid = world.sid("legacy")
        world.ok("PUT", f"/service/{sid}/version/1/clone")
        did = world.ok("GET", f"/service/{sid}/version/1/dictionary/redirects")["id"]
        yield world, {"sid": sid, "did": did, "domain": LEGACY_HOST}


def _keys(body: Any) -> set[str]:
    assert isinstance(body, dict), body
    return set(body)


# (method, path, form body, status, the exact keys of the answer)
OBJECT_ROWS: list[tuple[str, str, dict[str, str] | None, int, set[str]]] = [
    ("GET", "/service/{sid}", None, 200, SERVICE),
    ("GET", "/service/{sid}/details", None, 200, DETAILS),
    ("GET", "/service/{sid}/version/1", None, 200, VERSION),
    ("GET", "/service/{sid}/version/active", None, 200, VERSION),
    ("PUT", "/service/{sid}/version/1/clone", None, 200, VERSION),
    ("POST", "/service/{sid}/version", None, 200, {"service_id", "number"}),
    ("POST", "/service/{sid}/version", {"comment": "c"}, 200, {"comment", "service_id", "number"}),
    ("PUT", "/service/{sid}/version/2/activate", None, 200, VERSION | {"environments", "msg"}),
    ("GET", "/service/{sid}/version/1/domain/{domain}", None, 200, DOMAIN),
    ("GET", "/service/{sid}/version/1/settings", None, 200, SETTINGS),
    ("GET", "/service/{sid}/version/1/dictionary/redirects", None, 200, DICTIONARY),
    ("PUT", "/service/{sid}/version/2/dictionary/redirects", {"name": "moved"}, 200, DICTIONARY),
    (
        "GET",
        "/service/{sid}/version/1/dictionary/{did}/info",
        None,
        200,
        {"item_count", "last_updated", "digest"},
    ),
    ("GET", "/service/{sid}/dictionary/{did}/item/mode", None, 200, ITEM),
    (
        "POST",
        "/service/{sid}/dictionary/{did}/item",
        {"item_key": "k", "item_value": "v"},
        200,
        ITEM,
    ),
    ("PATCH", "/service/{sid}/dictionary/{did}/item/mode", {"item_value": "301"}, 200, ITEM),
    ("PUT", "/service/{sid}/dictionary/{did}/item/mode", {"item_value": "301"}, 200, UPSERTED_ITEM),
    ("PUT", "/service/{sid}/dictionary/{did}/item/new", {"item_value": "x"}, 200, UPSERTED_ITEM),
    ("GET", "/service/{sid}/version/1/snippet/s3-signing", None, 200, SNIPPET),
    # refusals: Fastly's {"msg", "detail"}
    ("GET", "/service/nope", None, 404, ERROR),
    ("GET", "/service/{sid}/version/9", None, 404, ERROR),
    ("GET", "/service/{sid}/version/1/domain/nope.example/check", None, 404, ERROR),
    ("PUT", "/service/{sid}/version/1/dictionary/redirects", {"name": "x"}, 400, ERROR),
    ("PUT", "/service/{sid}/version/2/dictionary/redirects", {"name": "no-dash"}, 400, ERROR),
    ("PUT", "/service/{sid}/version/2/dictionary/nope", {"name": "x"}, 404, ERROR),
    ("GET", "/service/{sid}/version/1/dictionary/nope/info", None, 404, ERROR),
    ("GET", "/service/{sid}/dictionary/{did}/item/nope", None, 404, ERROR),
    ("DELETE", "/service/{sid}/version", None, 405, ERROR),
    ("GET", "/no/such/route", None, 404, ERROR),
]


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path", "body", "status", "keys"), OBJECT_ROWS)
def test_each_endpoint_answers_fastlys_status_and_exact_keys(
    draft, method, path, body, status, keys
):
    world, names = draft
    response = world.call(method, path.format(**names), data=body)
    assert response.status_code == status, response.text
    answer = response.json()
    if keys:
        assert _keys(answer) == keys
    if status >= 400:
        assert isinstance(answer["msg"], str) and isinstance(answer["detail"], str)


# (method, path, the exact keys of each element of the list answered)
LIST_ROWS: list[tuple[str, str, set[str]]] = [
    ("GET", "/service", LISTED_SERVICE),
    ("GET", "/service/{sid}/version", VERSION),
    ("GET", "/service/{sid}/version/1/domain", DOMAIN),
    ("GET", "/service/{sid}/version/1/domain?include=staging_ips", DOMAIN | {"staging_ip"}),
    ("GET", "/service/{sid}/version/1/dictionary", DICTIONARY),
    ("GET", "/service/{sid}/dictionary/{did}/items", ITEM),
    ("GET", "/service/{sid}/version/1/snippet", SNIPPET),
]


@pytest.mark.parametrize(("method", "path", "keys"), LIST_ROWS)
def test_each_list_endpoint_answers_elements_with_exact_keys(draft, method, path, keys):
    world, names = draft
    answer = world.ok(method, path.format(**names))
    assert isinstance(answer, list) and answer
    assert [set(element) for element in answer] == [keys] * len(answer)


def test_details_carry_the_versions_resources_with_fastlys_types(draft):
    world, names = draft
    details = world.ok("GET", f"/service/{names['sid']}/details")
    for version in (details["version"], details["active_version"]):
        assert set(version) == VERSION_DETAIL
        assert [d["name"] for d in version["dictionaries"]] == ["redirects"]
        assert set(version["dictionaries"][0]) == DICTIONARY
        assert [d["name"] for d in version["domains"]] == [LEGACY_HOST, BUCKET_HOST]
    snippet = details["version"]["snippets"][0]
    # numbers Fastly sends as strings stay strings
    assert (type(snippet["priority"]), type(snippet["dynamic"]), type(snippet["version"])) == (
        str,
        str,
        str,
    )
    assert isinstance(details["version"]["number"], int)


def test_create_version_is_an_empty_draft(draft):
    world, names = draft
    sid = names["sid"]
    created = world.ok("POST", f"/service/{sid}/version", data={"comment": "empty"})
    assert created == {"comment": "empty", "service_id": sid, "number": 3}
    version = world.ok("GET", f"/service/{sid}/version/3")
    assert (version["active"], version["locked"], version["comment"]) == (False, False, "empty")
    assert world.ok("GET", f"/service/{sid}/version/3/domain") == []
    assert world.ok("GET", f"/service/{sid}/version/3/settings")["general.default_ttl"] == 3600


def test_domain_checks_answer_triples_routed_by_the_lab(draft):
    world, names = draft
    sid = names["sid"]
    world.ok("POST", f"/service/{sid}/version/2/domain", data={"name": "new.lab.test"})
    checks = world.ok("GET", f"/service/{sid}/version/2/domain/check_all")
    assert [(c[0]["name"], c[1], c[2]) for c in checks] == [
        (LEGACY_HOST, None, True),
        (BUCKET_HOST, None, True),
        ("new.lab.test", None, False),  # not served by the active version: not set up
    ]
    assert all(set(c[0]) == DOMAIN for c in checks)
    one = world.ok("GET", f"/service/{sid}/version/2/domain/{LEGACY_HOST}/check")
    assert one == checks[0]


def test_staging_ips_only_when_asked(draft):
    world, names = draft
    path = f"/service/{names['sid']}/version/1/domain"
    assert {d.get("staging_ip") for d in world.ok("GET", path + "?include=staging_ips")} == {
        "127.0.0.1"
    }
    assert all("staging_ip" not in d for d in world.ok("GET", path))


def test_dictionary_rename_keeps_its_id_and_items(draft):
    world, names = draft
    sid, did = names["sid"], names["did"]
    renamed = world.ok("PUT", f"/service/{sid}/version/2/dictionary/redirects", data={"name": "r2"})
    assert (renamed["id"], renamed["name"], renamed["version"]) == (did, "r2", 2)
    assert world.call("GET", f"/service/{sid}/version/2/dictionary/redirects").status_code == 404
    assert world.ok("GET", f"/service/{sid}/version/1/dictionary/redirects")["id"] == did
    assert world.ok("GET", f"/service/{sid}/dictionary/{did}/item/mode")["item_value"] == "off"


def test_dictionary_info_counts_and_changes_with_the_items(draft):
    world, names = draft
    sid, did = names["sid"], names["did"]
    path = f"/service/{sid}/version/1/dictionary/{did}/info"
    before = world.ok("GET", path)
    assert before["item_count"] == 4
    assert before["last_updated"] == "2018-04-16 14:59:00"
    world.ok("PUT", f"/service/{sid}/dictionary/{did}/item/mode", data={"item_value": "301"})
    after = world.ok("GET", path)
    assert after["item_count"] == 4
    assert after["digest"] != before["digest"]
    assert len(after["digest"]) == 64


def test_upsert_answers_only_the_four_keys(draft):
    world, names = draft
    sid, did = names["sid"], names["did"]
    answer = world.ok(
        "PUT", f"/service/{sid}/dictionary/{did}/item/mode", data={"item_value": "302"}
    )
    assert answer == {
        "dictionary_id": did,
        "item_key": "mode",
        "item_value": "302",
        "service_id": sid,
    }


def test_activation_answers_the_version_with_msg_and_environments(draft):
    world, names = draft
    sid = names["sid"]
    answer = world.ok("PUT", f"/service/{sid}/version/2/activate")
    assert answer["msg"] is None  # no warnings
    assert (answer["environments"], answer["active"], answer["number"]) == ([], True, 2)
    assert set(answer) == VERSION | {"environments", "msg"}


def test_activation_msg_carries_the_warnings(draft):
    """A version Fastly would accept with a warning: no backends (a created version)."""
    world, names = draft
    sid = names["sid"]
    world.ok("POST", f"/service/{sid}/version")
    world.ok("POST", f"/service/{sid}/version/3/domain", data={"name": "empty.lab.test"})
    validated = world.ok("GET", f"/service/{sid}/version/3/validate")
    assert validated["status"] == "ok"
    assert validated["warnings"] == [
        "Warning: No backends defined: every request without one fails"
    ]
    answer = world.ok("PUT", f"/service/{sid}/version/3/activate")
    assert answer["msg"] == "Warning: No backends defined: every request without one fails"
