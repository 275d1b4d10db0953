"""``cutover status``, ``cutover history`` and ``cutover show RUN``: reading the journal."""

from __future__ import annotations

from typing import Annotated

import typer

from cutover.cli.app import app
from cutover.cli.options import StateDirOption


@app.command()
def status(state_dir: StateDirOption = None) -> None:
    """Runs that are not finished, what they still have applied, and the lab in use."""
    from cutover.cli.output import exits, say
    from cutover.report.journal_text import status_lines
    from cutover.target import state_dir as resolve

    with exits():
        for line in status_lines(resolve(state_dir)):
            say(line)


@app.command()
def history(
    limit: Annotated[int, typer.Option("--limit", "-n", help="how many runs")] = 20,
    state_dir: StateDirOption = None,
) -> None:
    """The latest runs, newest first."""
    from cutover.cli.output import exits, say
    from cutover.report.journal_text import history_lines
    from cutover.target import state_dir as resolve

    with exits():
        for line in history_lines(resolve(state_dir), limit):
            say(line)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="run id (or a unique prefix, or `last`)")],
    state_dir: StateDirOption = None,
) -> None:
    """A run's timeline: stages, steps, guard decisions, and each failure with its chain."""
    from cutover.cli.driver import find_run
    from cutover.cli.output import exits, say
    from cutover.report.journal_text import show_lines
    from cutover.target import state_dir as resolve

    with exits():
        directory = resolve(state_dir)
        found = find_run(directory, run_id)
        for line in show_lines(directory, found):
            say(line)
