"""Conditions and fastly_stats queries: what they evaluate to, and what is refused."""

from __future__ import annotations

import math

import pytest

from cutover.metrics.expression import MAX_LENGTH, ExpressionError, parse

VALUES = {"result": 0.25, "baseline": 0.1, "requests": 200.0, "status_5xx": 10.0, "zero": 0.0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("result < 0.5", True),
        ("result >= 0.5", False),
        ("result <= baseline * 2", False),
        ("result <= baseline * 3", True),
        ("0.1 < result < 0.3", True),
        ("status_5xx / requests", 0.05),
        ("(status_5xx + 10) / requests * 100", 10.0),
        ("-result + 1", 0.75),
        ("not result > 1 and result != 0", True),
        ("result > 1 or baseline == 0.1", True),
        ("abs(-result)", 0.25),
        ("max(result, baseline)", 0.25),
        ("min(result, baseline)", 0.1),
        ("isNaN(status_5xx / zero)", True),
        ("isNaN(result)", False),
    ],
)
def test_evaluates(text: str, expected: object) -> None:
    allowed = list(VALUES)
    assert parse(text, allowed).evaluate(VALUES) == expected


def test_division_by_zero_is_nan_not_an_error() -> None:
    assert math.isnan(parse("status_5xx / zero", list(VALUES)).evaluate(VALUES))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "only the functions abs, min, max, isNaN may be called"),
        ("result.real", "Attribute is not allowed in an expression"),
        ("results < 1", "unknown name 'results' (known: baseline, result)"),
        ("result < 'x'", "only numbers may be written, not 'x'"),
        ("result < True", "only numbers may be written, not True"),
        ("result ** 2", "only + - * / are allowed"),
        ("result // 2", "only + - * / are allowed"),
        ("result in [1]", "only < <= > >= == != compare"),
        ("result is 1", "only < <= > >= == != compare"),
        ("[result]", "List is not allowed in an expression"),
        ("lambda: 1", "Lambda is not allowed in an expression"),
        ("result <", "not an expression (invalid syntax)"),
        ("abs(x=result)", "only the functions abs, min, max, isNaN may be called"),
        ("x" * (MAX_LENGTH + 1), f"the expression is longer than {MAX_LENGTH} characters"),
        ("+".join(["result"] * 60), "the expression has more than 100 parts"),
    ],
)
def test_refuses(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text, ["result", "baseline"])
    assert str(caught.value) == message
