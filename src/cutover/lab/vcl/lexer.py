"""VCL text to tokens, each with its location.

Comments are ``#``, ``//`` and ``/* … */``; ``#FASTLY <sub>`` is not a comment but a
``macro`` token. Strings are ``"…"`` (with Fastly's ``%XX`` escapes) or long strings
``{"…"}``. Numbers may carry a duration unit (``300s``, ``1h``): the value is seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cutover.lab.vcl.source import Location, VclError, VclSource

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "y": 31536000}

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r]+)
  | (?P<newline>\n)
  | (?P<macro>\#FASTLY[ \t]+(?P<macro_sub>[A-Za-z_]+)[^\n]*)
  | (?P<comment>(?:\#|//)[^\n]*)
  | (?P<block>/\*.*?\*/)
  | (?P<long>\{"(?P<long_text>.*?)"\})
  | (?P<string>"(?P<string_text>[^"\n]*)")
  | (?P<number>\d+(?:\.\d+)?(?P<unit>ms|s|m|h|d|y)?(?![A-Za-z0-9_]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.:-]*)
  | (?P<op>==|!=|!~|&&|\|\||\+=|-=|\*=|/=|%=|<=|>=|[~!=+(){};,<>:./*%-])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class Token:
    kind: str  #: ``ident`` | ``string`` | ``number`` | ``op`` | ``macro`` | ``eof``
    text: str  #: identifier, decoded string, operator, or the macro's subroutine name
    location: Location
    number: float = 0.0


def _decode(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def tokenize(source: VclSource) -> list[Token]:
    if source.pieces:  # spliced: each piece's tokens at their own locations
        parts = [tokenize(piece) for piece in source.pieces]
        return [t for part in parts for t in part[:-1]] + [parts[-1][-1]]
    tokens: list[Token] = []
    text = source.text
    line, line_start, position = 1, 0, 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        where = Location(source.name, line, position - line_start + 1)
        if found is None:
            raise VclError(where, f"unexpected character {text[position]!r}")
        kind = _kind(found)
        value = found.group(0)
        if kind == "macro":
            tokens.append(Token("macro", found.group("macro_sub").lower(), where))
        elif kind == "long":
            tokens.append(Token("string", found.group("long_text"), where))
        elif kind == "string":
            tokens.append(Token("string", _decode(found.group("string_text")), where))
        elif kind == "number":
            unit = found.group("unit")
            digits = value[: len(value) - len(unit)] if unit else value
            tokens.append(
                Token("number", value, where, float(digits) * (_UNITS[unit] if unit else 1))
            )
        elif kind in ("ident", "op"):
            tokens.append(Token(kind, value, where))
        newlines = value.count("\n")
        if newlines:
            line += newlines
            line_start = found.start() + value.rindex("\n") + 1
        position = found.end()
    tokens.append(Token("eof", "", Location(source.name, line, position - line_start + 1)))
    return tokens


def _kind(found: re.Match[str]) -> str:
    for name in (
        "space",
        "newline",
        "macro",
        "comment",
        "block",
        "long",
        "string",
        "number",
        "ident",
        "op",
    ):
        if found.group(name) is not None:
            return name
    raise AssertionError("a token matched no group")  # pragma: no cover
