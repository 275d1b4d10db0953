"""Conditions, headers, backends, custom VCL files and dynamic snippets in the lab's
Fastly API: Fastly's wire shapes, and the nodes executing them."""

from __future__ import annotations

from typing import Any

import pytest

from cutover.lab.hostnames import BUCKET_HOST, SHIELD_NODE, WAREHOUSE_HOST
from cutover.testing import LabClient

STAMPS = ("created_at", "updated_at")
PROJECT = f"http://{WAREHOUSE_HOST}/simple/peppercorn/"
JSON = f"http://{WAREHOUSE_HOST}/pypi/peppercorn/json"


def _draft(world: LabClient, service: str = "warehouse") -> tuple[str, str]:
    sid = world.sid(service)
    number = world.ok("PUT", f"/service/{sid}/version/{world.active_version(service)}/clone")
    return sid, f"/service/{sid}/version/{number['number']}"


def _strip(body: dict[str, Any]) -> dict[str, Any]:
    assert all(isinstance(body[k], str) and body[k] for k in STAMPS)
    return {k: v for k, v in body.items() if k not in STAMPS}


def _activate(world: LabClient, version: str) -> None:
    checked = world.ok("GET", f"{version}/validate")
    assert (checked["status"], checked["errors"]) == ("ok", [])
    assert world.ok("PUT", f"{version}/activate")["active"] is True


def test_condition_crud_wire_shape(world):
    sid, version = _draft(world)
    number = version.rsplit("/", 1)[1]
    created = world.ok(
        "POST",
        f"{version}/condition",
        data={"name": "is-simple", "statement": 'req.url ~ "^/simple/"', "type": "request"},
    )
    expected = {
        "comment": "",
        "deleted_at": None,
        "name": "is-simple",
        "priority": "100",
        "service_id": sid,
        "statement": 'req.url ~ "^/simple/"',
        "type": "REQUEST",
        "version": number,
    }
    assert _strip(created) == expected
    assert [_strip(c) for c in world.ok("GET", f"{version}/condition")] == [expected]
    updated = world.ok("PUT", f"{version}/condition/is-simple", data={"priority": "5"})
    assert _strip(updated) == {**expected, "priority": "5"}
    assert _strip(world.ok("GET", f"{version}/condition/is-simple"))["priority"] == "5"
    assert world.ok("DELETE", f"{version}/condition/is-simple") == {"status": "ok"}
    gone = world.call("GET", f"{version}/condition/is-simple")
    assert (gone.status_code, gone.json()) == (
        404,
        {"msg": "Record not found", "detail": "Couldn't find Condition 'is-simple'"},
    )


def test_header_crud_wire_shape(world):
    sid, version = _draft(world)
    number = version.rsplit("/", 1)[1]
    created = world.ok(
        "POST",
        f"{version}/header",
        data={
            "name": "hsts",
            "action": "set",
            "type": "response",
            "dst": "http.Strict-Transport-Security",
            "src": '"max-age=31536000"',
            "ignore_if_set": "1",
            "priority": "10",
        },
    )
    assert _strip(created) == {
        "action": "set",
        "cache_condition": None,
        "deleted_at": None,
        "dst": "http.Strict-Transport-Security",
        "ignore_if_set": "1",
        "name": "hsts",
        "priority": "10",
        "regex": None,
        "request_condition": None,
        "response_condition": None,
        "service_id": sid,
        "src": '"max-age=31536000"',
        "substitution": None,
        "type": "response",
        "version": number,
    }
    renamed = world.ok("PUT", f"{version}/header/hsts", data={"name": "sts"})
    assert renamed["name"] == "sts"
    assert [h["name"] for h in world.ok("GET", f"{version}/header")] == ["sts"]


def test_backend_crud_wire_shape_and_port_implies_ssl(world):
    sid, version = _draft(world)
    created = world.ok(
        "POST",
        f"{version}/backend",
        data={
            "name": "F_Mirror",
            "address": "warehouse.lab.internal",
            "port": "80",
            "override_host": "pypi.org",
            "shield": "lab-shield",
        },
    )
    assert set(created) == {
        "address", "auto_loadbalance", "between_bytes_timeout", "client_cert", "comment",
        "connect_timeout", "created_at", "deleted_at", "fetch_timeout", "first_byte_timeout",
        "healthcheck", "hostname", "ipv4", "ipv6", "keepalive_time", "locked", "max_conn",
        "max_lifetime", "max_tls_version", "max_use", "min_tls_version", "name",
        "override_host", "port", "prefer_ipv6", "request_condition", "service_id", "share_key",
        "shield", "ssl_ca_cert", "ssl_cert_hostname", "ssl_check_cert", "ssl_ciphers",
        "ssl_client_cert", "ssl_client_key", "ssl_hostname", "ssl_sni_hostname",
        "tcp_keepalive_enable", "tcp_keepalive_interval", "tcp_keepalive_probes",
        "tcp_keepalive_time", "updated_at", "use_ssl", "version", "weight",
    }  # fmt: skip
    assert (created["port"], created["use_ssl"], created["version"]) == (
        80,
        False,
        int(version.rsplit("/", 1)[1]),
    )
    assert (created["override_host"], created["shield"], created["hostname"]) == (
        "pypi.org",
        "lab-shield",
        "warehouse.lab.internal",
    )
    listed = world.ok("GET", f"{version}/backend")
    assert [b["name"] for b in listed] == ["F_Warehouse", "F_Mirror"]
    updated = world.ok("PUT", f"{version}/backend/F_Mirror", data={"port": "443"})
    assert (updated["port"], updated["use_ssl"]) == (443, True)
    assert world.ok("DELETE", f"{version}/backend/F_Mirror") == {"status": "ok"}
    assert sid in world.ok("GET", f"{version}/backend/F_Warehouse")["service_id"]


def test_custom_vcl_crud_and_main(world):
    sid, version = _draft(world)
    number = int(version.rsplit("/", 1)[1])
    first = world.ok("POST", f"{version}/vcl", data={"name": "a", "content": "# a", "main": "true"})
    assert _strip(first) == {
        "content": "# a",
        "deleted_at": None,
        "main": True,
        "name": "a",
        "service_id": sid,
        "version": number,
    }
    world.ok("POST", f"{version}/vcl", data={"name": "b", "content": "# b"})
    marked = world.ok("PUT", f"{version}/vcl/b/main")
    assert (marked["name"], marked["main"]) == ("b", True)
    assert {v["name"]: v["main"] for v in world.ok("GET", f"{version}/vcl")} == {
        "a": False,
        "b": True,
    }
    details = world.ok("GET", f"/service/{sid}/details", params={"version": number})
    assert [v["name"] for v in details["version"]["vcls"]] == ["a", "b"]


@pytest.mark.parametrize(
    ("kind", "data", "status", "detail"),
    [
        ("condition", {"name": "c", "statement": "true", "type": "PREFETCHX"}, 400,
         "Type must be one of: REQUEST, CACHE, RESPONSE"),
        ("condition", {"name": "c", "type": "REQUEST"}, 400, "Statement can't be blank"),
        ("header", {"name": "h", "action": "move", "type": "request", "dst": "http.X"}, 400,
         "Action must be one of: set, append, delete, regex, regex_repeat"),
        ("header", {"name": "h", "action": "set", "type": "request", "dst": "X-Foo"}, 400,
         "Dst must be http.NAME (a header) or url"),
        ("backend", {"name": "b", "address": "x", "port": "https"}, 400, "Port must be a number"),
        ("backend", {"name": "F_Warehouse", "address": "x"}, 409,
         "Duplicate backend: 'F_Warehouse'"),
        ("vcl", {"name": "", "content": ""}, 400, "Name can't be blank"),
    ],
)  # fmt: skip
def test_bad_resource_fields_are_refused(world, kind, data, status, detail):
    _, version = _draft(world)
    refused = world.call("POST", f"{version}/{kind}", data=data)
    msg = "Duplicate record" if status == 409 else "Bad request"
    assert (refused.status_code, refused.json()) == (status, {"msg": msg, "detail": detail})


def test_editing_an_active_version_is_refused(world):
    sid = world.sid("warehouse")
    refused = world.call(
        "POST", f"/service/{sid}/version/1/condition", data={"name": "c", "statement": "true",
                                                              "type": "REQUEST"}
    )  # fmt: skip
    assert (refused.status_code, refused.json()["detail"]) == (400, "Version 1 is locked")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"action": "set", "src": '"lab"'}, "lab"),
        ({"action": "set", "src": '"lab"', "ignore_if_set": "1", "dst": "http.Content-Type"},
         "text/html; charset=utf-8"),
        # response headers run on every node: the shield's, then the edge's
        ({"action": "append", "src": '", lab"', "dst": "http.Content-Type"},
         "text/html; charset=utf-8, lab, lab"),
        ({"action": "delete", "dst": "http.Content-Type"}, None),
        ({"action": "regex", "src": "resp.http.Content-Type", "regex": "^text/",
          "substitution": "plain/", "dst": "http.Content-Type"}, "plain/html; charset=utf-8"),
        ({"action": "regex_repeat", "src": "resp.http.Content-Type", "regex": "t",
          "substitution": "T", "dst": "http.Content-Type"}, "TexT/hTml; charseT=uTf-8"),
    ],
)  # fmt: skip
def test_response_headers_run_on_the_nodes(world, header, expected):
    _, version = _draft(world)
    fields = {"name": "h", "type": "response", "dst": "http.X-Lab", **header}
    world.ok("POST", f"{version}/header", data=fields)
    _activate(world, version)
    answer = world.get(PROJECT)
    assert answer.status_code == 200
    assert answer.headers.get(fields["dst"][len("http.") :]) == expected


def test_conditions_gate_headers_and_select_backends(world):
    _, version = _draft(world)
    conditions = {
        "is-project": ('req.url ~ "^/project/"', "REQUEST"),
        "is-json": ('req.url ~ "/json$"', "REQUEST"),
        "is-ok": ("resp.status == 200", "RESPONSE"),
        "fetched-ok": ("beresp.status == 200", "CACHE"),
    }
    for name, (statement, type_) in conditions.items():
        world.ok("POST", f"{version}/condition",
                 data={"name": name, "statement": statement, "type": type_})  # fmt: skip
    headers = [
        ("mark", "request", "http.X-Mark", '"json"', "request_condition", "is-json"),
        ("echo", "response", "http.X-Echo", "req.http.X-Mark", "response_condition", "is-ok"),
        ("fetched", "cache", "http.X-Fetched", '"yes"', "cache_condition", "fetched-ok"),
    ]
    for name, type_, dst, src, field, condition in headers:
        world.ok("POST", f"{version}/header",
                 data={"name": name, "action": "set", "type": type_, "dst": dst, "src": src,
                       field: condition})  # fmt: skip
    world.ok("POST", f"{version}/backend",
             data={"name": "F_Nowhere", "address": "nowhere.lab.internal",
                   "request_condition": "is-project"})  # fmt: skip
    world.ok("PUT", f"{version}/snippet/warehouse-backend", data={"content": ""})
    _activate(world, version)
    project = world.get(f"http://{WAREHOUSE_HOST}/project/peppercorn/")
    assert (project.status_code, project.text) == (
        503,
        "Error 503 Backend unavailable\n\nF_Nowhere\n",
    )
    json_page = world.get(JSON)
    assert json_page.status_code == 200
    assert (json_page.headers.get("X-Echo"), json_page.headers.get("X-Fetched")) == ("json", "yes")
    simple = world.get(PROJECT)
    assert (simple.status_code, simple.headers.get("X-Echo")) == (200, None)


def test_custom_main_vcl_replaces_the_boilerplate_with_snippets_at_its_macros(world):
    _, version = _draft(world)
    main = (
        'include "teapots";\n'
        "sub vcl_recv {\n#FASTLY recv\n  call teapot;\n  return(lookup);\n}\n"
        'sub vcl_deliver {\n#FASTLY deliver\n  set resp.http.X-Main = "custom";\n'
        "  return(deliver);\n}\n"
    )
    teapots = 'sub teapot {\n  if (req.url.path == "/teapot") {\n    error 418 "teapot";\n  }\n}\n'
    world.ok("POST", f"{version}/vcl", data={"name": "teapots", "content": teapots})
    world.ok("POST", f"{version}/vcl", data={"name": "main", "content": main, "main": "1"})
    _activate(world, version)
    teapot = world.get(f"http://{WAREHOUSE_HOST}/teapot")
    assert (teapot.status_code, teapot.text) == (418, "Error 418 teapot\n")
    project = world.get(PROJECT)  # the warehouse-backend snippet, at #FASTLY recv
    assert (project.status_code, project.headers["X-Main"]) == (200, "custom")


@pytest.mark.parametrize(
    ("resources", "detail"),
    [
        ([("condition", {"name": "c", "statement": 'client.ip ~ "1"', "type": "REQUEST"}),
          ("header", {"name": "h", "action": "set", "type": "request", "dst": "http.X",
                      "src": '"1"', "request_condition": "c"})],
         "VCL: condition c:1:1: refused: variable 'client.ip' is not in the lab's subset"),
        ([("header", {"name": "h", "action": "set", "type": "request", "dst": "http.X",
                      "src": '"a"; error 403'})],
         "VCL: header h src:1:4: expected the end of the expression, found ';'"),
        ([("header", {"name": "h", "action": "set", "type": "request", "dst": "http.X",
                      "src": '"a"', "request_condition": "missing"})],
         "VCL: header h:1:1: request_condition 'missing': no such REQUEST condition"),
        ([("condition", {"name": "late", "statement": "resp.status == 200",
                         "type": "RESPONSE"}),
          ("header", {"name": "h", "action": "set", "type": "request", "dst": "http.X",
                      "src": '"a"', "response_condition": "late"})],
         "VCL: header h:1:1: a request header takes a request_condition,"
         " not a response_condition"),
        ([("vcl", {"name": "main.vcl", "main": "1",
                   "content": "sub vcl_recv {\n#FASTLY recv\n  restart;\n}\n"})],
         "VCL: main.vcl:3:3: refused: restart is not in the lab's VCL subset"),
    ],
)  # fmt: skip
def test_vcl_outside_the_subset_is_refused_located(world, resources, detail):
    _, version = _draft(world)
    for kind, data in resources:
        world.ok("POST", f"{version}/{kind}", data=data)
    checked = world.ok("GET", f"{version}/validate")
    assert (checked["status"], checked["errors"]) == ("error", [detail])
    refused = world.call("PUT", f"{version}/activate")
    assert (refused.status_code, refused.json()) == (
        400,
        {"msg": "Bad request", "detail": detail},
    )
    assert world.active_version("warehouse") == 1


def test_dynamic_snippet_updates_without_activation(world):
    sid, version = _draft(world)
    created = world.ok(
        "POST",
        f"{version}/snippet",
        data={"name": "tag", "type": "deliver", "dynamic": "1",
              "content": 'set resp.http.X-Tag = "one";'},
    )  # fmt: skip
    assert (created["dynamic"], created["content"]) == ("1", None)
    _activate(world, version)
    assert world.get(PROJECT).headers["X-Tag"] == "one"
    path = f"/service/{sid}/snippet/{created['id']}"
    updated = world.ok("PUT", path, data={"content": 'set resp.http.X-Tag = "two";'})
    assert _strip(updated) == {
        "content": 'set resp.http.X-Tag = "two";',
        "service_id": sid,
        "snippet_id": created["id"],
    }
    assert world.get(PROJECT).headers["X-Tag"] == "two"
    assert world.ok("GET", path)["content"] == 'set resp.http.X-Tag = "two";'


@pytest.mark.parametrize(
    ("override_host", "status", "code"),
    [("", 404, "NoSuchBucket"), (BUCKET_HOST, 403, "AccessDenied")],
)
def test_a_backends_override_host_is_the_host_the_origin_sees(world, override_host, status, code):
    _, version = _draft(world)
    world.ok(
        "POST",
        f"{version}/condition",
        data={"name": "is-bucket", "statement": 'req.url ~ "^/bucket/"', "type": "REQUEST"},
    )
    world.ok(
        "POST",
        f"{version}/backend",
        data={
            "name": "F_Bucket",
            "address": BUCKET_HOST,
            "shield": SHIELD_NODE,
            "override_host": override_host,
            "request_condition": "is-bucket",
        },
    )
    # the recv snippet runs after the generated backend selection: it would override it
    world.ok("PUT", f"{version}/snippet/warehouse-backend", data={"content": ""})
    _activate(world, version)  # fmt: skip
    answer = world.get(f"http://{WAREHOUSE_HOST}/bucket/x")
    assert (answer.status_code, f"<Code>{code}</Code>" in answer.text) == (status, True)


def test_a_custom_main_vcl_without_vcl_hash_keys_the_cache_by_url_and_host(world):
    sid = world.sid("files")
    draft = world.ok("PUT", f"/service/{sid}/version/1/clone")["number"]
    version = f"/service/{sid}/version/{draft}"
    main = (
        "sub vcl_recv {\n#FASTLY recv\n  return(lookup);\n}\n"
        "sub vcl_miss {\n#FASTLY miss\n  return(fetch);\n}\n"
    )
    world.ok("POST", f"{version}/vcl", data={"name": "main", "content": main, "main": "1"})
    _activate(world, version)
    first, second = world.catalog.files[0], world.catalog.files[1]
    for f in (first, second, first):
        answer = world.get(world.hash_url(f, query="fresh"))
        assert (answer.status_code, answer.content) == (200, f.content)


def test_the_same_vcl_placed_at_another_macro_is_another_program():
    from cutover.lab.state import Service, Snippet, Version
    from cutover.lab.vcl_service import Programs

    def service(type_: str) -> tuple[Service, Version]:
        snippet = Snippet("id", "s", type_, 'set req.http.X-Where = "here";')
        version = Version(1, snippets=[snippet])
        return Service("sid", "svc", versions=[version]), version

    programs = Programs()
    in_recv = programs.get(*service("recv"))
    in_miss = programs.get(*service("miss"))
    assert in_recv is not in_miss
