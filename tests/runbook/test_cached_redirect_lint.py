"""The cached-redirect lint warning, ``rollback.purge`` and purge steps as runbook input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cutover.errors import DocumentError, RunExit
from cutover.runbook.loader import check_runbook, load_runbook

RUNBOOK = """\
name: demo
environments:
  lab: {{}}
backends:
  cdn:
    kind: fastly
    token: env:TOKEN
    services: {{files: S1}}
  web: {{kind: nginx, file: /tmp/x.conf}}
probes:
  smoke:
    probes:
      - url: https://example.test/
stages:
  - name: change
    steps:
      - name: the step
        backend: cdn
        service: files
{step}
    probes: [smoke]
rollback:
  verify: [smoke]
{rollback}"""

PURGE_ALL = "  purge: [{backend: cdn, service: files, all: true}]\n"
WARNING = (
    "step 'the step' sets a redirect on the CDN, but rollback.purge purges nothing:"
    " a rolled-back redirect keeps being served from cache"
)


def step(body: str) -> str:
    return textwrap.indent(textwrap.dedent(body).strip("\n"), " " * 8)


def snippet(vcl: str, type_: str = "recv") -> str:
    return step(
        f"""
        version:
          snippets:
            s: {{type: {type_}, content: '{vcl}'}}
        """
    )


DICTIONARY_302 = step('dictionary: redirects\nset: {mode: "302", percent: 1}')

REDIRECTING = {
    "dictionary 302": DICTIONARY_302,
    "dictionary 301": step('dictionary: redirects\nset: {mode: "301"}'),
    "setting 307": step('version:\n  settings: {general.redirect: "307"}'),
    "error 301 in VCL": snippet('error 301 "moved";'),
    "resp.status = 302": snippet("set resp.status = 302;", "deliver"),
    "beresp.status = 308": snippet("set beresp.status = 308;", "fetch"),
    "a Location header": snippet('set obj.http.Location = "https://x.test/";', "error"),
}
NOT_REDIRECTING = {
    "dictionary percent": step("dictionary: redirects\nset: {percent: 10}"),
    "a header that is not Location": snippet('set req.http.X-Cutover = "1";'),
    "status 200 in VCL": snippet("set beresp.status = 200;", "fetch"),
    "a purge step": step("purge: {keys: [moved]}"),
}


def warnings(tmp_path: Path, step_text: str, rollback: str = "") -> list[str]:
    path = tmp_path / "rb.yml"
    path.write_text(RUNBOOK.format(step=step_text, rollback=rollback))
    return [p.message for p in check_runbook(path) if p.severity == "warning"]


@pytest.mark.parametrize("text", REDIRECTING.values(), ids=REDIRECTING.keys())
def test_a_cdn_redirect_without_rollback_purge_is_warned(tmp_path: Path, text: str) -> None:
    found = [w for w in warnings(tmp_path, text) if "rollback.purge" in w]
    assert found == [WARNING]


@pytest.mark.parametrize("text", REDIRECTING.values(), ids=REDIRECTING.keys())
def test_rollback_purge_silences_the_warning(tmp_path: Path, text: str) -> None:
    assert [w for w in warnings(tmp_path, text, PURGE_ALL) if "rollback.purge" in w] == []


@pytest.mark.parametrize("text", NOT_REDIRECTING.values(), ids=NOT_REDIRECTING.keys())
def test_no_redirect_no_warning(tmp_path: Path, text: str) -> None:
    assert [w for w in warnings(tmp_path, text) if "rollback.purge" in w] == []


def test_the_warning_is_located_at_the_first_redirecting_step_with_its_hint(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rb.yml"
    path.write_text(RUNBOOK.format(step=DICTIONARY_302, rollback=""))
    (problem,) = [p for p in check_runbook(path) if "rollback.purge" in p.message]
    assert (problem.line, problem.column, problem.path) == (17, 9, "stages[0].steps[0]")
    assert problem.hint is not None
    assert problem.hint.startswith("Fastly keeps 301/302 answers for their TTL")


def errors(tmp_path: Path, step_text: str, rollback: str = "") -> list[str]:
    path = tmp_path / "rb.yml"
    path.write_text(RUNBOOK.format(step=step_text, rollback=rollback))
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment="lab")
    assert info.value.exit_code == RunExit.INVALID
    return [f"{p.line}:{p.column}: {p.path}: {p.message}" for p in info.value.problems]


@pytest.mark.parametrize(
    ("purge", "message"),
    [
        ("{}", "a purge needs `urls`, `keys` or `all: true`"),
        (
            "{all: true, soft: true}",
            "Fastly has no soft purge-all: drop `soft`, or purge `keys` softly",
        ),
        ("{all: true, keys: [a]}", "`all: true` purges everything: drop `urls` and `keys`"),
        ("{keys: [a b]}", "a surrogate key is one word: no spaces, not empty"),
    ],
)
def test_an_impossible_purge_step_is_refused_located(
    tmp_path: Path, purge: str, message: str
) -> None:
    assert errors(tmp_path, step(f"purge: {purge}")) == [
        f"20:16: stages[0].steps[0].purge: {message}"
    ]


def test_a_step_is_a_dictionary_a_version_or_a_purge(tmp_path: Path) -> None:
    text = step('dictionary: redirects\nset: {mode: "302"}\npurge: {all: true}')
    assert errors(tmp_path, text) == [
        "17:9: stages[0].steps[0]: a fastly step changes one of a `dictionary`, a `version` or a"
        " `dynamic_snippet`, or is a `purge`"
    ]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            "{backend: web, service: files, all: true}",
            "26:17: rollback.purge[0].backend: rollback.purge needs a fastly backend;"
            " 'web' is 'nginx'",
        ),
        (
            "{backend: cnd, service: files, all: true}",
            "26:17: rollback.purge[0].backend: unknown backend 'cnd'",
        ),
        (
            "{backend: cdn, service: fils, all: true}",
            "26:31: rollback.purge[0].service: unknown service 'fils'",
        ),
        (
            "{backend: cdn, service: files}",
            "26:7: rollback.purge[0]: a purge needs `urls`, `keys` or `all: true`",
        ),
    ],
)
def test_rollback_purge_entries_are_checked(tmp_path: Path, entry: str, problem: str) -> None:
    rollback = f"  purge:\n    - {entry}\n"
    assert errors(tmp_path, DICTIONARY_302, rollback) == [problem]
