"""Options shared by several commands (one definition each)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
EnvOption = Annotated[str, typer.Option("--env", "-e", help="environment profile to use")]
StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", help="journal, locks and lab state (default: $CUTOVER_STATE_DIR or .cutover)"
    ),
]


def overrides(  # type: ignore[no-untyped-def]
    var: list[str] | None, vars_file: list[Path] | None, include_root: list[Path] | None = None
):
    from cutover.runbook.loader import VarOverrides

    return VarOverrides(
        files=tuple(vars_file or ()),
        pairs=tuple(var or ()),
        include_roots=tuple(include_root or ()),
    )
