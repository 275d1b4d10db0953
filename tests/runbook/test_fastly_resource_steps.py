"""A fastly step's conditions, headers, backends, custom VCL files and dynamic snippets:
what loads, and bad input refused at its FILE:LINE:COL with its YAML path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cutover.errors import DocumentError, RunExit
from cutover.runbook.loader import load_runbook

VALID = """\
name: demo
environments:
  lab: {}
backends:
  cdn:
    kind: fastly
    token: env:TOKEN
    services: {warehouse: S1}
probes:
  smoke:
    probes:
      - url: https://example.test/
stages:
  - name: edge
    steps:
      - name: config
        backend: cdn
        service: warehouse
        version:
          conditions:
            is-json: {type: REQUEST, statement: 'req.url ~ "/json$"'}
          headers:
            mark: {action: set, type: request, dst: http.X-Mark, src: '"json"',
                   request_condition: is-json}
          backends:
            F_A: {address: a.example, port: 80, shield: cache-lab-shield1, override_host: pypi.org}
          vcls:
            main: {content: "sub vcl_recv {\\n#FASTLY recv\\n}\\n", main: true}
            other: {content: "# nothing"}
          snippets:
            tag: {type: deliver, content: 'set resp.http.X-Tag = "one";', dynamic: true}
      - name: tag
        backend: cdn
        service: warehouse
        dynamic_snippet: tag
        content: 'set resp.http.X-Tag = "two";'
    probes: [smoke]
rollback:
  verify: [smoke]
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _load_errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "rb.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment="lab")
    assert info.value.exit_code == RunExit.INVALID
    return [p.render().splitlines()[0] for p in info.value.problems]


def test_every_new_resource_loads(tmp_path: Path) -> None:
    path = tmp_path / "rb.yml"
    path.write_text(VALID, encoding="utf-8")
    steps = load_runbook(path, environment="lab").model.stages[0].steps
    version = steps[0].version
    assert version is not None
    assert version.headers["mark"].request_condition == "is-json"
    assert (version.backends["F_A"].ssl, version.backends["F_A"].shield) == (
        False,
        "cache-lab-shield1",
    )
    assert [name for name, vcl in version.vcls.items() if vcl and vcl.main] == ["main"]
    assert version.snippets["tag"] and version.snippets["tag"].dynamic
    assert (steps[1].dynamic_snippet, steps[1].content) == ("tag", 'set resp.http.X-Tag = "two";')


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("type: REQUEST, statement: 'req.url ~ \"/json$\"'", "type: request, statement: x",
         "rb.yml:21:29: stages[0].steps[0].version.conditions.is-json.type: invalid value"
         " 'request'"),
        ("statement: 'req.url ~ \"/json$\"'", "statement: ''",
         "rb.yml:21:49: stages[0].steps[0].version.conditions.is-json.statement: String should"
         " have at least 1 character"),
        ("type: request, dst", "type: response, dst",
         "rb.yml:23:19: stages[0].steps[0].version.headers.mark: a response header takes"
         " `response_condition`, not `request_condition`"),
        ("action: set,", "action: regex,",
         "rb.yml:23:19: stages[0].steps[0].version.headers.mark: a `regex` header needs `regex`"),
        ("dst: http.X-Mark", "dst: X-Mark",
         "rb.yml:23:53: stages[0].steps[0].version.headers.mark.dst: String should match"
         " pattern '^(http\\.[A-Za-z0-9_-]+|url)$'"),
        ("port: 80,", "port: 0,",
         "rb.yml:26:45: stages[0].steps[0].version.backends.F_A.port: Input should be greater"
         " than or equal to 1"),
        ('other: {content: "# nothing"}', 'other: {content: "# nothing", main: true}',
         "rb.yml:20:11: stages[0].steps[0].version: only one custom VCL file can be"
         " main (not main, other)"),
        ("        content: 'set resp.http.X-Tag = \"two\";'\n", "",
         "rb.yml:32:9: stages[0].steps[1]: a `dynamic_snippet` step needs `content` (and only it"
         " has one)"),
        ("        dynamic_snippet: tag\n", "        dictionary: redirects\n",
         "rb.yml:32:9: stages[0].steps[1]: a `dynamic_snippet` step needs `content` (and only it"
         " has one)"),
        ("        dynamic_snippet: tag\n",
         "        dynamic_snippet: tag\n        version: {comment: both}\n",
         "rb.yml:32:9: stages[0].steps[1]: a fastly step changes one of a `dictionary`, a"
         " `version` or a `dynamic_snippet`, or is a `purge`"),
    ],
)  # fmt: skip
def test_bad_resource_input_is_located(tmp_path: Path, old: str, new: str, error: str) -> None:
    assert old in VALID
    assert _load_errors(tmp_path, VALID.replace(old, new, 1)) == [error]
