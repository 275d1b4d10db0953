"""Hostile input: the loader answers every document with success or located problems.

A seeded sample of ``benchmarks/fuzz_loader.py`` runs every time (the full script feeds
10,000 inputs; docs/reliability.md quotes its figures), then one explicit case per hostile
family pins the exact message and location, and the CLI is run on a few of them.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cutover.errors import DocumentError
from cutover.runbook import render
from cutover.runbook.document import MAX_BYTES, MAX_EXPANDED, parse_document
from cutover.runbook.loader import check_runbook, load_runbook
from cutover.testing import run_cutover

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = 300


def _fuzz() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fuzz_loader", ROOT / "benchmarks" / "fuzz_loader.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_loader"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fuzz = _fuzz()


@pytest.mark.slow
def test_a_seeded_sample_has_no_traceback_and_every_rejection_is_located(tmp_path: Path) -> None:
    workspace = fuzz.Workspace(tmp_path)
    cases = fuzz.generate(seed=6, count=SAMPLE)
    assert set(Counter(c.family for c in cases)) == set(fuzz.FAMILIES)
    tracebacks, unlocated, rejected = [], [], 0
    for case in cases:
        outcome = fuzz.run_case(case, workspace)
        if outcome.error is not None:
            tracebacks.append((case.family, outcome.error.splitlines()[-1]))
        if outcome.unlocated:
            unlocated.append((case.family, outcome.unlocated[0]))
        rejected += not outcome.accepted
    assert tracebacks == []
    assert unlocated == []
    assert rejected > SAMPLE // 2  # the sample is hostile: most of it must be refused


HEAD = "version: 1\nname: x\nenvironments:\n  test: {}\n"


def _bomb() -> bytes:
    lines = ["vars:", "  a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    for i in range(6):
        name, prev = chr(98 + i), chr(97 + i)
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return (HEAD + "\n".join(lines) + "\n").encode()


def _up_to_limit(head: str, unit: str, tail: str) -> bytes:
    """``head`` + as many ``unit`` as fit under the size limit + ``tail``."""
    count = (MAX_BYTES - len(head) - len(tail)) // len(unit)
    return (head + unit * count + tail).encode()


STAGE = "  - name: stage-{i:05d}\n    description: ramp step {i} of the slow cutover\n"


def _stages(count: int) -> bytes:
    return (HEAD + "stages:\n" + "".join(STAGE.format(i=i) for i in range(count))).encode()


HINT_DEEP = "a runbook needs far fewer than 64 levels"
HINT_UTF8 = "save the file as UTF-8"
CASES = {
    "bomb": (
        _bomb(),
        [(11, 10, "vars.f[0]", "document expands to more than 200,000 values",
          "anchors and aliases that multiply (a 'YAML bomb') are refused")],
    ),
    "deep_flow": (
        (HEAD + "vars: " + "[" * 100 + "]" * 100 + "\n").encode(),
        [(5, 70, "", "document is nested too deeply", HINT_DEEP)],  # the 65th level: 64th [,
    ),
    "deep_flow_unclosed": (
        (HEAD + "vars: " + "{a: " * 100_000).encode(),
        [(5, 259, "", "document is nested too deeply", HINT_DEEP)],  # the 64th {,
    ),
    "deep_block": (
        (HEAD + "stages:\n  " + "- " * 100 + "x\n").encode(),
        [(6, 129, "", "document is nested too deeply", HINT_DEEP)],
    ),
    "huge": (
        b"name: " + b"x" * MAX_BYTES,
        [(1, 1, "", "file is 1,048,582 bytes; the limit is 1,048,576",
          "split it, or move data into a checks data file")],
    ),
    "utf8_truncated": (
        (HEAD + "vars: {a: caf").encode() + b"\xc3" + b"}\n",
        [(5, 14, "", "invalid UTF-8 (byte 0xc3)", HINT_UTF8)],
    ),
    "utf8_surrogate": (
        HEAD.encode() + b"desc\xed\xa0\x80: 1\n",
        [(5, 5, "", "invalid UTF-8 (byte 0xed)", HINT_UTF8)],
    ),
    "utf8_first_byte": (
        b"\xff" + HEAD.encode(),
        [(1, 1, "", "invalid UTF-8 (byte 0xff)", HINT_UTF8)],
    ),
    "dupkeys": (
        (HEAD + "vars:\n  a: 1\n  b: 2\n  a: 3\n").encode(),
        [(8, 3, "", 'duplicate key: found duplicate key "a" with value "3" (original value: "1")',
          "each key may appear once per mapping; remove one")],
    ),
    "tabs": (
        (HEAD + "vars:\n\ta: 1\n").encode(),
        [(6, 1, "",
          "YAML syntax: while scanning for the next token found character '\\t' that cannot "
          "start any token",
          "check indentation and quoting around this position")],
    ),
    "nul": (
        (HEAD + "description: a\x00b\n").encode(),
        [(5, 15, "",
          "character U+0000 is not allowed in YAML (special characters are not allowed)",
          "remove it, or write it as an escape in a double-quoted string")],
    ),
    "bidi_escaped": (
        (HEAD + 'stages:\n  - name: s\n    gate: "\\u202econfirm"\n').encode(),
        [(7, 11, "stages[0].gate", "invalid value '\\u202econfirm'", "expected 'confirm'")],
    ),
    "wrong_types": (
        (HEAD + "guard: {min_samples: many}\nstages:\n  - name: s\n    settle: 1y\n").encode(),
        [(5, 22, "guard.min_samples",
          "Input should be a valid integer, unable to parse string as an integer", None),
         (8, 13, "stages[0].settle", "'1y' is not a duration; write e.g. 500ms, 2s, 1.5m or 1h",
          None)],
    ),
    "huge_integer": (
        (HEAD + "stages:\n  - name: s\n    settle: 1" + "0" * 400 + "\n").encode(),
        [(7, 13, "stages[0].settle", "this number of seconds is out of range", None)],
    ),
    "template": (
        (HEAD + 'stages:\n  - name: "{{ nope }}"\n').encode(),
        [(6, 11, "stages[0].name", "template: 'nope' is undefined",
          "define it in `vars`, the environment's `vars`, --vars-file or --var key=value")],
    ),
    "missing_include": (
        (HEAD + "probes:\n  p: {include: nope.yml}\nstages:\n  - name: s\n").encode(),
        [(6, 16, "probes.p.include", "nope.yml: no such file",
          "the path is relative to the runbook's folder, .")],
    ),
    # Large but honest documents, up to the size limit: accepted (they took 17 s and 27 s
    # to read, and a long flow list was refused as a "YAML bomb").
    "flow_list": (
        _up_to_limit(HEAD + "stages: [{name: s}]\nvars:\n  l: [", "1, ", "1]\n"),
        [],
    ),
    "flow_mapping": (
        (HEAD + "stages: [{name: s}]\nvars: {"
         + ", ".join(f"k{i}: {i}" for i in range(60_000)) + "}\n").encode(),
        [],
    ),
    "ten_thousand_stages": (_stages(10_000), []),
    "include_nul": (
        (HEAD + 'probes:\n  p: {include: "a\\0b"}\nstages:\n  - name: s\n').encode(),
        [(6, 16, "probes.p.include", "'a\\x00b' is not a usable path", None)],
    ),
    "include_name_too_long": (
        (HEAD + "probes:\n  p: {include: " + "x" * 5000 + "}\nstages:\n  - name: s\n").encode(),
        [(6, 16, "probes.p.include", "x" * 5000 + ": no such file",
          "the path is relative to the runbook's folder, .")],
    ),
}  # fmt: skip


@pytest.mark.parametrize("family", list(CASES))
def test_each_hostile_family_is_a_located_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, family: str
) -> None:
    raw, expected = CASES[family]
    monkeypatch.chdir(tmp_path)
    path = Path(f"{family}.yml")
    path.write_bytes(raw)
    try:
        problems = check_runbook(path)
    except DocumentError as exc:
        problems = exc.problems
    found = [(p.line, p.column, p.path, p.message, p.hint) for p in problems]
    assert found == expected
    assert {p.file for p in problems} == ({f"{family}.yml"} if expected else set())


def test_parse_document_takes_raw_bytes_and_names_them() -> None:
    with pytest.raises(DocumentError) as caught:
        parse_document(b"a: 1\nb: \xfe\n", "stdin.yml")
    assert caught.value.render() == (
        "stdin.yml:2:4: (document): invalid UTF-8 (byte 0xfe)\n  hint: save the file as UTF-8"
    )


@pytest.mark.parametrize("family", ["bomb", "deep_flow_unclosed", "utf8_surrogate", "nul", "huge"])
def test_validate_exits_2_with_the_location_and_no_traceback(tmp_path: Path, family: str) -> None:
    raw, expected = CASES[family]
    (tmp_path / f"{family}.yml").write_bytes(raw)
    proc = run_cutover("validate", f"{family}.yml", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    line, column, path, message, _ = expected[0]
    assert proc.stderr.splitlines()[0] == (
        f"{family}.yml:{line}:{column}: {path or '(document)'}: {message}"
    )
    assert proc.stdout == ""


LOOPS = {
    "nested over a variable": "{% for a in l %}{% for b in l %}{{ b }}{% endfor %}{% endfor %}",
    "empty bodies": "{% for a in l %}{% for b in l %}{% for c in l %}{% endfor %}{% endfor %}"
    "{% endfor %}",
    "a list built once": "{% set m = range(1000) | list %}{% for a in m %}{% for b in m %}"
    "{% endfor %}{% endfor %}",
    "a macro in a loop": "{% macro f() %}{% for a in l %}{% endfor %}{% endmacro %}"
    "{% for b in l %}{{ f() }}{% endfor %}",
}


@pytest.mark.parametrize("shape", list(LOOPS))
def test_loops_that_multiply_are_refused_at_their_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    monkeypatch.setattr(render, "RENDER_SECONDS", 600.0)  # the count refuses, not the clock
    monkeypatch.chdir(tmp_path)
    template = LOOPS[shape].replace('"', "'")
    Path("loops.yml").write_text(
        HEAD + 'vars:\n  l: "{{ range(1000) | list }}"\nstages:\n  - name: ok\n'
        f'  - name: "{template}"\n'
    )
    problems = check_runbook(Path("loops.yml"))
    assert [p.render() for p in problems] == [
        "loops.yml:9:11: stages[1].name: template refused by the sandbox: loops ran more than"
        " 100,000 iterations in one template"
    ]


def test_rendering_has_one_cpu_deadline_per_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "RENDER_SECONDS", 0.0)  # already over at the first template
    monkeypatch.chdir(tmp_path)
    Path("slow.yml").write_text(
        HEAD
        + "stages:\n"
        + "".join(f'  - name: "{{{{ environment }}}} {i}"\n' for i in range(1000))
    )
    for load in (lambda: check_runbook(Path("slow.yml")),
                 lambda: load_runbook(Path("slow.yml"), environment="test")):  # fmt: skip
        with pytest.raises(DocumentError) as caught:
            load()
        assert caught.value.render() == (
            "slow.yml:6:11: stages[0].name: template refused by the sandbox: rendering took"
            " more than 0 s of CPU (all templates of this document)\n"
            "  hint: templates render in milliseconds: look for loops that multiply, or"
            " thousands of them"
        )


def test_a_template_of_too_many_tags_is_refused_before_compiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("tags.yml").write_text(HEAD + 'stages:\n  - name: "' + "{{ environment }}" * 1001 + '"\n')
    assert [p.render() for p in check_runbook(Path("tags.yml"))] == [
        "tags.yml:6:11: stages[0].name: template has 1,001 {{ }} and {% %} tags; the limit is"
        " 1,000\n  hint: split it, or build the text with a loop"
    ]


def test_only_aliases_count_towards_the_bomb_limit() -> None:
    """A written list longer than the alias limit is read; one alias of it is refused."""
    items = ", ".join(["1"] * (MAX_EXPANDED + 10))
    assert len(parse_document(f"l: [{items}]\n".encode(), "l.yml").data["l"]) == MAX_EXPANDED + 10
    raw = f"a: &a [{items}]\nb: *a\n".encode()
    with pytest.raises(DocumentError) as caught:
        parse_document(raw, "b.yml")
    assert caught.value.render() == (
        "b.yml:2:4: b: document expands to more than 200,000 values\n"
        "  hint: anchors and aliases that multiply (a 'YAML bomb') are refused"
    )


def test_a_busy_machine_never_refuses_a_valid_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The render deadline counts the loading thread's CPU, not the wall clock: time the
    thread spends waiting (a loaded machine, a slow disk) never turns a valid runbook, or
    the rollback that reloads it, into a refusal."""
    import time

    import cutover.runbook.loader as loader_module

    real_load_document = loader_module.load_document

    def slow_load_document(path: Path) -> Any:
        time.sleep(0.5)  # waiting, not computing: longer than the whole deadline
        return real_load_document(path)

    monkeypatch.setattr(render, "RENDER_SECONDS", 0.3)
    monkeypatch.setattr(loader_module, "load_document", slow_load_document)
    monkeypatch.chdir(tmp_path)
    Path("busy.yml").write_text(
        HEAD + "stages:\n" + "".join(f'  - name: "{{{{ environment }}}} {i}"\n' for i in range(3))
    )
    loaded = load_runbook(Path("busy.yml"), environment="test")
    assert [s.name for s in loaded.model.stages] == ["test 0", "test 1", "test 2"]
