"""Printing and exiting: the one place that turns errors into messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from cutover.errors import CutoverError, DocumentError, RunExit


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
    except DocumentError as exc:
        warn(exc.render())  # located problems: FILE:LINE:COL: path: message
        raise typer.Exit(int(exc.exit_code)) from None
    except CutoverError as exc:
        warn(f"error: {exc.render()}")
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        warn("interrupted")
        raise typer.Exit(RunExit.STOPPED) from None


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
