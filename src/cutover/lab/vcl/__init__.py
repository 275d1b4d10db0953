"""A documented subset of Fastly VCL, interpreted per request by the lab's CDN nodes.

- :mod:`.source`: locations and the located :class:`VclError`;
- :mod:`.lexer`: text to tokens (``#FASTLY <sub>`` macros are tokens);
- :mod:`.syntax`: the AST;
- :mod:`.parser`: tokens to the AST;
- :mod:`.compiler`: the AST to closures, refusing anything outside the subset (the
  tables of variables and functions live in :mod:`.builtins`);
- :mod:`.context`: the per-request state a compiled program reads and writes.

The subset is documented in docs/lab.md ("The VCL subset").
"""

from __future__ import annotations

from cutover.lab.vcl.compiler import Program, compile_program
from cutover.lab.vcl.context import BackendRef, Context, Message
from cutover.lab.vcl.source import Location, VclError, VclSource

__all__ = [
    "BackendRef",
    "Context",
    "Location",
    "Message",
    "Program",
    "VclError",
    "VclSource",
    "compile_program",
]
