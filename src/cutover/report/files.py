"""Writing report files atomically (:func:`cutover.fileio.atomic_write`), readable by all.

A reader (node_exporter's textfile collector, a CI step) sees the old file or the new one,
never half of one.
"""

from __future__ import annotations

from pathlib import Path

from cutover.fileio import atomic_write


def write_atomically(path: Path, text: str) -> None:
    atomic_write(path, text, mode=0o644)
