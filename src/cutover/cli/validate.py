"""``cutover validate FILE...``: check runbooks and checks files without touching anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cutover.cli.options import IncludeRootOption, VarOption, VarsFileOption, overrides


def validate(
    files: Annotated[list[Path], typer.Argument(help="runbooks or checks files")],
    strict: Annotated[bool, typer.Option(help="treat warnings as errors")] = False,
    var: VarOption = None,
    vars_file: VarsFileOption = None,
    include_root: IncludeRootOption = None,
) -> None:
    """Validate runbooks and checks files: exit 0 when valid, 2 when not."""
    from cutover.cli.output import exits, say, warn
    from cutover.errors import DocumentError, RunExit
    from cutover.runbook.validation import validate_file

    bad = False
    with exits():
        extra = overrides(var, vars_file, include_root)
        for path in files:
            try:
                summary, warnings = validate_file(path, extra)
            except DocumentError as exc:
                warn(exc.render())
                bad = True
                continue
            for w in warnings:
                warn(w.render())
            if warnings and strict:
                bad = True
                warn(f"{path}: invalid (--strict: {len(warnings)} warning(s))")
            else:
                say(f"{path}: ok ({summary})")
    if bad:
        raise typer.Exit(RunExit.INVALID)
