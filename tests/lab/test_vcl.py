"""The lab's VCL subset: lexer, parser and compiler/evaluator, table-driven."""

from __future__ import annotations

import hashlib

import pytest

from cutover.lab.vcl import BackendRef, Context, Message, VclError, VclSource, compile_program

HELPER = 'sub helper {\n set req.http.X = "from-helper";\n return;\n}\n'


def run_recv(body: str, *, prelude: str = "") -> tuple[str | None, Context]:
    """Compile ``prelude`` + ``sub vcl_recv { body }`` and run it on one request."""
    program = compile_program(
        VclSource("main.vcl", prelude + "sub vcl_recv {\n" + body + "\n}\n"),
        tables=("t",),
        backends=("F_origin", "F_s3"),
    )
    ctx = Context(
        req=Message.from_headers([("Host", "example.org")], url="/p/x?q=1"),
        tables={"t": {"k": "v"}},
        backends={"F_origin": BackendRef("F_origin"), "F_s3": BackendRef("shield", True, "F_s3")},
        server_identity="cache-lab-edge1",
        now="Mon, 16 Apr 2018 15:00:00 GMT",
    )
    return program.run("vcl_recv", ctx), ctx


# (VCL statements, the expected value of req.http.X after vcl_recv)
EXPRESSIONS = [
    ('set req.http.X = "a" "b";', "ab"),
    ('set req.http.X = "a" + req.url.path;', "a/p/x"),
    ("set req.http.X = req.url.qs;", "q=1"),
    ('set req.http.X = "%41%0a";', "A\n"),
    ('set req.http.X = {"long "string""};', 'long "string"'),
    ('if (req.url ~ "^/p/") { set req.http.X = "m"; } else { set req.http.X = "n"; }', "m"),
    ('if (req.url !~ "^/p/") { set req.http.X = "m"; } else { set req.http.X = "n"; }', "n"),
    ('if (req.url ~ "^/(p)/(x)") { set req.http.X = re.group.2 re.group.1; }', "xp"),
    ('if (req.http.Host == "example.org" && !req.http.Missing) { set req.http.X = "y"; }', "y"),
    ('if (req.http.Missing || req.http.Host != "a") { set req.http.X = "y"; }', "y"),
    ('if (false) { set req.http.X = "1"; } else if (true) { set req.http.X = "2"; }', "2"),
    ('if (false) { set req.http.X = "1"; } elsif (false) { } else { set req.http.X = "3"; }', "3"),
    ('set req.http.X = regsub("aaa", "a", "b");', "baa"),
    ('set req.http.X = regsuball("aaa", "a", "b");', "bbb"),
    ('set req.http.X = regsub("/x/y", "^/(x)/(y)$", "\\2\\1");', "yx"),
    ('set req.http.X = std.atoi("42abc");', "42"),
    ('set req.http.X = std.strtol("ff", 16);', "255"),
    ('set req.http.X = substr("abcdef", 1, 3);', "bcd"),
    ('set req.http.X = substr("abcdef", -2);', "ef"),
    ('set req.http.X = std.tolower("AbC");', "abc"),
    ('set req.http.X = digest.hash_md5("a");', hashlib.md5(b"a").hexdigest()),
    ('set req.http.X = digest.hash_sha256("a");', hashlib.sha256(b"a").hexdigest()),
    ('set req.http.X = table.lookup(t, "k");', "v"),
    ('set req.http.X = table.lookup(t, "nope", "default");', "default"),
    ('if (table.contains(t, "k")) { set req.http.X = "yes"; }', "yes"),
    ("declare local var.n INTEGER; set var.n = 2; set var.n += 3; set req.http.X = var.n;", "5"),
    (
        'declare local var.s STRING; set var.s = "a"; set var.s += "b"; set req.http.X = var.s;',
        "ab",
    ),
    ("set req.http.X = server.identity;", "cache-lab-edge1"),
    ("set req.http.X = now;", "Mon, 16 Apr 2018 15:00:00 GMT"),
    ("set req.http.X = fastly.ff.visits_this_service;", "0"),
    ('set req.http.X = "a" LF "b";', "a\nb"),
    ('set req.http.X = "1"; unset req.http.X;', None),
    ('set req.http.X = "1"; remove req.http.X;', None),
    ("set req.backend = F_origin; set req.http.X = req.backend.is_origin;", "1"),
    ("set req.backend = F_s3; set req.http.X = req.backend.is_shield;", "1"),
    ("set req.backend = F_s3; set req.http.X = req.backend.is_origin;", "0"),
    (
        "declare local var.n INTEGER; set var.n = 107; set var.n %= 100; set req.http.X = var.n;",
        "7",
    ),
    (
        "declare local var.n INTEGER; set var.n = 7; set var.n *= 3; set var.n /= 2;"
        " set req.http.X = var.n;",
        "10",
    ),
    ('if (std.prefixof(req.url, "/p/")) { set req.http.X = "prefix"; }', "prefix"),
    ('if (2 < 3 && 3 >= 3) { set req.http.X = "cmp"; }', "cmp"),
    ("call helper;", "from-helper"),
]


@pytest.mark.parametrize(("body", "expected"), EXPRESSIONS)
def test_statements_and_expressions(body: str, expected: str | None) -> None:
    action, ctx = run_recv(body, prelude=HELPER if "helper" in body else "")
    assert action is None
    assert ctx.req.header("X") == expected


@pytest.mark.parametrize(
    ("body", "action", "status", "message"),
    [
        ("return(lookup);", "lookup", None, None),
        ("return(pass);", "pass", None, None),
        ('error 801 "redirect";', "error", 801, "redirect"),
        ("error 404;", "error", 404, ""),
        ('if (req.url ~ "^/p/") { error 403 "no"; } return(lookup);', "error", 403, "no"),
    ],
)
def test_actions(body: str, action: str, status: int | None, message: str | None) -> None:
    got, ctx = run_recv(body)
    assert got == action
    if status is not None:
        assert (ctx.obj.status, ctx.obj.response) == (status, message)


def test_randombool_is_seeded() -> None:
    def draws(seed: int) -> list[bool]:
        out = []
        for _ in range(20):
            program = compile_program(
                VclSource("m", 'sub vcl_recv { if (randombool(1, 2)) { set req.http.X = "1"; } }')
            )
            ctx = Context(req=Message(), tables={}, backends={})
            import random

            ctx.rng = random.Random(seed + len(out))
            program.run("vcl_recv", ctx)
            out.append(ctx.req.header("X") == "1")
        return out

    assert draws(1) == draws(1)
    assert True in draws(1) and False in draws(1)


def test_macros_expand_placed_sources_in_order() -> None:
    program = compile_program(
        VclSource("main.vcl", "sub vcl_recv {\n#FASTLY recv\n return(lookup);\n}\n"),
        placed={
            "recv": [
                VclSource("generated", 'set req.http.X = "gen";'),
                VclSource("snippet a", 'set req.http.X = req.http.X "+a";'),
            ],
            "init": [VclSource("snippet t", 'table extra { "k": "v" }')],
        },
    )
    ctx = Context(req=Message(), tables={}, backends={})
    assert program.run("vcl_recv", ctx) == "lookup"
    assert ctx.req.header("X") == "gen+a"
    assert program.tables == {"extra": {"k": "v"}}


def test_includes_resolve_by_name() -> None:
    program = compile_program(
        VclSource("main.vcl", 'include "helpers";\nsub vcl_recv { call helper; }\n'),
        includes={"helpers": VclSource("helpers", 'sub helper { set req.http.X = "h"; }')},
    )
    ctx = Context(req=Message(), tables={}, backends={})
    program.run("vcl_recv", ctx)
    assert ctx.req.header("X") == "h"


# (VCL, location of the refusal, message fragment): the class of "outside the subset"
REFUSED = [
    ("sub vcl_recv {\n  set req.http.X = client.ip;\n}", "main.vcl:2:20", "variable 'client.ip'"),
    ('sub vcl_recv {\n  set req.http.X = std.ip("a");\n}', "main.vcl:2:20", "function std.ip()"),
    ("sub vcl_recv {\n  restart;\n}", "main.vcl:2:3", "restart is not"),
    ("sub vcl_recv {\n  esi;\n}", "main.vcl:2:3", "ESI is not"),
    ('sub vcl_recv {\n  add req.http.X = "1";\n}', "main.vcl:2:3", "add is not"),
    (
        "sub vcl_recv {\n  return(fetch);\n}",
        "main.vcl:2:3",
        "return(fetch) is not allowed in vcl_recv",
    ),
    ("sub vcl_recv {\n  return;\n}", "main.vcl:2:3", "vcl_recv must return an action"),
    ("sub vcl_recv {\n  call nothere;\n}", "main.vcl:2:3", "call nothere: no such"),
    ('sub vcl_recv {\n  set var.x = "1";\n}', "main.vcl:2:7", "var.x is not declared"),
    ('sub vcl_recv {\n  set req.url.path = "/";\n}', "main.vcl:2:7", "req.url.path is read-only"),
    ("sub vcl_recv {\n  set req.backend = F_nope;\n}", "main.vcl:2:21", "req.backend takes"),
    ('sub vcl_recv {\n  if (req.url ~ "(") {}\n}', "main.vcl:2:17", "invalid regular expression"),
    ("sub vcl_recv {\n  if (req.url ~ req.url) {}\n}", "main.vcl:2:17", "must be a string literal"),
    (
        'sub vcl_recv {\n  set req.http.X = table.lookup(nope, "k");\n}',
        "main.vcl:2:33",
        "needs a table",
    ),
    (
        'sub vcl_recv {\n  set req.http.X = substr("a");\n}',
        "main.vcl:2:20",
        "takes 2 to 3 arguments",
    ),
    ("sub vcl_recv {\n#FASTLY nothing\n}", "main.vcl:2:1", "no #FASTLY nothing macro"),
    ('sub vcl_recv {\n  set req.http.X = "a"\n}', "main.vcl:3:1", "expected ';'"),
    ('sub vcl_recv {\n  set req.http.X = "a";\n', "main.vcl:3:1", "expected '}'"),
    ('backend F_x { .host = "a"; }', "main.vcl:1:1", "declare backends through the API"),
    ('acl internal { "10.0.0.0"/8; }', "main.vcl:1:1", "ACLs are not"),
    ("import std;", "main.vcl:1:1", "imports are not"),
    ("sub vcl_recv {}\nsub vcl_recv {}", "main.vcl:2:1", "defined twice"),
    ("sub vcl_purge {}", "main.vcl:1:1", "vcl_purge is not in"),
    ("sub a { call b; }\nsub b { call a; }\nsub vcl_recv { call a; }", "main.vcl:2:9", "recursion"),
    ('include "missing";', "main.vcl:1:1", "no such VCL file"),
    ("sub vcl_recv {\n  set req.http.X = @;\n}", "main.vcl:2:20", "unexpected character '@'"),
    ("sub vcl_recv {\n  declare local var.x WEIRD;\n}", "main.vcl:2:3", "unknown type"),
]


@pytest.mark.parametrize(("text", "where", "fragment"), REFUSED)
def test_outside_the_subset_is_refused_at_its_location(
    text: str, where: str, fragment: str
) -> None:
    with pytest.raises(VclError) as caught:
        compile_program(VclSource("main.vcl", text), tables=(), backends=("F_origin",))
    assert str(caught.value).startswith(f"{where}: ")
    assert fragment in caught.value.message


def test_refusal_inside_a_snippet_names_the_snippet() -> None:
    with pytest.raises(VclError) as caught:
        compile_program(
            VclSource("main.vcl", "sub vcl_recv {\n#FASTLY recv\n}"),
            placed={"recv": [VclSource("snippet fix", 'set req.http.A = "1";\nrestart;')]},
        )
    assert str(caught.value) == "snippet fix:2:1: refused: restart is not in the lab's VCL subset"
