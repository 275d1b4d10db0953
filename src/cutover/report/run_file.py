"""A run's report as a file: rendered in the format its name says, written atomically.

``cutover report RUN -o FILE`` writes one on demand; ``cutover run|resume|rollback
--report FILE`` writes one when the run ends, however it ends (docs/report.md). Both
render :func:`cutover.report.run_document.build`'s document the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cutover.journal import EventRow, RunRow
from cutover.report import run_html, run_markdown
from cutover.report.files import write_atomically
from cutover.report.run_document import build

REPORT_FORMATS = ("html", "json", "markdown")
_SUFFIXES = {".json": "json", ".md": "markdown", ".markdown": "markdown"}


def format_of(path: Path | None) -> str:
    """The format a file name asks for: ``.json``, ``.md``/``.markdown``, else html."""
    return _SUFFIXES.get(path.suffix.lower(), "html") if path is not None else "html"


def render(document: dict[str, Any], fmt: str) -> str:
    """The document as ``fmt`` (one of :data:`REPORT_FORMATS`)."""
    if fmt == "json":
        return json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"
    if fmt == "markdown":
        return run_markdown.render(document)
    return run_html.render(document)


def report_path(template: str, run_id: str) -> Path:
    """``--report``'s value with ``{run_id}`` filled in, absolute (from the directory the
    run was started in: a resume elsewhere writes to the same file)."""
    return Path(template.replace("{run_id}", run_id)).expanduser().absolute()


def write_run_report(row: RunRow, events: list[EventRow], path: Path) -> None:
    """Render the run into ``path`` (its directory made if needed); raises what writing
    raised."""
    text = render(build(row, events), format_of(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)
