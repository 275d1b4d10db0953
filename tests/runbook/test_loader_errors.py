"""Every loader error path reports the exact FILE:LINE:COL and YAML path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cutover.errors import DocumentError, RunExit
from cutover.runbook.loader import VarOverrides, check_runbook, load_checks, load_runbook

MINIMAL = """\
name: demo
environments:
  lab: {}
backends:
  cdn:
    kind: fastly
    token: env:TOKEN
    services: {legacy: S1}
probes:
  smoke:
    probes:
      - url: https://example.test/
stages:
  - name: flip
    steps:
      - name: redirect
        backend: cdn
        service: legacy
        dictionary: redirects
        set: {mode: "302"}
    probes: [smoke]
rollback:
  verify: [smoke]
  purge: [{backend: cdn, service: "legacy", all: true}]
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # file names are reported relative to the working directory


def write(tmp_path: Path, text: str, name: str = "rb.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(path: Path, env: str = "lab", **kw: object) -> list[str]:
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment=env, **kw)  # type: ignore[arg-type]
    assert info.value.exit_code == RunExit.INVALID
    return [p.render().splitlines()[0] for p in info.value.problems]


def test_minimal_runbook_loads(tmp_path: Path) -> None:
    loaded = load_runbook(write(tmp_path, MINIMAL), environment="lab")
    assert loaded.model.name == "demo"
    step = loaded.model.stages[0].steps[0]
    assert step.kind == "fastly"
    assert step.set == {"mode": "302"}
    assert loaded.warnings == []


def test_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("    probes: [smoke]\n", "    prbes: [smoke]\n"))
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment="lab")
    (problem,) = info.value.problems
    assert (problem.line, problem.column, problem.path) == (21, 5, "stages[0].prbes")
    assert problem.message == "unknown key 'prbes'"
    assert problem.hint == "did you mean 'probes'?"
    assert problem.render().startswith(f"{path.name}:21:5: stages[0].prbes: unknown key 'prbes'")


def test_unknown_key_inside_a_step_suggests_step_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path, MINIMAL.replace("        dictionary: redirects", "        dictionry: redirects")
    )
    rendered = errors_of(path)
    assert f"{path.name}:19:9: stages[0].steps[0].dictionry: unknown key 'dictionry'" in rendered
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment="lab")
    hints = {p.hint for p in info.value.problems}
    assert "did you mean 'dictionary'?" in hints


def test_wrong_type_is_located_at_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("name: flip", "name: flip\n    settle: soon"))
    assert errors_of(path) == [
        f"{path.name}:15:13: stages[0].settle: 'soon' is not a duration; write e.g. 500ms, 2s,"
        " 1.5m or 1h"
    ]


def test_missing_required_key_is_located_at_its_parent(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("name: demo\n", ""))
    assert errors_of(path) == [f"{path.name}:1:1: name: missing required key 'name'"]


def test_unknown_backend_kind(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("kind: fastly", "kind: fastlee"))
    rendered = errors_of(path)
    assert rendered == [
        f"{path.name}:6:11: backends.cdn.kind: unknown kind 'fastlee'",
        f"{path.name}:16:9: stages[0].steps[0]: backend 'cdn' is invalid",
    ]


def test_unknown_backend_reference(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("backend: cdn", "backend: cnd"))
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment="lab")
    (problem,) = info.value.problems
    assert problem.render() == (
        f"{path.name}:16:9: stages[0].steps[0]: unknown backend 'cnd'\n  hint: did you mean 'cdn'?"
    )


def test_unknown_probe_set_and_service(tmp_path: Path) -> None:
    text = MINIMAL.replace("probes: [smoke]", "probes: [smoek]").replace(
        "service: legacy", "service: legcy"
    )
    path = write(tmp_path, text)
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment="lab")
    got = [(p.line, p.column, p.path, p.message, p.hint) for p in info.value.problems]
    assert got == [
        (18, 18, "stages[0].steps[0].service", "unknown service 'legcy'", "did you mean 'legacy'?"),
        (21, 14, "stages[0].probes[0]", "unknown probe set 'smoek'", "did you mean 'smoke'?"),
    ]


def test_undefined_template_variable_is_an_error_at_its_location(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('{mode: "302"}', '{mode: "{{ redirect_mode }}"}'))
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment="lab")
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (20, 21)
    assert problem.path == "stages[0].steps[0].set.mode"
    assert problem.message == "template: 'redirect_mode' is undefined"


def test_template_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('{mode: "302"}', '{mode: "{{ 302 "}'))
    (line,) = errors_of(path)
    assert line.startswith(f"{path.name}:20:21: stages[0].steps[0].set.mode: template syntax:")


def test_variable_precedence(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace("name: demo\n", "name: demo\nvars: {mode: '301', who: base}\n")
        .replace("  lab: {}", "  lab:\n    vars: {mode: '302', who: env}")
        .replace('{mode: "302"}', '{mode: "{{ mode }}", who: "{{ who }}", n: "{{ n }}"}')
    )
    path = write(tmp_path, text)
    vars_file = write(tmp_path, "who: file\nn: 1\n", "vars.yml")
    loaded = load_runbook(
        path,
        environment="lab",
        overrides=VarOverrides(files=(vars_file,), pairs=("n=7",)),
    )
    assert loaded.model.stages[0].steps[0].set == {"mode": "302", "who": "file", "n": "7"}


def test_bad_var_option() -> None:
    from cutover.errors import VariableError

    with pytest.raises(VariableError) as info:
        VarOverrides(pairs=("novalue",)).resolve()
    assert info.value.exit_code == RunExit.INVALID
    assert "not key=value" in info.value.message


def test_unknown_environment(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    assert errors_of(path, env="prod") == [
        f"{path.name}:3:3: environments: no environment named 'prod'"
    ]


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    text = MINIMAL.replace("kind: fastly", "kind: fastly\n    colour: red").replace(
        "name: flip", "name: flip\n    gate: maybe"
    )
    path = write(tmp_path, text)
    lines = errors_of(path)
    assert len(lines) == 2
    assert lines[0].startswith(f"{path.name}:7:5: backends.cdn.colour: unknown key 'colour'")
    assert lines[1].startswith(f"{path.name}:16:11: stages[0].gate: invalid value 'maybe'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed\n", "rb.yml:2:1: (document): YAML syntax:"),
        ("a: 1\na: 2\n", "rb.yml:2:1: (document): duplicate key: "),
        ("- just\n- a list\n", "rb.yml:1:1: (document): the document must be a mapping"),
        ("\tname: tab\n", "rb.yml:1:1: (document): YAML syntax:"),
    ],
)
def test_yaml_level_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "rb.yml"
    path.write_text(text, encoding="utf-8")
    (line,) = errors_of(path)
    assert line.startswith(expected), line


def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "rb.yml"
    path.write_bytes(b"name: ok\ndescription: caf\xe9\n")
    assert errors_of(path) == ["rb.yml:2:17: (document): invalid UTF-8 (byte 0xe9)"]


def test_missing_file(tmp_path: Path) -> None:
    assert errors_of(tmp_path / "nope.yml") == ["nope.yml:1:1: (document): file not found"]


def test_yaml_bomb_is_refused(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    path = write(tmp_path, "\n".join(lines) + "\n")
    (line,) = errors_of(path)
    assert "expands to more than 200,000 values" in line


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "name: " + "[" * 200 + "]" * 200 + "\n")
    (line,) = errors_of(path)
    assert "nested too deeply" in line


def test_lint_warnings(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace('{mode: "302"}', '{mode: "301"}')
        .replace(
            "rollback:\n  verify: [smoke]\n"
            '  purge: [{backend: cdn, service: "legacy", all: true}]\n',
            "  - name: later\n    probes: [smoke]\n"
            "  - name: shell-no-probes\n    steps:\n      - name: touch\n        backend: sh\n"
            "        command: [touch, x]\n        irreversible: true\n",
        )
        .replace("backends:\n", "backends:\n  sh: {kind: shell}\n")
    )
    path = write(tmp_path, text)
    problems = check_runbook(path)
    assert [p.severity for p in problems] == ["warning"] * 6
    got = [(p.line, p.column, p.path, p.message.split(" ")[0:3]) for p in problems]
    assert got == [
        (1, 1, "rollback", ["rollback", "is", "not"]),
        (5, 7, "backends.sh", ["shell", "backend", "'sh'"]),  # no lock_key
        (17, 9, "stages[0].steps[0]", ["step", "'redirect'", "sets"]),  # 301 too early
        (17, 9, "stages[0].steps[0]", ["step", "'redirect'", "sets"]),  # cached, no purge
        (25, 5, "stages[2].probes", ["stage", "'shell-no-probes'", "changes"]),
        (27, 9, "stages[2].steps[0]", ["step", "'touch'", "has"]),
    ]


def test_shell_step_requires_undo(tmp_path: Path) -> None:
    text = MINIMAL.replace("backends:\n", "backends:\n  sh: {kind: shell}\n").replace(
        "      - name: redirect\n        backend: cdn\n        service: legacy\n"
        '        dictionary: redirects\n        set: {mode: "302"}\n',
        "      - name: touch\n        backend: sh\n        command: [touch, x]\n",
    )
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path.name}:17:9: stages[0].steps[0]: a shell step needs `undo` (or `irreversible:"
        " true`, said aloud)"
    ]


def test_checks_file_errors_are_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: c
        sets:
          s:
            probes:
              - url: ftp://example.test/
                expect: {status: 999}
        """,
        "checks.yml",
    )
    with pytest.raises(DocumentError) as info:
        load_checks(path)
    got = [(p.line, p.column, p.path) for p in info.value.problems]
    assert got == [(5, 14, "sets.s.probes[0].url"), (6, 26, "sets.s.probes[0].expect.status")]


def test_included_probe_set_and_missing_set(tmp_path: Path) -> None:
    write(
        tmp_path, "name: c\nsets:\n  smoke:\n    probes:\n      - url: https://x.test/\n", "c.yml"
    )
    text = MINIMAL.replace(
        "  smoke:\n    probes:\n      - url: https://example.test/\n",
        "  smoke: {include: c.yml}\n  other: {include: c.yml, set: smokey}\n",
    )
    path = write(tmp_path, text)
    with pytest.raises(DocumentError) as info:
        load_runbook(path, environment="lab")
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (11, "probes.other.include")
    assert problem.message == "c.yml has no probe set 'smokey'"
    assert problem.hint == "did you mean 'smoke'?"
    fixed = write(tmp_path, text.replace("set: smokey", "set: smoke"))
    loaded = load_runbook(fixed, environment="lab")
    assert loaded.model.probes["other"].probes[0].url == "https://x.test/"


def test_a_regex_python_only_frowns_at_is_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: c\nsets:\n  s:\n    probes:\n      - url: https://x.test/\n"
        "        expect: {body: '[[a]x'}\n",
        "checks.yml",
    )
    loaded = load_checks(path)  # no FutureWarning escapes (warnings are errors in tests)
    assert loaded.model.sets["s"].probes[0].expect.body == "[[a]x"


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "{name: s, backend: sh, kind: nginx, content: x}",
            "stages[0].steps[0].kind: step kind 'nginx' does not match its backend 'sh' ('shell')",
        ),
        (
            "{name: s, backend: cdn, kind: shell, command: ['true'], undo: ['true']}",
            "stages[0].steps[0].kind: step kind 'shell' does not match its backend 'cdn'"
            " ('fastly')",
        ),
    ],
    ids=["nginx-on-shell", "shell-on-fastly"],
)
def test_a_step_whose_kind_is_not_its_backends_is_located(
    tmp_path: Path, step: str, message: str
) -> None:
    """It validated, then made `plan` and `run` fail with a TypeError traceback."""
    text = MINIMAL.replace("backends:\n", "backends:\n  sh: {kind: shell}\n").replace(
        "      - name: redirect\n        backend: cdn\n        service: legacy\n"
        '        dictionary: redirects\n        set: {mode: "302"}\n',
        f"      - {step}\n",
    )
    rendered = errors_of(write(tmp_path, text))
    assert len(rendered) == 1
    assert rendered[0].endswith(f": {message}")
    assert rendered[0].startswith("rb.yml:")
