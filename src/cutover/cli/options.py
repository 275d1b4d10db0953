"""Options shared by several commands (one definition each)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cutover.state_location import StateChoice, Store, choose_state

VarOption = Annotated[
    list[str] | None,
    typer.Option("--var", help="set a variable: key=value (highest precedence)"),
]
VarsFileOption = Annotated[
    list[Path] | None,
    typer.Option("--vars-file", help="YAML file of variables (above environment vars)"),
]
IncludeRootOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--include-root",
        help="a folder `include:` may also read from (repeatable; also $CUTOVER_INCLUDE_ROOTS)",
    ),
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="write here (atomically), not stdout")
]
EnvOption = Annotated[str, typer.Option("--env", "-e", help="environment profile to use")]
STATE_HELP = (
    "state directory (journal and lab state), or a postgresql:// URL (a team's shared journal"
    " and locks), or secret:env:NAME naming such a URL (default: $CUTOVER_STATE, else"
    " ./.cutover if it holds a journal, else ~/.local/state/cutover); --state-dir is the"
    " older name"
)
StateDirOption = Annotated[str | None, typer.Option("--state", "--state-dir", help=STATE_HELP)]


def state_choice(option: str | Path | None) -> StateChoice:
    """The command's state directory (:mod:`cutover.state_location`), notice printed."""
    from cutover.cli.output import warn

    choice = choose_state(option)
    if choice.notice:
        warn(f"notice: {choice.notice}")
    return choice


def resolve_state(option: str | Path | None) -> Path:
    """The local state directory (lab state, logs; the SQLite journal)."""
    return state_choice(option).path


def resolve_store(option: str | Path | None) -> Store:
    """Where the journal and run records are: a directory or a PostgreSQL URL."""
    return state_choice(option).store


def overrides(  # type: ignore[no-untyped-def]
    var: list[str] | None, vars_file: list[Path] | None, include_root: list[Path] | None = None
):
    from cutover.runbook.loader import VarOverrides

    return VarOverrides(
        files=tuple(vars_file or ()),
        pairs=tuple(var or ()),
        include_roots=tuple(include_root or ()),
    )
