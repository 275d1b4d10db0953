"""The VCL Fastly generates from a version's backends, conditions and header rules.

Placed at the ``#FASTLY`` macros before the version's snippets, as Fastly places its
generated code:

- ``recv``: the default backend (the first one without a ``request_condition``), then
  each backend with one (``if (condition) { set req.backend = B; }``, by the condition's
  priority), then the ``request`` headers;
- ``fetch``: the ``cache`` headers (on ``beresp``);
- ``deliver``: the ``response`` headers (on ``resp``).

Headers run by priority then name. A header of type ``request`` may carry a REQUEST
``request_condition``, ``cache`` a CACHE ``cache_condition``, ``response`` a RESPONSE
``response_condition``; anything else is refused at validation, located at the header.

User-written VCL (a condition's statement, a header's ``src``) must be one expression; it
is spliced into the generated code with its own location (``condition NAME:1:COL``,
``header NAME src:1:COL``), so the interpreter's refusals point into it.
"""

from __future__ import annotations

from cutover.lab.state import Backend, Condition, Header, Version
from cutover.lab.vcl import Location, VclError, VclSource
from cutover.lab.vcl.parser import parse_expression

#: header type -> (the VCL object it edits, the macro it is placed at, its condition field)
HEADER_PLACES = {
    "request": ("req", "recv", "request_condition"),
    "cache": ("beresp", "fetch", "cache_condition"),
    "response": ("resp", "deliver", "response_condition"),
}
_CONDITION_TYPE = {
    "request_condition": "REQUEST",
    "cache_condition": "CACHE",
    "response_condition": "RESPONSE",
}


def _expression(name: str, text: str) -> VclSource:
    source = VclSource(name, text)
    parse_expression(source)
    return source


def _guarded(name: str, condition: Condition | None, body: VclSource) -> VclSource:
    """``body``, inside ``if (statement) { … }`` when there is a condition."""
    if condition is None:
        return body
    statement = _expression(f"condition {condition.name}", condition.statement)
    return VclSource.spliced(
        name,
        VclSource(name, "if ("),
        statement,
        VclSource(name, ") {\n"),
        body,
        VclSource(name, "\n}"),
    )


def _condition(version: Version, owner: str, field: str, wanted: str) -> Condition | None:
    if not wanted:
        return None
    kind = _CONDITION_TYPE[field]
    found = next((c for c in version.conditions if c.name == wanted), None)
    if found is None or found.type != kind:
        raise VclError(Location(owner, 1, 1), f"{field} {wanted!r}: no such {kind} condition")
    return found


def _backends(version: Version) -> list[VclSource]:
    plain = [b for b in version.backends if not b.request_condition]
    default = plain[0] if plain else (version.backends[0] if version.backends else None)
    out = []
    if default is not None:
        out.append(VclSource("generated recv", f"set req.backend = {default.name};"))
    chosen: list[tuple[Condition, Backend]] = []
    for backend in version.backends:
        found = _condition(
            version, f"backend {backend.name}", "request_condition", backend.request_condition
        )
        if found is not None:
            chosen.append((found, backend))
    chosen.sort(key=lambda pair: (pair[0].priority, pair[1].name))
    for found, backend in chosen:
        name = f"backend {backend.name}"
        out.append(_guarded(name, found, VclSource(name, f"set req.backend = {backend.name};")))
    return out


def _header(version: Version, header: Header) -> VclSource:
    name = f"header {header.name}"
    obj, _, field = HEADER_PLACES[header.type]
    for other in _CONDITION_TYPE:
        if other != field and getattr(header, other):
            raise VclError(
                Location(name, 1, 1),
                f"a {header.type} header takes a {field}, not a {other}",
            )
    condition = _condition(version, name, field, getattr(header, field))
    target = f"{obj}.{header.dst}"
    if header.action == "delete":
        return _guarded(name, condition, VclSource(name, f"unset {target};"))
    src = _expression(f"{name} src", header.src or '""')
    if header.action == "append":
        head, tail = f"set {target} = {target} ", ";"
    elif header.action in ("regex", "regex_repeat"):
        function = "regsub" if header.action == "regex" else "regsuball"
        head = f"set {target} = {function}("
        tail = f', {{"{header.regex}"}}, {{"{header.substitution}"}});'
    else:  # set
        head, tail = f"set {target} = ", ";"
    assign = VclSource.spliced(name, VclSource(name, head), src, VclSource(name, tail))
    if header.action == "set" and header.ignore_if_set:
        assign = VclSource.spliced(
            name, VclSource(name, f"if (!{target}) {{\n"), assign, VclSource(name, "\n}")
        )
    return _guarded(name, condition, assign)


def generated(version: Version) -> dict[str, list[VclSource]]:
    """The generated code per macro (``recv``, ``fetch``, ``deliver``), in order."""
    placed: dict[str, list[VclSource]] = {}
    recv = _backends(version)
    if recv:
        placed["recv"] = recv
    for header in sorted(version.headers, key=lambda h: (h.priority, h.name)):
        placed.setdefault(HEADER_PLACES[header.type][1], []).append(_header(version, header))
    return placed
