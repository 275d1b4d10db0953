"""Where VCL text comes from, and the error that points into it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    file: str  #: e.g. ``main.vcl``, ``snippet s3-signing`` or ``condition is-hash-path``
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class VclSource:
    """One named piece of VCL text (a custom VCL file, a snippet, generated code).

    ``pieces``: generated code spliced around user-written VCL (a condition's statement,
    a header's source): tokens keep the location in their own piece, so an error in a
    condition is reported as ``condition NAME:1:COL``. ``text`` is then the pieces' text.
    """

    name: str
    text: str
    pieces: tuple[VclSource, ...] = ()

    @classmethod
    def spliced(cls, name: str, *pieces: VclSource) -> VclSource:
        return cls(name, "".join(p.text for p in pieces), tuple(pieces))


class VclError(Exception):
    """VCL outside the subset or malformed, at a location (``FILE:LINE:COL: message``)."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message
