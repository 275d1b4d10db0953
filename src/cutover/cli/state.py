"""``cutover state migrate``: create or bring up to date the journal's schema of a store.

Opening a store migrates it anyway; this command does it on purpose (e.g. right after
upgrading cutover, before a team's runs), and says from which version to which.
"""

from __future__ import annotations

import typer

from cutover.cli.options import StateDirOption

state_app = typer.Typer(
    help="The state store: its journal schema.", no_args_is_help=True, rich_markup_mode=None
)


@state_app.command()
def migrate(state_dir: StateDirOption = None) -> None:
    """Create or migrate the journal schema of the store (a directory or postgresql:// URL)."""
    from cutover.cli.options import resolve_store
    from cutover.cli.output import exits, say
    from cutover.journal import Journal

    with exits():
        store = resolve_store(state_dir)
        with Journal.open(store) as journal:  # opening migrates
            say(journal.store.migrated.describe())
