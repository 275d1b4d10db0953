"""Printing and exiting: the one place that turns errors into messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from cutover.errors import CutoverError, RunExit


def say(text: str = "") -> None:
    """A result line, on stdout."""
    from cutover.secrets import redact

    typer.echo(redact(text))


def warn(text: str) -> None:
    """A diagnostic line, on stderr."""
    from cutover.secrets import redact

    typer.echo(redact(text), err=True)


def fail_input(message: str, hint: str | None = None) -> NoReturn:
    warn(f"error: {message}" + (f"\n  hint: {hint}" if hint else ""))
    raise typer.Exit(RunExit.INVALID)


@contextmanager
def exits() -> Iterator[None]:
    """Run a command body: a :class:`CutoverError` becomes its message and exit code."""
    try:
        yield
    except CutoverError as exc:
        warn(
            exc.render()
            if "\n" in exc.render() or ":" in exc.message[:60]
            else f"error: {exc.render()}"
        )
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        warn("interrupted")
        raise typer.Exit(RunExit.STOPPED) from None


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
