"""Where cutover's diagnostics go.

- Log lines (structlog): on stderr, readable on a TTY, JSON lines with
  ``--log-format json``; secrets redacted. During a run, resume or rollback with the
  readable view, the actions' log lines go to the run's log file instead
  (:func:`divert_to`), so they never break into the view's lines; ``-v`` (``--verbose``)
  copies them to stderr too.
- Tracebacks of unexpected errors during a run, a resume or a rollback: never on the
  operator's screen (who needs the outcome and the next command, not a stack), but
  appended to the run's log file, ``STATE/logs/RUN.log`` (:func:`run_log_path`), secrets
  redacted; the journal and the outcome name that file.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, Literal, TextIO, cast

from cutover.secrets import redact, redact_data

LogFormat = Literal["console", "json"]


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: replace every resolved secret value in every field."""
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = redact(value)
        elif isinstance(value, dict | list | tuple):
            event_dict[key] = redact_data(value)
        elif value is not None and not isinstance(value, int | float | bool):
            text = redact(repr(value))
            if text != repr(value):
                event_dict[key] = text
    return event_dict


_settings: tuple[LogFormat, str] = ("console", "info")
_configured = False
_verbose = False
_diverted: Path | None = None  #: the run's log file, while the readable view shows the run


def configure(fmt: LogFormat = "console", level: str = "info", verbose: bool = False) -> None:
    """Choose the log format and level; structlog is set up on the first :func:`get_logger`."""
    global _settings, _configured, _verbose
    _settings = (fmt, level)
    _verbose = verbose
    _configured = False


def divert_to(path: Path | None) -> None:
    """With the readable format: log lines go to ``path`` (appended, private), and to
    stderr as well only with ``--verbose``; None: back to stderr. JSON log lines stay on
    stderr (a separate stream from the JSON events on stdout)."""
    global _diverted, _configured
    if _settings[0] == "console" or path is None:
        _diverted = path
        _configured = False


def current_format() -> LogFormat:
    """The log format chosen on the command line."""
    return _settings[0]


def get_logger(name: str) -> Any:
    """A structlog logger, configuring structlog first if needed (lazily: ``--help`` and
    ``validate`` never pay for it)."""
    import structlog

    global _configured
    if not _configured:
        _setup(*_settings)
        _configured = True
    return structlog.get_logger(name)


def _setup(fmt: LogFormat, level: str) -> None:
    import structlog

    from cutover.terminal import wants_colour

    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
    else:
        colours = _diverted is None and wants_colour(sys.stderr)
        renderer = structlog.dev.ConsoleRenderer(colors=colours)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(
            file=cast("TextIO", _Stderr() if _diverted is None else _Tee(_diverted, _verbose))
        ),
        cache_logger_on_first_use=False,
    )


class _Stderr:
    """``sys.stderr`` as it is at each write: never a stream captured at set-up, which may
    have been replaced and closed since (a redirected stderr, a test's capture)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _Tee:
    """A log file (opened for each line, so nothing is held open), and stderr too."""

    def __init__(self, path: Path, also_stderr: bool) -> None:
        self.path, self.also_stderr = path, also_stderr

    def write(self, text: str) -> int:
        from cutover.private_files import private_file

        try:
            with private_file(self.path).open("a", encoding="utf-8") as out:
                out.write(text)
        except OSError:
            sys.stderr.write(text)  # a log line is never lost, nor the run stopped by it
        else:
            if self.also_stderr:
                sys.stderr.write(text)
        return len(text)

    def flush(self) -> None:
        sys.stderr.flush()


def run_log_path(state_dir: Path, run_id: str) -> Path:
    """The log file of one run: ``STATE/logs/RUN.log`` (the folder 0700, the file 0600)."""
    return state_dir / "logs" / f"{run_id}.log"


def log_traceback(path: Path, where: str, exc: BaseException) -> str:
    """Append ``where`` and the traceback of ``exc`` to ``path``, secrets redacted.

    Returns where the traceback went, for the message that mentions it; never raises
    (a log file that cannot be written must not turn one failure into two).
    """
    from cutover.journal import now
    from cutover.private_files import private_file

    text = "".join(traceback.format_exception(exc))
    try:
        with private_file(path).open("a", encoding="utf-8") as out:
            out.write(redact(f"{now()} unexpected error while {where}\n{text}\n"))
    except OSError as error:
        return f"nowhere: {path} cannot be written ({error.strerror or error})"
    return str(path)
