"""Small, safe arithmetic and comparison expressions over named numbers.

Metric checks write their conditions the way Argo Rollouts' AnalysisTemplates do
(``successCondition: result < 0.01``), and ``fastly_stats`` queries are ratios of
counters (``status_5xx / requests``). Both are parsed here, once, when the runbook
loads, and evaluated with no ``eval``: only numbers, the allowed names, ``+ - * /``,
comparisons, ``and``/``or``/``not``, parentheses and the functions ``abs``, ``min``,
``max`` and ``isNaN`` are accepted. Division by zero gives NaN (no data), never an error.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 500  #: characters in one expression
MAX_NODES = 100  #: syntax-tree nodes in one expression

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
}
_COMPARE: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FUNCTIONS: dict[str, Callable[..., float | bool]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "isNaN": math.isnan,
}


class ExpressionError(ValueError):
    """An expression that is not allowed (the message says what and where)."""


def _divide(a: float, b: float) -> float:
    return a / b if b else math.nan


@dataclass(frozen=True)
class Expression:
    """A parsed expression; call :meth:`evaluate` with the names' values."""

    text: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, float]) -> Any:
        """The value (a number or a boolean); a missing name raises ``KeyError``."""
        return _eval(self.tree.body, values)


def parse(text: str, allowed: Collection[str]) -> Expression:
    """Parse ``text``; :class:`ExpressionError` names what is not allowed."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"not an expression ({exc.msg})") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(f"the expression has more than {MAX_NODES} parts")
    names: set[str] = set()
    for node in nodes:
        _check(node, allowed, names)
    return Expression(text, tree, frozenset(names))


def _check(node: ast.AST, allowed: Collection[str], names: set[str]) -> None:
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
            raise ExpressionError(f"only the functions {', '.join(_FUNCTIONS)} may be called")
        return
    if isinstance(node, ast.Name):
        if node.id in _FUNCTIONS:
            return
        if node.id not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ExpressionError(f"unknown name {node.id!r} (known: {known})")
        names.add(node.id)
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError(f"only numbers may be written, not {node.value!r}")
        return
    if isinstance(node, ast.BinOp) and not isinstance(node.op, (*_BINARY, ast.Div)):
        raise ExpressionError("only + - * / are allowed")
    if isinstance(node, ast.Compare) and not all(type(op) in _COMPARE for op in node.ops):
        raise ExpressionError("only < <= > >= == != compare")
    allowed_nodes = (
        ast.Expression,
        ast.BinOp,
        ast.UnaryOp,
        ast.BoolOp,
        ast.Compare,
        ast.Load,
        ast.And,
        ast.Or,
        ast.Not,
        ast.USub,
        ast.UAdd,
        ast.operator,
        ast.cmpop,
    )
    if not isinstance(node, allowed_nodes):
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")


def _eval(node: ast.expr, values: Mapping[str, float]) -> Any:
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)  # parse() let no other constant through
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(values[node.id])
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, values), _eval(node.right, values)
        if isinstance(node.op, ast.Div):
            return _divide(left, right)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values)
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BoolOp):
        parts = (_eval(v, values) for v in node.values)
        return all(parts) if isinstance(node.op, ast.And) else any(parts)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id](*(_eval(a, values) for a in node.args))
    raise ExpressionError(f"{type(node).__name__} is not allowed")  # refused by parse()
