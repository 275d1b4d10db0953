"""The VCL abstract syntax tree: plain data, each node with its location."""

from __future__ import annotations

from dataclasses import dataclass, field

from cutover.lab.vcl.source import Location


@dataclass(frozen=True)
class Expr:
    location: Location


@dataclass(frozen=True)
class Literal(Expr):
    value: str | float | bool


@dataclass(frozen=True)
class Variable(Expr):
    name: str


@dataclass(frozen=True)
class Call(Expr):
    function: str
    arguments: tuple[Expr, ...]


@dataclass(frozen=True)
class Unary(Expr):
    operator: str  #: ``!``
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    operator: str  #: ``||`` ``&&`` ``==`` ``!=`` ``~`` ``!~`` ``<`` ``>`` ``<=`` ``>=`` ``+``
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Stmt:
    location: Location


@dataclass(frozen=True)
class If(Stmt):
    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]
    otherwise: tuple[Stmt, ...] | None


@dataclass(frozen=True)
class Set(Stmt):
    target: str
    operator: str  #: ``=`` ``+=`` ``-=``
    value: Expr


@dataclass(frozen=True)
class Unset(Stmt):
    target: str


@dataclass(frozen=True)
class Declare(Stmt):
    name: str  #: ``var.NAME``
    type: str


@dataclass(frozen=True)
class ErrorStmt(Stmt):
    status: Expr | None
    message: Expr | None


@dataclass(frozen=True)
class Return(Stmt):
    action: str | None


@dataclass(frozen=True)
class CallSub(Stmt):
    name: str


@dataclass(frozen=True)
class Synthetic(Stmt):
    value: Expr


@dataclass(frozen=True)
class Log(Stmt):
    value: Expr


@dataclass(frozen=True)
class Macro(Stmt):
    """``#FASTLY <sub>``: where generated code and snippets of that type go."""

    sub: str


@dataclass(frozen=True)
class Include(Stmt):
    name: str


@dataclass(frozen=True)
class Subroutine:
    name: str
    body: tuple[Stmt, ...]
    location: Location


@dataclass(frozen=True)
class Table:
    name: str
    entries: dict[str, str]
    location: Location


@dataclass
class Unit:
    """One parsed source: its subroutines, tables and includes, in order."""

    subroutines: list[Subroutine] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
