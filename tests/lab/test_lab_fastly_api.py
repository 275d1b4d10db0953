"""The Fastly-compatible API: shapes, version life cycle, refusals in Fastly's style."""

from __future__ import annotations

import httpx
import pytest

from cutover.lab.hostnames import BUCKET_HOST, FILES_HOST, LEGACY_HOST

VERSION_KEYS = {
    "active",
    "comment",
    "created_at",
    "deleted_at",
    "deployed",
    "locked",
    "number",
    "service_id",
    "staging",
    "testing",
    "updated_at",
}


@pytest.mark.parametrize(
    "headers", [{}, {"Fastly-Key": "wrong"}, {"Authorization": "Bearer whatever"}]
)
def test_missing_or_wrong_token_is_401(lab, headers):
    response = httpx.get(f"{lab.api_url}/service", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"msg": "Provided credentials are missing or invalid"}
    admin = httpx.post(f"{lab.api_url}/lab/reset", headers=headers)
    assert admin.status_code == 401


def test_list_services_search_and_details(world):
    services = world.ok("GET", "/service")
    assert [s["name"] for s in services] == ["legacy", "warehouse", "files"]
    files = services[2]
    assert files["id"] == world.sid("files")
    assert files["type"] == "vcl"
    assert files["version"] == 1
    assert [set(v) for v in files["versions"]] == [VERSION_KEYS]

    found = world.ok("GET", "/service/search", params={"name": "legacy"})
    assert found["id"] == world.sid("legacy")
    missing = world.call("GET", "/service/search", params={"name": "nope"})
    assert missing.status_code == 404
    assert missing.json()["msg"] == "Record not found"

    details = world.ok("GET", f"/service/{world.sid('legacy')}/details")
    assert details["active_version"]["number"] == 1
    assert [d["name"] for d in details["active_version"]["domains"]] == [LEGACY_HOST, BUCKET_HOST]
    assert details["version"]["settings"]["general.default_ttl"] == 3600
    snippets = {x["name"]: x for x in details["version"]["snippets"]}
    assert snippets["s3-signing"]["type"] == "miss"
    assert (snippets["s3-signing"]["priority"], snippets["s3-signing"]["dynamic"]) == ("100", "0")
    assert [b["name"] for b in details["version"]["backends"]] == ["F_Legacy", "F_S3"]


def test_clone_edit_validate_activate_deactivate_lock(world):
    sid = world.sid("files")
    clone = world.ok("PUT", f"/service/{sid}/version/1/clone")
    assert clone == {**clone, "number": 2, "active": False, "locked": False, "service_id": sid}
    assert set(clone) == VERSION_KEYS

    settings = world.ok(
        "PUT", f"/service/{sid}/version/2/settings", data={"general.default_ttl": "60"}
    )
    assert settings["service_id"] == sid
    assert settings["version"] == 2
    assert settings["general.default_ttl"] == 60
    # the active version is untouched
    assert world.ok("GET", f"/service/{sid}/version/1/settings")["general.default_ttl"] == 3600

    domain = world.ok("POST", f"/service/{sid}/version/2/domain", data={"name": "files.lab.test"})
    assert domain["name"] == "files.lab.test"
    assert domain["version"] == 2
    names = [d["name"] for d in world.ok("GET", f"/service/{sid}/version/2/domain")]
    assert names == [FILES_HOST, "files.lab.test"]
    assert world.ok("GET", f"/service/{sid}/version/2/domain/files.lab.test")["name"] == (
        "files.lab.test"
    )
    assert world.ok("DELETE", f"/service/{sid}/version/2/domain/files.lab.test") == {"status": "ok"}

    validation = world.ok("GET", f"/service/{sid}/version/2/validate")
    assert validation == {
        "status": "ok",
        "msg": None,
        "errors": [],
        "warnings": [],
        "messages": [],
    }
    activated = world.ok("PUT", f"/service/{sid}/version/2/activate")
    assert (activated["number"], activated["active"], activated["locked"]) == (2, True, True)
    versions = world.ok("GET", f"/service/{sid}/version")
    assert [(v["number"], v["active"], v["locked"]) for v in versions] == [
        (1, False, True),
        (2, True, True),
    ]
    assert world.ok("GET", f"/service/{sid}/version/active")["number"] == 2

    deactivated = world.ok("PUT", f"/service/{sid}/version/2/deactivate")
    assert deactivated["active"] is False
    gone = world.get(f"http://{FILES_HOST}/packages/x?q")
    assert gone.status_code == 500
    assert gone.text.startswith(f"Fastly error: unknown domain: {FILES_HOST}.")

    world.ok("PUT", f"/service/{sid}/version/1/activate")
    draft = world.ok("PUT", f"/service/{sid}/version/1/clone")["number"]
    locked = world.ok("PUT", f"/service/{sid}/version/{draft}/lock")
    assert locked["locked"] is True


def _refusal(response: httpx.Response, status: int, msg: str, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"msg": msg, "detail": detail}


def test_refusals_for_unknown_things(world):
    sid = world.sid("legacy")
    _refusal(
        world.call("GET", "/service/nope"), 404, "Record not found", "Cannot find service 'nope'"
    )
    _refusal(
        world.call("GET", f"/service/{sid}/version/9"),
        404,
        "Record not found",
        f"Cannot find service version '{sid}' '9'",
    )
    _refusal(
        world.call("GET", f"/service/{sid}/version/1/dictionary/nope"),
        404,
        "Record not found",
        "Couldn't find Dictionary 'nope'",
    )
    _refusal(
        world.call("GET", f"/service/{sid}/dictionary/nope/items"),
        404,
        "Record not found",
        "Couldn't find Dictionary 'nope'",
    )
    did = world.redirect_dictionary()
    _refusal(
        world.call("GET", f"/service/{sid}/dictionary/{did}/item/nope"),
        404,
        "Record not found",
        f'Couldn\'t find DictionaryItem \'["{did}", "nope"]\'',
    )
    _refusal(
        world.call("GET", f"/service/{sid}/version/1/domain/nope.example"),
        404,
        "Record not found",
        f'Couldn\'t find Domain \'["{sid}", 1, "nope.example"]\'',
    )


def test_refusals_for_editing_active_or_locked_versions(world):
    sid = world.sid("files")
    _refusal(
        world.call("PUT", f"/service/{sid}/version/1/settings", data={"general.default_ttl": "60"}),
        400,
        "Bad request",
        "Version 1 is locked",
    )
    _refusal(
        world.call("POST", f"/service/{sid}/version/1/domain", data={"name": "x.example"}),
        400,
        "Bad request",
        "Version 1 is locked",
    )
    _refusal(
        world.call("DELETE", f"/service/{sid}/version/1/domain/{FILES_HOST}"),
        400,
        "Bad request",
        "Version 1 is locked",
    )
    draft = world.ok("PUT", f"/service/{sid}/version/1/clone")["number"]
    world.ok("PUT", f"/service/{sid}/version/{draft}/lock")
    _refusal(
        world.call(
            "PUT", f"/service/{sid}/version/{draft}/settings", data={"general.default_ttl": "60"}
        ),
        400,
        "Bad request",
        f"Version {draft} is locked",
    )


def test_refusal_for_a_domain_claimed_by_another_service(world):
    sid = world.sid("files")
    draft = world.ok("PUT", f"/service/{sid}/version/1/clone")["number"]
    _refusal(
        world.call("POST", f"/service/{sid}/version/{draft}/domain", data={"name": BUCKET_HOST}),
        400,
        "Bad request",
        f"Domain '{BUCKET_HOST}' is already taken by service 'legacy'",
    )
    _refusal(
        world.call("POST", f"/service/{sid}/version/{draft}/domain", data={"name": FILES_HOST}),
        409,
        "Duplicate record",
        f"Duplicate domain: '{FILES_HOST}'",
    )
    # once legacy lets go of it, files may claim it; re-activating legacy v1 is refused
    world.new_version("legacy", remove_domains=(BUCKET_HOST,))
    world.ok("POST", f"/service/{sid}/version/{draft}/domain", data={"name": BUCKET_HOST})
    world.ok("PUT", f"/service/{sid}/version/{draft}/activate")
    _refusal(
        world.call("PUT", f"/service/{world.sid('legacy')}/version/1/activate"),
        400,
        "Bad request",
        f"Domain '{BUCKET_HOST}' is already taken by service 'files'",
    )


def test_invalid_settings_value_and_deactivating_an_inactive_version(world):
    sid = world.sid("files")
    draft = world.ok("PUT", f"/service/{sid}/version/1/clone")["number"]
    _refusal(
        world.call(
            "PUT", f"/service/{sid}/version/{draft}/settings", json={"general.default_ttl": "soon"}
        ),
        400,
        "Bad request",
        "Invalid value for general.default_ttl: 'soon'",
    )
    _refusal(
        world.call("PUT", f"/service/{sid}/version/{draft}/deactivate"),
        400,
        "Bad request",
        f"Version {draft} is not active",
    )


def test_dictionary_items_single_calls(world):
    sid = world.sid("legacy")
    did = world.redirect_dictionary()
    base = f"/service/{sid}/dictionary/{did}"
    items = world.ok("GET", f"{base}/items")
    assert [(i["item_key"], i["item_value"]) for i in items] == [
        ("mode", "off"),
        ("percent", "100"),
        ("prefixes", "/"),
        ("target_host", "pypi.org"),
    ]
    assert set(items[0]) == {
        "created_at",
        "deleted_at",
        "dictionary_id",
        "item_key",
        "item_value",
        "service_id",
        "updated_at",
    }
    created = world.ok("POST", f"{base}/item", data={"item_key": "note", "item_value": "hi"})
    assert (created["item_key"], created["item_value"], created["dictionary_id"]) == (
        "note",
        "hi",
        did,
    )
    _refusal(
        world.call("POST", f"{base}/item", data={"item_key": "note", "item_value": "again"}),
        409,
        "Duplicate record",
        "Duplicate dictionary_item: 'note'",
    )
    assert (
        world.ok("PATCH", f"{base}/item/note", data={"item_value": "there"})["item_value"]
        == "there"
    )
    assert world.ok("PUT", f"{base}/item/other", data={"item_value": "x"})["item_value"] == "x"
    assert world.ok("GET", f"{base}/item/other")["item_value"] == "x"
    assert world.ok("DELETE", f"{base}/item/other") == {"status": "ok"}
    _refusal(
        world.call("PATCH", f"{base}/item/other", data={"item_value": "y"}),
        404,
        "Record not found",
        f'Couldn\'t find DictionaryItem \'["{did}", "other"]\'',
    )
    # items are versionless: a clone's dictionary shares them
    draft = world.ok("PUT", f"/service/{sid}/version/1/clone")["number"]
    cloned = world.ok("GET", f"/service/{sid}/version/{draft}/dictionary/redirects")
    assert cloned["id"] == did


def test_bulk_items_apply_all_or_nothing(world):
    sid = world.sid("legacy")
    did = world.redirect_dictionary()
    base = f"/service/{sid}/dictionary/{did}"
    ops = {
        "items": [
            {"op": "update", "item_key": "mode", "item_value": "301"},
            {"op": "create", "item_key": "extra", "item_value": "1"},
            {"op": "update", "item_key": "missing", "item_value": "1"},
        ]
    }
    _refusal(
        world.call("PATCH", f"{base}/items", json=ops),
        404,
        "Record not found",
        f'Couldn\'t find DictionaryItem \'["{did}", "missing"]\'',
    )
    assert world.ok("GET", f"{base}/item/mode")["item_value"] == "off"
    assert world.call("GET", f"{base}/item/extra").status_code == 404

    ops["items"][2] = {"op": "delete", "item_key": "prefixes"}
    ops["items"].append({"op": "upsert", "item_key": "percent", "item_value": "50"})
    assert world.ok("PATCH", f"{base}/items", json=ops) == {"status": "ok"}
    values = {i["item_key"]: i["item_value"] for i in world.ok("GET", f"{base}/items")}
    assert values == {"mode": "301", "extra": "1", "percent": "50", "target_host": "pypi.org"}

    _refusal(
        world.call(
            "PATCH", f"{base}/items", json={"items": [{"op": "frobnicate", "item_key": "a"}]}
        ),
        400,
        "Bad request",
        "items[0].op must be create, update, upsert or delete",
    )


def test_redirect_dictionary_takes_effect_at_once_without_a_new_version(world):
    assert world.get(f"http://{LEGACY_HOST}/simple/peppercorn/").status_code == 200
    world.set_redirect(mode="302", prefixes="/simple/")
    redirected = world.get(f"http://{LEGACY_HOST}/simple/peppercorn/")
    assert redirected.status_code == 302
    assert redirected.headers["location"] == "http://pypi.org/simple/peppercorn/"
    assert world.get(f"http://{LEGACY_HOST}/pypi/peppercorn/json").status_code == 200
    assert world.active_version("legacy") == 1


def test_unknown_route_and_wrong_method(world):
    _refusal(
        world.call("GET", "/nothing"), 404, "Record not found", "Cannot find the requested route"
    )
    _refusal(
        world.call("DELETE", f"/service/{world.sid('files')}/version/1/clone"),
        405,
        "Method not allowed",
        "Allowed: PUT",
    )


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (
            "set bereq.http.X = client.ip;",
            "VCL: snippet s3-signing:1:20: refused: variable 'client.ip'"
            " is not in the lab's subset",
        ),
        (
            "restart;",
            "VCL: snippet s3-signing:1:1: refused: restart is not in the lab's VCL subset",
        ),
        (
            'if (req.url ~ "^/") {\n  return(lookup);\n}',
            "VCL: snippet s3-signing:2:3: return(lookup) is not allowed in vcl_miss"
            " (allowed: error, fetch, pass)",
        ),
    ],
)
def test_vcl_outside_the_subset_fails_validation_and_activation_located(world, content, detail):
    sid = world.sid("files")
    draft = world.ok("PUT", f"/service/{sid}/version/1/clone")["number"]
    world.ok("PUT", f"/service/{sid}/version/{draft}/snippet/s3-signing", data={"content": content})
    checked = world.ok("GET", f"/service/{sid}/version/{draft}/validate")
    assert (checked["status"], checked["errors"]) == ("error", [detail])
    _refusal(
        world.call("PUT", f"/service/{sid}/version/{draft}/activate"), 400, "Bad request", detail
    )
    assert world.active_version("files") == 1
