"""``cutover report RUN``: one run as an HTML file, a JSON document, or markdown.

Reads the run from the journal (found as ``show`` finds it) and renders
:func:`cutover.report.run_document.build`'s document (``docs/report.md``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from cutover.cli.options import OutputOption, StateDirOption
from cutover.cli.run import RunArgument


def report(
    run_id: RunArgument,
    output: OutputOption = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="html, json or markdown (default: -o's suffix, else html)"
        ),
    ] = None,
    state_dir: StateDirOption = None,
) -> None:
    """A run as a report: a self-contained HTML page, the whole run as JSON, or markdown."""
    from cutover.cli.driver import find_run
    from cutover.cli.output import exits, fail_input, say
    from cutover.journal_reads import read_events
    from cutover.report.files import write_atomically
    from cutover.report.run_document import build
    from cutover.report.run_file import REPORT_FORMATS, format_of, render

    fmt = output_format or format_of(output)
    if fmt not in REPORT_FORMATS:
        fail_input(f"--format {fmt!r}: use one of {', '.join(REPORT_FORMATS)}")
    with exits():
        store, found = find_run(state_dir, run_id)
        text = render(build(found, read_events(store, found)), fmt)
        if output is None:
            typer.echo(text, nl=False)
            return
        try:
            write_atomically(output, text)
        except OSError as exc:
            fail_input(f"cannot write {output}: {exc.strerror or exc}")
        say(f"wrote {output} ({fmt}, run {found.id})")

