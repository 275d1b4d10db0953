"""The typer application, its global options and its entry point.

Command modules define plain functions (and ``lab`` a sub-app); this module registers
them, in the order ``cutover --help`` lists them. Nothing but the entry point imports this
module (a test checks), so the command modules never import back. They import heavy
things inside the command functions, so ``cutover --help`` imports almost nothing.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="cutover",
    help="Orchestrate risky traffic migrations: staged flips, download probes, verified rollback.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion (docs/cli.md)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from cutover import __version__

        typer.echo(f"cutover {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    log_format: Annotated[
        str, typer.Option("--log-format", help="console (readable) or json (JSON lines)")
    ] = "console",
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning")] = "info",
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="show the actions' log lines on stderr during a run too"
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    from cutover.cli.output import fail_input
    from cutover.log import configure

    if log_format not in ("console", "json"):
        fail_input(f"--log-format {log_format!r}: use console or json")
    configure("json" if log_format == "json" else "console", log_level, verbose)


def _register() -> None:
    from cutover.cli import (
        check,
        control,
        init,
        journal_views,
        plan,
        run,
        run_report,
        schema,
        validate,
    )
    from cutover.cli.exporter import exporter
    from cutover.cli.lab import lab_app
    from cutover.cli.state import state_app

    for command in (
        validate.validate,
        plan.plan,
        run.run,
        run.resume,
        run.rollback,
        control.promote,
        control.abort,
        control.pause,
        control.approve,
        control.decline,
        journal_views.status,
        journal_views.history,
        journal_views.show,
        run_report.report,
    ):
        app.command()(command)
    app.command(cls=check.NagiosCommand)(check.check)
    app.command()(schema.schema)
    app.command()(init.init)
    app.command()(exporter)
    app.add_typer(lab_app, name="lab")
    app.add_typer(state_app, name="state")


_register()


def main() -> None:
    """Console-script entry point (``python -m cutover`` too: one program name, so that
    usage lines and shell completion say ``cutover``)."""
    app(prog_name="cutover")
