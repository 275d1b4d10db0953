"""The AST to closures: a :class:`Program` runs one built-in subroutine per call.

Compiling is also validating: a variable, function, return action, macro, include or
subroutine outside the subset raises :class:`VclError` at its location. Sources:

- ``main``: the main VCL (custom VCL, or Fastly's boilerplate);
- ``includes``: other custom VCL files, by name (``include "name";``);
- ``placed``: per macro (``recv``, ``fetch`` …), the statement sources ``#FASTLY <sub>``
  expands to, in order (generated code first, then snippets by priority); ``init``
  sources are top-level VCL (tables, subroutines) added to the program.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from cutover.lab.vcl import syntax as s
from cutover.lab.vcl.builtins import (
    ALL_RETURNS,
    BACKEND_VARIABLE,
    FUNCTIONS,
    MACROS,
    RETURNS,
    VARIABLES,
    Var,
    header_var,
    number,
    text,
)
from cutover.lab.vcl.context import Context, Value
from cutover.lab.vcl.parser import Parser, parse
from cutover.lab.vcl.source import Location, VclError, VclSource

Eval = Callable[[Context], Value]
Exec = Callable[[Context], None]
MAX_INCLUDE_DEPTH = 16
_TYPES = frozenset({"STRING", "BOOL", "INTEGER", "FLOAT", "RTIME", "TIME", "BACKEND"})


def _divide(a: float, b: float) -> float:
    return float(int(a / b)) if b else 0.0


def _modulo(a: float, b: float) -> float:
    return float(int(a) % int(b)) if int(b) else 0.0


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+=": lambda a, b: a + b,
    "-=": lambda a, b: a - b,
    "*=": lambda a, b: a * b,
    "/=": _divide,
    "%=": _modulo,
}


class ReturnSignal(Exception):
    def __init__(self, action: str | None) -> None:
        self.action = action


@dataclass
class Program:
    """Compiled subroutines: :meth:`run` executes one and returns its action."""

    subroutines: dict[str, Exec]
    tables: dict[str, dict[str, str]]  #: tables declared in VCL (dictionaries come per request)

    def run(self, name: str, ctx: Context) -> str | None:
        body = self.subroutines.get(name)
        if body is None:
            return None
        try:
            body(ctx)
        except ReturnSignal as signal:
            return signal.action
        return None


def parse_statements(source: VclSource) -> tuple[s.Stmt, ...]:
    parser = Parser(source)
    body: list[s.Stmt] = []
    while parser.current.kind != "eof":
        body.append(parser.statement())
    return tuple(body)


class Compiler:
    def __init__(
        self,
        placed: Mapping[str, Sequence[VclSource]],
        tables: Collection[str],
        backends: Collection[str],
    ) -> None:
        self.placed = {
            name: [parse_statements(src) for src in sources]
            for name, sources in placed.items()
            if name != "init"
        }
        for name, sources in placed.items():
            if name not in MACROS and name != "init":
                where = Location(sources[0].name if sources else name, 1, 1)
                raise VclError(where, f"refused: no #FASTLY {name} macro exists")
        self.tables = set(tables)
        self.backends = set(backends)
        self.defined: dict[str, s.Subroutine] = {}
        self.compiled: dict[str, Exec] = {}

    # -- units -------------------------------------------------------------------

    def gather(
        self,
        unit: s.Unit,
        includes: Mapping[str, VclSource],
        depth: int,
        declared_tables: dict[str, dict[str, str]],
    ) -> None:
        for include in unit.includes:
            source = includes.get(include.name)
            if source is None:
                raise VclError(include.location, f"include {include.name!r}: no such VCL file")
            if depth >= MAX_INCLUDE_DEPTH:
                raise VclError(include.location, "includes nest too deep (a cycle?)")
            self.gather(parse(source), includes, depth + 1, declared_tables)
        for table in unit.tables:
            if table.name in declared_tables or table.name in self.tables:
                raise VclError(table.location, f"table {table.name!r} is defined twice")
            declared_tables[table.name] = table.entries
        for sub in unit.subroutines:
            if sub.name in self.defined:
                raise VclError(sub.location, f"subroutine {sub.name!r} is defined twice")
            if sub.name.startswith("vcl_") and sub.name not in RETURNS:
                raise VclError(sub.location, f"refused: {sub.name} is not in the lab's subset")
            self.defined[sub.name] = sub

    # -- statements --------------------------------------------------------------

    def body(self, stmts: Sequence[s.Stmt], sub: str, locals_: set[str]) -> Exec:
        compiled = [self.statement(stmt, sub, locals_) for stmt in stmts]
        if len(compiled) == 1:
            return compiled[0]

        def run(ctx: Context) -> None:
            for step in compiled:
                step(ctx)

        return run

    def statement(self, stmt: s.Stmt, sub: str, locals_: set[str]) -> Exec:
        if isinstance(stmt, s.If):
            branches = [
                (self.truth(c, locals_), self.body(b, sub, locals_)) for c, b in stmt.branches
            ]
            otherwise = self.body(stmt.otherwise, sub, locals_) if stmt.otherwise else None

            def run_if(ctx: Context) -> None:
                for test, then in branches:
                    if test(ctx):
                        then(ctx)
                        return
                if otherwise is not None:
                    otherwise(ctx)

            return run_if
        if isinstance(stmt, s.Set):
            return self.assignment(stmt, locals_)
        if isinstance(stmt, s.Unset):
            var = self.variable(stmt.target, stmt.location, locals_, writing=True)
            setter = var.set
            assert setter is not None
            return lambda ctx: setter(ctx, None)
        if isinstance(stmt, s.Declare):
            if stmt.type not in _TYPES:
                raise VclError(stmt.location, f"unknown type {stmt.type!r}")
            locals_.add(stmt.name)
            initial: Value = (
                "" if stmt.type == "STRING" else (False if stmt.type == "BOOL" else 0.0)
            )
            name = stmt.name
            return lambda ctx: ctx.locals.__setitem__(name, initial)
        if isinstance(stmt, s.ErrorStmt):
            return self.error(stmt)
        if isinstance(stmt, s.Return):
            allowed = RETURNS.get(sub, ALL_RETURNS)
            if stmt.action is None and sub in RETURNS:
                raise VclError(stmt.location, f"{sub} must return an action")
            if stmt.action is not None and stmt.action not in allowed:
                raise VclError(
                    stmt.location,
                    f"return({stmt.action}) is not allowed in {sub} "
                    f"(allowed: {', '.join(sorted(allowed))})",
                )
            signal_action = stmt.action

            def run_return(ctx: Context) -> None:
                raise ReturnSignal(signal_action)

            return run_return
        if isinstance(stmt, s.CallSub):
            return self.call(stmt)
        if isinstance(stmt, s.Synthetic):
            value = self.expr(stmt.value, locals_)
            return lambda ctx: setattr(ctx.obj, "body", text(value(ctx)).encode())
        if isinstance(stmt, s.Log):
            value = self.expr(stmt.value, locals_)
            return lambda ctx: ctx.log.append(text(value(ctx)))
        if isinstance(stmt, s.Macro):
            if stmt.sub not in MACROS:
                raise VclError(stmt.location, f"refused: no #FASTLY {stmt.sub} macro exists")
            parts = [self.body(b, sub, locals_) for b in self.placed.get(stmt.sub, [])]
            return self.body_of(parts)
        raise VclError(stmt.location, "refused: not in the lab's subset")  # pragma: no cover

    @staticmethod
    def body_of(parts: list[Exec]) -> Exec:
        def run(ctx: Context) -> None:
            for part in parts:
                part(ctx)

        return run

    def assignment(self, stmt: s.Set, locals_: set[str]) -> Exec:
        if stmt.target == BACKEND_VARIABLE:
            if not isinstance(stmt.value, s.Variable) or stmt.value.name not in self.backends:
                known = ", ".join(sorted(self.backends)) or "none"
                raise VclError(
                    stmt.value.location, f"req.backend takes a backend name (known: {known})"
                )
            backend = stmt.value.name
            return lambda ctx: setattr(ctx, "backend", ctx.backends[backend])
        var = self.variable(stmt.target, stmt.location, locals_, writing=True)
        setter = var.set
        assert setter is not None
        value = self.expr(stmt.value, locals_)
        if stmt.operator == "=" and stmt.target != "req.hash":
            return lambda ctx: setter(ctx, value(ctx))
        if stmt.target == "req.hash":
            if stmt.operator != "+=":
                raise VclError(stmt.location, "req.hash only takes +=")
            return lambda ctx: setter(ctx, value(ctx))
        getter = var.get
        arithmetic = _ARITHMETIC[stmt.operator]
        concatenates = stmt.operator == "+="

        def run_update(ctx: Context) -> None:
            current = getter(ctx)
            if concatenates and isinstance(current, str):
                setter(ctx, current + text(value(ctx)))
            else:
                setter(ctx, arithmetic(number(current), number(value(ctx))))

        return run_update

    def error(self, stmt: s.ErrorStmt) -> Exec:
        status = self.expr(stmt.status, set()) if stmt.status else None
        message = self.expr(stmt.message, set()) if stmt.message else None

        def run_error(ctx: Context) -> None:
            ctx.obj.status = int(number(status(ctx))) if status else 503
            ctx.obj.response = text(message(ctx)) if message else ""
            raise ReturnSignal("error")

        return run_error

    def call(self, stmt: s.CallSub) -> Exec:
        sub = self.defined.get(stmt.name)
        if sub is None or stmt.name in RETURNS:
            raise VclError(stmt.location, f"call {stmt.name}: no such custom subroutine")
        compiled = self.compiled

        def run_call(ctx: Context) -> None:
            try:
                compiled[stmt.name](ctx)
            except ReturnSignal as signal:
                if signal.action is not None:
                    raise

        return run_call

    # -- expressions -------------------------------------------------------------

    def variable(
        self, name: str, where: Location, locals_: set[str], *, writing: bool = False
    ) -> Var:
        if name.startswith("var."):
            if name not in locals_:
                raise VclError(where, f"{name} is not declared (declare local {name} STRING;)")
            return Var(
                lambda ctx: ctx.locals.get(name),
                lambda ctx, value: ctx.locals.__setitem__(name, value),
            )
        if name.startswith("re.group."):
            index = name.removeprefix("re.group.")
            if not index.isdigit():
                raise VclError(where, f"unknown variable {name!r}")
            i = int(index)
            return Var(lambda ctx: ctx.groups[i] if i < len(ctx.groups) else None)
        var = VARIABLES.get(name) or header_var(name)
        if var is None:
            if name == BACKEND_VARIABLE:
                return Var(lambda ctx: ctx.backend.name if ctx.backend else None)
            raise VclError(where, f"refused: variable {name!r} is not in the lab's subset")
        if writing and var.set is None:
            raise VclError(where, f"{name} is read-only")
        return var

    def truth(self, expr: s.Expr, locals_: set[str]) -> Callable[[Context], bool]:
        value = self.expr(expr, locals_)
        return lambda ctx: _truthy(value(ctx))

    def expr(self, expr: s.Expr, locals_: set[str]) -> Eval:
        if isinstance(expr, s.Literal):
            constant = expr.value
            return lambda ctx: constant
        if isinstance(expr, s.Variable):
            if expr.name in self.backends:
                name = expr.name
                return lambda ctx: name
            return self.variable(expr.name, expr.location, locals_).get
        if isinstance(expr, s.Unary):
            operand = self.expr(expr.operand, locals_)
            return lambda ctx: not _truthy(operand(ctx))
        if isinstance(expr, s.Call):
            return self.function(expr, locals_)
        assert isinstance(expr, s.Binary)
        return self.binary(expr, locals_)

    def binary(self, expr: s.Binary, locals_: set[str]) -> Eval:
        op = expr.operator
        if op == "+":  # a chain a + b + c ... joined in one go, not nested pairwise
            parts = [self.expr(part, locals_) for part in _concatenated(expr)]
            return lambda ctx: "".join([text(part(ctx)) for part in parts])
        left = self.expr(expr.left, locals_)
        if op in ("~", "!~"):
            if not isinstance(expr.right, s.Literal) or not isinstance(expr.right.value, str):
                raise VclError(expr.right.location, "a regular expression must be a string literal")
            try:
                pattern = re.compile(expr.right.value)
            except re.error as exc:
                raise VclError(expr.right.location, f"invalid regular expression: {exc}") from exc
            negate = op == "!~"

            def match(ctx: Context) -> Value:
                subject = left(ctx)
                if subject is None:
                    return negate
                found = pattern.search(text(subject))
                if found is None:
                    return negate
                if not negate:
                    ctx.groups = (found.group(0), *(g or "" for g in found.groups()))
                return not negate

            return match
        right = self.expr(expr.right, locals_)
        if op == "||":
            return lambda ctx: _truthy(left(ctx)) or _truthy(right(ctx))
        if op == "&&":
            return lambda ctx: _truthy(left(ctx)) and _truthy(right(ctx))
        if op == "==":
            return lambda ctx: _equal(left(ctx), right(ctx))
        if op == "!=":
            return lambda ctx: not _equal(left(ctx), right(ctx))
        compare: dict[str, Callable[[float, float], bool]] = {
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
        }
        test = compare[op]
        return lambda ctx: test(number(left(ctx)), number(right(ctx)))

    def function(self, expr: s.Call, locals_: set[str]) -> Eval:
        spec = FUNCTIONS.get(expr.function)
        if spec is None:
            raise VclError(
                expr.location, f"refused: function {expr.function}() is not in the lab's subset"
            )
        count = len(expr.arguments)
        if not spec.minimum <= count <= spec.maximum:
            wanted = (
                str(spec.minimum)
                if spec.minimum == spec.maximum
                else f"{spec.minimum} to {spec.maximum}"
            )
            raise VclError(
                expr.location, f"{expr.function}() takes {wanted} arguments, got {count}"
            )
        arguments: list[Eval] = []
        for index, argument in enumerate(expr.arguments):
            if index == 0 and spec.table_argument:
                if not isinstance(argument, s.Variable) or argument.name not in self.tables:
                    known = ", ".join(sorted(self.tables)) or "none"
                    raise VclError(
                        argument.location, f"{expr.function}() needs a table name (known: {known})"
                    )
                table = argument.name
                arguments.append(lambda ctx, table=table: table)  # type: ignore[misc]
            else:
                arguments.append(self.expr(argument, locals_))
        run = spec.run
        return lambda ctx: run(ctx, [a(ctx) for a in arguments])


def _concatenated(expr: s.Expr) -> list[s.Expr]:
    """The operands of a chain of ``+`` (string concatenation), left to right."""
    if isinstance(expr, s.Binary) and expr.operator == "+":
        return [*_concatenated(expr.left), *_concatenated(expr.right)]
    return [expr]


def _truthy(value: Value) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, float):
        return value != 0
    return True


def _is_number(value: Value) -> bool:
    return isinstance(value, float)


def _equal(left: Value, right: Value) -> bool:
    if _is_number(left) or _is_number(right):
        return number(left) == number(right)
    return text(left) == text(right)


def _calls(stmts: Sequence[s.Stmt]) -> list[s.CallSub]:
    found: list[s.CallSub] = []
    for stmt in stmts:
        if isinstance(stmt, s.CallSub):
            found.append(stmt)
        elif isinstance(stmt, s.If):
            for _, branch in stmt.branches:
                found.extend(_calls(branch))
            found.extend(_calls(stmt.otherwise or ()))
    return found


def _refuse_recursion(defined: Mapping[str, s.Subroutine]) -> None:
    """VCL has no recursion: a subroutine that calls itself, directly or not, is refused."""
    for start in defined:
        stack: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
        while stack:
            name, path = stack.pop()
            sub = defined.get(name)
            for call in _calls(sub.body) if sub else ():
                if call.name == start:
                    raise VclError(call.location, f"recursion: {' -> '.join((*path, start))}")
                if call.name not in path:
                    stack.append((call.name, (*path, call.name)))


def compile_program(
    main: VclSource,
    *,
    includes: Mapping[str, VclSource] | None = None,
    placed: Mapping[str, Sequence[VclSource]] | None = None,
    tables: Collection[str] = (),
    backends: Collection[str] = (),
) -> Program:
    """Parse, check and compile; :class:`VclError` at the first thing refused."""
    placed = placed or {}
    compiler = Compiler(placed, tables, backends)
    declared: dict[str, dict[str, str]] = {}
    compiler.gather(parse(main), includes or {}, 0, declared)
    for source in placed.get("init", ()):
        compiler.gather(parse(source), includes or {}, 0, declared)
    compiler.tables |= set(declared)
    _refuse_recursion(compiler.defined)
    for name, sub in compiler.defined.items():
        compiler.compiled[name] = compiler.body(sub.body, name, set())
    return Program({n: f for n, f in compiler.compiled.items() if n in RETURNS}, declared)
