"""``cutover run``, ``cutover resume RUN`` and ``cutover rollback RUN``."""

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

YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="approve every `gate: confirm` (for automation)")
]
ForceUnlockOption = Annotated[
    bool,
    typer.Option("--force-unlock", help="remove a lock whose holder is gone (e.g. another host)"),
]
AgainOption = Annotated[
    bool,
    typer.Option(
        "--again",
        help="run the full sequence even where live state already holds the runbook's targets",
    ),
]
NoRollbackOption = Annotated[
    bool,
    typer.Option(
        "--no-rollback",
        help="when a guard fails, leave the changes applied and exit 3 with the rollback"
        " command (the runbook's `rollback.automatic: false`, for this run; journaled)",
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="rehearse against a private copy of the targets (captured read-only, run on"
        " loopback, removed after); production is never written",
    ),
]
ReportOption = Annotated[
    str | None,
    typer.Option(
        "--report",
        help="write the run's report here when it ends, however it ends ({run_id} is filled"
        " in; .json, .md, else HTML); notifications link to it",
    ),
]
RunArgument = Annotated[str, typer.Argument(help="run id (or a unique prefix, or `last`)")]


def run(
    file: Annotated[Path, typer.Argument(help="the runbook")],
    env: EnvOption = "lab",
    var: VarOption = None,
    vars_file: VarsFileOption = None,
    include_root: IncludeRootOption = None,
    yes: YesOption = False,
    state_dir: StateDirOption = None,
    force_unlock: ForceUnlockOption = False,
    again: AgainOption = False,
    dry_run: DryRunOption = False,
    no_rollback: NoRollbackOption = False,
    report: ReportOption = None,
) -> None:
    """Run a runbook: staged changes, probes after every step, automatic verified rollback.

    When live state already holds the runbook's final state, say so and exit 0 without
    writing; steps already at their target are skipped (`--again` forces every step).
    With `--dry-run`, every stage runs against a throwaway copy of what the steps touch,
    and the exit code is the one the real run would have had."""
    from cutover.cli.driver import Request, drive
    from cutover.cli.output import exits

    with exits():
        extra = overrides(var, vars_file, include_root)
        code = drive(
            Request(
                "run",
                file,
                env,
                extra,
                state_dir,
                yes,
                force_unlock,
                again=again,
                no_rollback=no_rollback,
                dry_run=dry_run,
                report=report,
            )
        )
    raise typer.Exit(code)


def resume(
    run_id: RunArgument,
    yes: YesOption = False,
    state_dir: StateDirOption = None,
    force_unlock: ForceUnlockOption = False,
    report: ReportOption = None,
) -> None:
    """Finish an interrupted run (after a crash or kill -9), reconciling live state first."""
    from cutover.cli.driver import drive, request_for_run
    from cutover.cli.output import exits

    with exits():
        code = drive(request_for_run("resume", run_id, state_dir, yes, force_unlock, report))
    raise typer.Exit(code)


def rollback(
    run_id: RunArgument,
    state_dir: StateDirOption = None,
    force_unlock: ForceUnlockOption = False,
    report: ReportOption = None,
) -> None:
    """Roll back every applied step of a run, newest first, then verify with probes."""
    from cutover.cli.driver import drive, request_for_run
    from cutover.cli.output import exits

    with exits():
        code = drive(request_for_run("rollback", run_id, state_dir, True, force_unlock, report))
    raise typer.Exit(code)
