"""The typer application and its entry point."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="cutover",
    help="Orchestrate risky traffic migrations: staged flips, download probes, verified rollback.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Console-script entry point."""
    app()
