"""``cutover status``, ``cutover history`` and ``cutover show RUN``: reading the journal.

With ``--state``/``$CUTOVER_STATE`` they read that store only; otherwise the default
store and every other store on this host that has a journal (see
:func:`cutover.cli.driver.journal_stores`), so a run is found from any directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cutover.cli.options import StateDirOption

if TYPE_CHECKING:
    from cutover.state_location import Store


def _stores(state_dir: str | None) -> list[Store]:
    from cutover.cli.driver import journal_stores
    from cutover.cli.options import state_choice

    choice = state_choice(state_dir)
    return [choice.store] if choice.explicit else journal_stores(choice.store)


def status(state_dir: StateDirOption = None) -> None:
    """Runs that are not finished, what they still have applied, and the lab in use."""
    from cutover.cli.output import exits, say
    from cutover.journal_reads import read_status
    from cutover.report.journal_text import status_lines

    with exits():
        first, *others = _stores(state_dir)
        for line in status_lines(read_status(first)):
            say(line)
        for store in others:
            lines = list(status_lines(read_status(store), only_open=True))
            if lines:
                say(f"in state {store} (--state {store}):")
                for line in lines:
                    say(f"  {line}")


def history(
    limit: Annotated[int, typer.Option("--limit", "-n", help="how many runs")] = 20,
    state_dir: StateDirOption = None,
) -> None:
    """The latest runs, newest first."""
    from cutover.cli.output import exits, say
    from cutover.journal_reads import read_history
    from cutover.report.journal_text import history_lines

    with exits():
        stores = _stores(state_dir)
        for line in history_lines(read_history(stores, limit), stores, limit):
            say(line)


def show(
    run_id: Annotated[str, typer.Argument(help="run id (or a unique prefix, or `last`)")],
    state_dir: StateDirOption = None,
) -> None:
    """A run's timeline: stages, steps, guard decisions, and each failure with its chain."""
    from cutover.cli.driver import find_run
    from cutover.cli.output import exits, say
    from cutover.journal_reads import read_events
    from cutover.report.journal_text import show_lines

    with exits():
        directory, found = find_run(state_dir, run_id)
        for line in show_lines(found, read_events(directory, found)):
            say(line)
