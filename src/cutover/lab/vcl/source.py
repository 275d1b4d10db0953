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
    """One named piece of VCL text (a custom VCL file, a snippet, generated code)."""

    name: str
    text: str


class VclError(Exception):
    """VCL outside the subset or malformed, at a location (``FILE:LINE:COL: message``)."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message
