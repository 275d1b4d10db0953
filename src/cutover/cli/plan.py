"""``cutover plan FILE --env NAME``: what a run would do, without writing anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cutover.cli.options import (
    EnvOption,
    IncludeRootOption,
    StateDirOption,
    VarOption,
    VarsFileOption,
    overrides,
)


def plan(
    file: Annotated[Path, typer.Argument(help="the runbook")],
    env: EnvOption = "lab",
    var: VarOption = None,
    vars_file: VarsFileOption = None,
    include_root: IncludeRootOption = None,
    state_dir: StateDirOption = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="do not read live state (no per-step diffs)")
    ] = False,
) -> None:
    """Show the stages, steps and probe sets, with each step's diff against live state."""
    from cutover.cli.options import resolve_state as resolve
    from cutover.cli.output import exits, say, warn
    from cutover.plan_diffs import live_diffs
    from cutover.report.plan import render_plan
    from cutover.runbook.loader import load_runbook
    from cutover.secrets import preload
    from cutover.target import open_target

    with exits():
        extra = overrides(var, vars_file, include_root)
        if offline:
            loaded = load_runbook(file, environment=env, overrides=extra)
            preload(loaded.model)
            diffs = None
        else:
            with open_target(file, env, resolve(state_dir)) as target:
                loaded = load_runbook(file, environment=env, overrides=extra, lab=target.lab)
                preload(loaded.model)
                diffs = live_diffs(loaded.model)
        for w in loaded.warnings:
            warn(w.render())
        for line in render_plan(loaded, diffs):
            say(line)
