"""The tables of the subset: variables (read/write) and functions.

A variable is found by exact name (:data:`VARIABLES`) or by header prefix
(:data:`HEADER_PREFIXES`: ``req.http.NAME`` …). A function is in :data:`FUNCTIONS`
with its arity; a name in neither table is refused by the compiler, at its location.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cutover.lab.vcl.context import Context, Message, Value

Getter = Callable[[Context], Value]
Setter = Callable[[Context, Value], None]


def text(value: Value) -> str:
    """A value in string context (unset is the empty string)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return value


def number(value: Value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(text(value))
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class Var:
    get: Getter
    set: Setter | None = None  #: None: read-only


def _field(message: Callable[[Context], Message], name: str, *, numeric: bool = False) -> Var:
    def get(ctx: Context) -> Value:
        value = getattr(message(ctx), name)
        return float(value) if numeric else value

    def put(ctx: Context, value: Value) -> None:
        setattr(
            message(ctx),
            name,
            int(number(value)) if name == "status" else number(value) if numeric else text(value),
        )

    return Var(get, put)


def _req(ctx: Context) -> Message:
    return ctx.req


def _bereq(ctx: Context) -> Message:
    return ctx.bereq


def _beresp(ctx: Context) -> Message:
    return ctx.beresp


def _resp(ctx: Context) -> Message:
    return ctx.resp


def _obj(ctx: Context) -> Message:
    return ctx.obj


MESSAGES: dict[str, Callable[[Context], Message]] = {
    "req": _req,
    "bereq": _bereq,
    "beresp": _beresp,
    "resp": _resp,
    "obj": _obj,
}
HEADER_PREFIXES = {f"{name}.http.": message for name, message in MESSAGES.items()}


def _ro(get: Getter) -> Var:
    return Var(get)


def _append_hash(ctx: Context, value: Value) -> None:
    ctx.hash += text(value) + "#"


VARIABLES: dict[str, Var] = {
    "req.url": _field(_req, "url"),
    "req.method": _field(_req, "method"),
    "req.request": _field(_req, "method"),
    "req.url.path": _ro(lambda ctx: urlsplit(ctx.req.url).path),
    "req.url.qs": _ro(lambda ctx: urlsplit(ctx.req.url).query),
    "req.restarts": _ro(lambda ctx: float(ctx.restarts)),
    "req.backend.is_shield": _ro(lambda ctx: ctx.backend is not None and ctx.backend.is_shield),
    "req.backend.is_origin": _ro(lambda ctx: ctx.backend is not None and ctx.backend.is_origin),
    "req.hash": Var(lambda ctx: ctx.hash, _append_hash),
    "bereq.url": _field(_bereq, "url"),
    "bereq.method": _field(_bereq, "method"),
    "bereq.request": _field(_bereq, "method"),
    "beresp.status": _field(_beresp, "status", numeric=True),
    "beresp.response": _field(_beresp, "response"),
    "beresp.ttl": _field(_beresp, "ttl", numeric=True),
    "resp.status": _field(_resp, "status", numeric=True),
    "resp.response": _field(_resp, "response"),
    "obj.status": _field(_obj, "status", numeric=True),
    "obj.response": _field(_obj, "response"),
    "obj.ttl": _field(_obj, "ttl", numeric=True),
    "fastly.ff.visits_this_service": _ro(lambda ctx: float(ctx.visits_this_service)),
    "server.identity": _ro(lambda ctx: ctx.server_identity),
    "now": _ro(lambda ctx: ctx.now),
    "LF": _ro(lambda ctx: "\n"),
}
#: ``req.backend`` is special: it is assigned a backend name, not a value
BACKEND_VARIABLE = "req.backend"


def header_var(name: str) -> Var | None:
    """``req.http.X-Foo`` and the like, or None."""
    for prefix, message in HEADER_PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            header = name[len(prefix) :]

            def get(
                ctx: Context, header: str = header, message: Callable[..., Message] = message
            ) -> Value:
                return message(ctx).header(header)

            def put(
                ctx: Context,
                value: Value,
                header: str = header,
                message: Callable[..., Message] = message,
            ) -> None:
                if value is None:
                    message(ctx).unset_header(header)
                else:
                    message(ctx).set_header(header, text(value))

            return Var(get, put)
    return None


# -- functions ---------------------------------------------------------------------

Function = Callable[[Context, list[Value]], Value]


@dataclass(frozen=True)
class FunctionSpec:
    minimum: int
    maximum: int
    run: Function
    table_argument: bool = False  #: the first argument names a table (a dictionary)


def _regex(pattern: Value) -> re.Pattern[str]:
    return _compiled(text(pattern))


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _REGEX_CACHE.get(pattern)
    if found is None:
        found = _REGEX_CACHE[pattern] = re.compile(pattern)
    return found


def _replacement(value: Value) -> str:
    return text(value)


def _table_lookup(ctx: Context, args: list[Value]) -> Value:
    found = ctx.tables.get(text(args[0]), {}).get(text(args[1]))
    if found is None and len(args) > 2:
        return args[2]
    return found


def _strtol(ctx: Context, args: list[Value]) -> Value:
    try:
        return float(int(text(args[0]).strip(), int(number(args[1]))))
    except ValueError:
        return 0.0


def _atoi(ctx: Context, args: list[Value]) -> Value:
    found = re.match(r"\s*([+-]?\d+)", text(args[0]))
    return float(found.group(1)) if found else 0.0


def _substr(ctx: Context, args: list[Value]) -> Value:
    value = text(args[0])
    start = int(number(args[1]))
    if start < 0:
        start += len(value)
    if start < 0 or start > len(value):
        return None
    if len(args) > 2:
        length = int(number(args[2]))
        return value[start : start + length] if length >= 0 else value[start:length]
    return value[start:]


def _hmac_sha1_base64(ctx: Context, args: list[Value]) -> Value:
    mac = hmac.new(text(args[0]).encode(), text(args[1]).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _randombool(ctx: Context, args: list[Value]) -> Value:
    numerator, denominator = number(args[0]), number(args[1])
    return denominator > 0 and ctx.rng.random() * denominator < numerator


FUNCTIONS: dict[str, FunctionSpec] = {
    "table.lookup": FunctionSpec(2, 3, _table_lookup, table_argument=True),
    "table.contains": FunctionSpec(
        2, 2, lambda ctx, a: text(a[1]) in ctx.tables.get(text(a[0]), {}), table_argument=True
    ),
    "regsub": FunctionSpec(
        3, 3, lambda ctx, a: _regex(a[1]).sub(_replacement(a[2]), text(a[0]), count=1)
    ),
    "regsuball": FunctionSpec(
        3, 3, lambda ctx, a: _regex(a[1]).sub(_replacement(a[2]), text(a[0]))
    ),
    "std.atoi": FunctionSpec(1, 1, _atoi),
    "std.strtol": FunctionSpec(2, 2, _strtol),
    "std.prefixof": FunctionSpec(2, 2, lambda ctx, a: text(a[0]).startswith(text(a[1]))),
    "std.suffixof": FunctionSpec(2, 2, lambda ctx, a: text(a[0]).endswith(text(a[1]))),
    "std.tolower": FunctionSpec(1, 1, lambda ctx, a: text(a[0]).lower()),
    "std.toupper": FunctionSpec(1, 1, lambda ctx, a: text(a[0]).upper()),
    "substr": FunctionSpec(2, 3, _substr),
    "digest.hash_sha256": FunctionSpec(
        1, 1, lambda ctx, a: hashlib.sha256(text(a[0]).encode()).hexdigest()
    ),
    "digest.hash_md5": FunctionSpec(
        1,
        1,
        lambda ctx, a: hashlib.md5(text(a[0]).encode()).hexdigest(),
    ),
    "digest.hmac_sha1_base64": FunctionSpec(2, 2, _hmac_sha1_base64),
    "randombool": FunctionSpec(2, 2, _randombool),
}

#: return actions each built-in subroutine may take (custom subroutines: any)
RETURNS: dict[str, frozenset[str]] = {
    "vcl_recv": frozenset({"lookup", "pass", "error"}),
    "vcl_hash": frozenset({"hash"}),
    "vcl_hit": frozenset({"deliver", "pass", "error"}),
    "vcl_miss": frozenset({"fetch", "pass", "error"}),
    "vcl_pass": frozenset({"pass", "error"}),
    "vcl_fetch": frozenset({"deliver", "pass", "error"}),
    "vcl_error": frozenset({"deliver"}),
    "vcl_deliver": frozenset({"deliver"}),
    "vcl_log": frozenset({"deliver"}),
}
SUBROUTINES = tuple(RETURNS)
MACROS = frozenset(name.removeprefix("vcl_") for name in SUBROUTINES)
ALL_RETURNS = frozenset().union(*RETURNS.values())
