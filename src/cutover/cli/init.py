"""``cutover init [EXAMPLE] [DIR]``: write a shipped example (runbook, checks, README)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

#: the names of cutover.examples.EXAMPLES (a test checks), spelled out to keep --help light
_NAMES = "pypi-files, pypi-2018-replay, nginx-switch, haproxy-ramp, varnish-switch"


def init(
    example: Annotated[str, typer.Argument(help=f"the example to write: {_NAMES}")] = "pypi-files",
    directory: Annotated[
        Path, typer.Argument(help="where to write it (created if missing)")
    ] = Path(),
    force: Annotated[bool, typer.Option(help="overwrite files that are already there")] = False,
) -> None:
    """Write a named example (runbook, checks, README) that validates and rehearses as-is."""
    from cutover.cli.output import exits, say
    from cutover.examples import find_example, write_example

    with exits():
        found = find_example(example)
        written = write_example(example, directory, force=force)
    for path in written:
        say(f"wrote {path}")
    say(f"{found.name}: {found.summary}")
    say(f"next: cd {directory} && cutover validate {found.runbook}, then see README.md")
