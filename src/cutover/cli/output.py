"""Printing and exiting: the one place that turns errors into messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from cutover.errors import CutoverError, DocumentError, InputError, exit_code_for


def say(text: str = "") -> None:
    """A result line, on stdout."""
    from cutover.secrets import redact

    typer.echo(redact(text))


def warn(text: str) -> None:
    """A diagnostic line, on stderr."""
    from cutover.secrets import redact

    typer.echo(redact(text), err=True)


def error_text(error: BaseException) -> str:
    """What the user reads for an error that stops a command (no traceback)."""
    if isinstance(error, DocumentError):
        return error.render()  # located problems: FILE:LINE:COL: path: message
    if isinstance(error, CutoverError):
        return f"error: {error.render()}"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return f"error: {error}"


def fail(error: BaseException, *, nagios: bool = False) -> NoReturn:
    """Print ``error`` and exit with its code (:func:`cutover.errors.exit_code_for`)."""
    warn(error_text(error))
    raise typer.Exit(exit_code_for(error, nagios=nagios)) from None


def fail_input(message: str, hint: str | None = None, *, nagios: bool = False) -> NoReturn:
    fail(InputError(message, hint=hint), nagios=nagios)


@contextmanager
def exits(*, nagios: bool = False) -> Iterator[None]:
    """Run a command body: a :class:`CutoverError` or Ctrl-C becomes its message and exit code."""
    try:
        yield
    except (CutoverError, KeyboardInterrupt) as exc:
        fail(exc, nagios=nagios)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
