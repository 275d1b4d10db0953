"""``cutover plan FILE --env NAME``: what a run would do, without writing anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cutover.cli.app import app
from cutover.cli.options import EnvOption, VarOption, VarsFileOption, overrides


@app.command()
def plan(
    file: Annotated[Path, typer.Argument(help="the runbook")],
    env: EnvOption = "lab",
    var: VarOption = None,
    vars_file: VarsFileOption = None,
) -> None:
    """Show the rendered stages, steps and probe sets for an environment."""
    from cutover.cli.output import exits, say, warn
    from cutover.report.plan import render_plan
    from cutover.runbook.loader import load_runbook

    with exits():
        loaded = load_runbook(file, environment=env, overrides=overrides(var, vars_file))
        for w in loaded.warnings:
            warn(w.render())
        for line in render_plan(loaded):
            say(line)
