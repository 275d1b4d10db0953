"""Property: any mutation of the shipped runbook is either valid or a located runbook error."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cutover.errors import DocumentError
from cutover.runbook.document import load_document
from cutover.runbook.loader import load_runbook

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = load_document(ROOT / "runbooks" / "pypi-files.yml").data

odd_text = st.one_of(
    st.text(min_size=0, max_size=40),
    st.sampled_from(
        ["", "\u202e", "{{", "{{ nope }}", "{% for %}", "é" * 3, "\x00", "🙂", "1e999"]
    ),
    st.integers(min_value=1_000, max_value=200_000).map(lambda n: "x" * n),
)
wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    odd_text,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.integers(min_value=1, max_value=150).map(lambda d: _nest(d)),
)


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


ALL_PATHS = [p for p in _paths(SHIPPED) if p]


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _mutate(data: Any, path: tuple[Any, ...], op: str, value: Any) -> Any:
    data = _copy(data)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "replace":
        parent[last] = value
    elif op == "rename" and isinstance(parent, dict):
        parent[f"{last}_x"] = parent.pop(last)
    return data


def _dump(data: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.allow_unicode = True
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


mutations = st.lists(
    st.tuples(
        st.sampled_from(ALL_PATHS), st.sampled_from(["delete", "replace", "rename"]), wrong_values
    ),
    min_size=1,
    max_size=3,
)


@pytest.mark.slow
@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mutations)
def test_mutated_runbook_is_valid_or_a_located_error(tmp_path: Path, muts: list[Any]) -> None:
    data = SHIPPED
    for path, op, value in muts:
        try:
            data = _mutate(data, path, op, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    (tmp_path / "runbooks").mkdir(exist_ok=True)
    if not (tmp_path / "checks").exists():
        shutil.copytree(ROOT / "checks", tmp_path / "checks")
    target = tmp_path / "runbooks" / "mutated.yml"
    target.write_text(_dump(data), encoding="utf-8")
    try:
        loaded = load_runbook(target, environment="lab")
    except DocumentError as exc:
        assert exc.problems
        text = target.read_text(encoding="utf-8").splitlines()
        for problem in exc.problems:
            assert problem.file  # the runbook, or a file it includes (the include may be mutated)
            assert problem.line >= 1 and problem.column >= 1
            assert problem.line <= max(len(text), 1) or problem.file != str(target)
            assert problem.message
    else:
        assert loaded.model.name
