"""Journal event kinds are one vocabulary: spelled once, written and read through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cutover.events import EventKind, fold_steps, still_applied
from cutover.journal import EventRow, Journal

SRC = Path(__file__).resolve().parents[1] / "src" / "cutover"
KINDS = {kind.value for kind in EventKind}


def _strings(node: ast.AST) -> list[ast.Constant]:
    """String constants in ``node``, looking into tuples, lists and sets."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [c for element in node.elts for c in _strings(element)]
    return []


def _about_kinds(compare: ast.Compare) -> bool:
    """A comparison with an event's kind or a step's status (not, say, a state key)."""
    operands = [compare.left, *compare.comparators]
    return any(
        word in ast.unparse(o) for o in operands if not _strings(o) for word in ("kind", "status")
    )


def _bare_kinds(path: Path, root: Path = SRC) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        candidates: list[ast.Constant] = []
        if isinstance(node, ast.Compare) and _about_kinds(node):
            for operand in [node.left, *node.comparators]:
                candidates += _strings(operand)
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("event", "_event", "view"):
                for argument in node.args:
                    candidates += _strings(argument)
        found += [
            f"{path.relative_to(root)}:{c.lineno}: {c.value!r}"
            for c in candidates
            if c.value in KINDS
        ]
    return found


def test_no_bare_event_kind_outside_the_vocabulary() -> None:
    offenders = [
        hit
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "events.py"
        for hit in _bare_kinds(path)
    ]
    assert offenders == []


def test_the_scan_finds_a_bare_kind(tmp_path: Path) -> None:
    """The scan above can fail: each shape a bare kind took before is caught."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(self, e, j, kinds, s, live):\n"
        "    j.event('r', 'abandoned')\n"
        "    self._event('intent', stage='s')\n"
        "    a = e.kind == 'applied' or e.kind in ('stage_passed', 'x')\n"
        "    b = 'interrupted' in kinds or s.status != 'rolled_back'\n"
        "    return 'applied' in live  # a state key, not a kind\n"
    )
    hits = [hit.split(": ")[1] for hit in _bare_kinds(sample, tmp_path)]
    assert hits == [
        "'abandoned'",
        "'intent'",
        "'applied'",
        "'stage_passed'",
        "'interrupted'",
        "'rolled_back'",
    ]


def test_the_journal_refuses_a_kind_outside_the_vocabulary(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        journal.start_run("r1", "demo", "/rb.yml", "lab", {})
        with pytest.raises(ValueError, match="'tick' is not a valid EventKind"):
            journal.event("r1", "tick")  # type: ignore[arg-type]
        assert journal.events("r1") == []


def _row(number: int, kind: EventKind, step: int | None = 0, **data: object) -> EventRow:
    return EventRow(number, "r1", "t", kind, "s", step, dict(data))


@pytest.mark.parametrize(
    ("after_intent", "status", "maybe_applied"),
    [
        ([], EventKind.INTENT, True),
        ([EventKind.APPLIED], EventKind.APPLIED, True),
        ([EventKind.APPLIED, EventKind.ROLLED_BACK], EventKind.ROLLED_BACK, False),
        ([EventKind.APPLIED, EventKind.ROLLBACK_FAILED], EventKind.ROLLBACK_FAILED, True),
        ([EventKind.NOT_APPLIED], EventKind.NOT_APPLIED, False),
        ([EventKind.APPLIED, EventKind.PROBE_ROUND], EventKind.APPLIED, True),  # not a step kind
    ],
)
def test_fold_steps(after_intent: list[EventKind], status: EventKind, maybe_applied: bool) -> None:
    events = [_row(1, EventKind.INTENT, name="a", prior={"x": 1})]
    events += [_row(n + 2, kind, record={"v": 2}) for n, kind in enumerate(after_intent)]
    events.append(_row(99, EventKind.APPLIED, step=5))  # no intent for step 5: ignored
    [state] = fold_steps(events)
    assert (state.status, state.prior, state.maybe_applied) == (status, {"x": 1}, maybe_applied)
    assert still_applied(events) == ([f"s/a ({status})"] if maybe_applied else [])
