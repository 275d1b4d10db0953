"""Tokens to the AST. Anything the grammar of the subset does not know is refused here,
at its location; names (variables, functions, return actions) are checked by the
compiler."""

from __future__ import annotations

from cutover.lab.vcl import syntax as s
from cutover.lab.vcl.lexer import Token, tokenize
from cutover.lab.vcl.source import VclError, VclSource

ASSIGNMENTS = ("=", "+=", "-=", "*=", "/=", "%=")
_COMPARISONS = ("==", "!=", "~", "!~", "<", ">", "<=", ">=")
#: top-level and statement keywords Fastly has that the subset refuses, with why
REFUSED = {
    "backend": "declare backends through the API (version backends), not in VCL",
    "director": "directors are not in the lab's VCL subset",
    "acl": "ACLs are not in the lab's VCL subset",
    "import": "imports are not in the lab's VCL subset",
    "penaltybox": "penalty boxes are not in the lab's VCL subset",
    "ratecounter": "rate counters are not in the lab's VCL subset",
    "restart": "restart is not in the lab's VCL subset",
    "esi": "ESI is not in the lab's VCL subset",
    "goto": "goto is not in the lab's VCL subset",
    "add": "add is not in the lab's VCL subset (use set)",
}


class Parser:
    def __init__(self, source: VclSource) -> None:
        self.tokens = tokenize(source)
        self.position = 0

    # -- token helpers -------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.position]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        if token.kind != "eof":
            self.position += 1
        return token

    def at(self, text: str, kind: str = "op") -> bool:
        return self.current.kind == kind and self.current.text == text

    def expect(self, text: str, kind: str = "op") -> Token:
        if not self.at(text, kind):
            raise self.error(f"expected {text!r}")
        return self.advance()

    def ident(self, what: str) -> Token:
        if self.current.kind != "ident":
            raise self.error(f"expected {what}")
        return self.advance()

    def error(self, message: str, token: Token | None = None) -> VclError:
        token = token or self.current
        shown = "end of file" if token.kind == "eof" else repr(token.text)
        return VclError(token.location, f"{message}, found {shown}")

    # -- top level -----------------------------------------------------------------

    def unit(self) -> s.Unit:
        unit = s.Unit()
        while self.current.kind != "eof":
            token = self.current
            if token.kind == "ident" and token.text == "sub":
                unit.subroutines.append(self.subroutine())
            elif token.kind == "ident" and token.text == "table":
                unit.tables.append(self.table())
            elif token.kind == "ident" and token.text == "include":
                self.advance()
                name = self.string("an include name")
                self.expect(";")
                unit.includes.append(s.Include(token.location, name))
            elif token.kind == "ident" and token.text in REFUSED:
                raise VclError(token.location, f"refused: {REFUSED[token.text]}")
            else:
                raise self.error("expected 'sub', 'table' or 'include'")
        return unit

    def string(self, what: str) -> str:
        if self.current.kind != "string":
            raise self.error(f"expected {what} (a string)")
        return self.advance().text

    def subroutine(self) -> s.Subroutine:
        start = self.advance()
        name = self.ident("a subroutine name").text
        return s.Subroutine(name, self.block(), start.location)

    def table(self) -> s.Table:
        start = self.advance()
        name = self.ident("a table name").text
        if self.current.kind == "ident":  # an optional value type: STRING only
            kind = self.advance()
            if kind.text.upper() != "STRING":
                raise VclError(kind.location, "refused: only STRING tables are in the subset")
        self.expect("{")
        entries: dict[str, str] = {}
        while not self.at("}"):
            key = self.string("a table key")
            self.expect(":")
            entries[key] = self.string("a table value")
            if not self.at("}"):
                self.expect(",")
        self.expect("}")
        return s.Table(name, entries, start.location)

    # -- statements ----------------------------------------------------------------

    def block(self) -> tuple[s.Stmt, ...]:
        self.expect("{")
        body: list[s.Stmt] = []
        while not self.at("}"):
            if self.current.kind == "eof":
                raise self.error("expected '}'")
            body.append(self.statement())
        self.expect("}")
        return tuple(body)

    def statement(self) -> s.Stmt:
        token = self.current
        if token.kind == "macro":
            self.advance()
            return s.Macro(token.location, token.text)
        if token.kind != "ident":
            raise self.error("expected a statement")
        word = token.text
        where = token.location
        if word == "if":
            return self.if_statement()
        if word in REFUSED:
            raise VclError(where, f"refused: {REFUSED[word]}")
        self.advance()
        stmt: s.Stmt
        if word == "set":
            target_token = self.ident("a variable")
            target, where = target_token.text, target_token.location
            operator = self.current
            if operator.kind != "op" or operator.text not in ASSIGNMENTS:
                raise self.error("expected one of " + " ".join(ASSIGNMENTS))
            self.advance()
            stmt = s.Set(where, target, operator.text, self.expression())
        elif word in ("unset", "remove"):
            target_token = self.ident("a variable")
            stmt = s.Unset(target_token.location, target_token.text)
        elif word == "declare":
            local = self.ident("'local'")
            if local.text != "local":
                raise self.error("expected 'local'", local)
            name = self.ident("a local variable (var.NAME)")
            if not name.text.startswith("var."):
                raise VclError(name.location, "local variables are named var.NAME")
            stmt = s.Declare(where, name.text, self.ident("a type").text.upper())
        elif word == "error":
            status = None if self.at(";") else self.primary()
            message = None if self.at(";") else self.expression()
            stmt = s.ErrorStmt(where, status, message)
        elif word == "return":
            action = None
            if self.at("("):
                self.advance()
                action = self.ident("a return action").text
                self.expect(")")
            stmt = s.Return(where, action)
        elif word == "call":
            stmt = s.CallSub(where, self.ident("a subroutine name").text)
        elif word == "synthetic":
            stmt = s.Synthetic(where, self.expression())
        elif word == "log":
            stmt = s.Log(where, self.expression())
        else:
            raise VclError(where, f"refused: {word!r} is not a statement of the lab's VCL subset")
        self.expect(";")
        return stmt

    def if_statement(self) -> s.Stmt:
        start = self.advance()
        branches = [(self.condition(), self.block())]
        otherwise = None
        while self.current.kind == "ident" and self.current.text in ("else", "elsif", "elseif"):
            word = self.advance().text
            if word == "else" and not (self.current.kind == "ident" and self.current.text == "if"):
                otherwise = self.block()
                break
            if word == "else":
                self.advance()
            branches.append((self.condition(), self.block()))
        return s.If(start.location, tuple(branches), otherwise)

    def condition(self) -> s.Expr:
        self.expect("(")
        expr = self.expression()
        self.expect(")")
        return expr

    # -- expressions ---------------------------------------------------------------

    def expression(self) -> s.Expr:
        left = self.conjunction()
        while self.at("||"):
            token = self.advance()
            left = s.Binary(token.location, "||", left, self.conjunction())
        return left

    def conjunction(self) -> s.Expr:
        left = self.negation()
        while self.at("&&"):
            token = self.advance()
            left = s.Binary(token.location, "&&", left, self.negation())
        return left

    def negation(self) -> s.Expr:
        if self.at("!"):
            token = self.advance()
            return s.Unary(token.location, "!", self.negation())
        return self.comparison()

    def comparison(self) -> s.Expr:
        left = self.concatenation()
        if self.current.kind == "op" and self.current.text in _COMPARISONS:
            token = self.advance()
            return s.Binary(token.location, token.text, left, self.concatenation())
        return left

    def concatenation(self) -> s.Expr:
        left = self.primary()
        while self.at("+") or self.current.kind in ("string", "ident", "number"):
            token = self.current
            if self.at("+"):
                self.advance()
            left = s.Binary(token.location, "+", left, self.primary())
        return left

    def primary(self) -> s.Expr:
        token = self.current
        if token.kind == "string":
            self.advance()
            return s.Literal(token.location, token.text)
        if token.kind == "number":
            self.advance()
            return s.Literal(token.location, token.number)
        if token.kind == "ident":
            self.advance()
            if token.text in ("true", "false"):
                return s.Literal(token.location, token.text == "true")
            if self.at("("):
                self.advance()
                arguments: list[s.Expr] = []
                while not self.at(")"):
                    arguments.append(self.expression())
                    if not self.at(")"):
                        self.expect(",")
                self.expect(")")
                return s.Call(token.location, token.text, tuple(arguments))
            return s.Variable(token.location, token.text)
        if self.at("-") and self.tokens[self.position + 1].kind == "number":
            self.advance()
            return s.Literal(token.location, -self.advance().number)
        if self.at("("):
            self.advance()
            expr = self.expression()
            self.expect(")")
            return expr
        raise self.error("expected an expression")


def parse(source: VclSource) -> s.Unit:
    """Parse one source; a :class:`VclError` locates the first thing refused."""
    return Parser(source).unit()


def parse_expression(source: VclSource) -> s.Expr:
    """One whole expression (a condition's statement, a header's source), and nothing
    after it: what is spliced into generated code cannot close or open a block."""
    parser = Parser(source)
    expr = parser.expression()
    if parser.current.kind != "eof":
        raise parser.error("expected the end of the expression")
    return expr
