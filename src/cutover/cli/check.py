"""``cutover check FILE``: run probe sets as a smoke check, with Nagios exit codes.

Exit codes (``docs/check.md``): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. UNKNOWN means the
check itself could not run, and that includes invalid input (a bad checks file, option or
variable): a monitoring system must not page "downloads are broken" for a typo. This is the
Nagios plugin convention, and the one place where ``check`` differs from ``run`` (exit 2).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand

from cutover.cli.app import app
from cutover.cli.options import StateDirOption, VarOption, VarsFileOption, overrides

if TYPE_CHECKING:
    from cutover.report.check_round import CheckRound

FORMATS = ("table", "json", "junit", "prometheus", "nagios")
UNKNOWN = 3


class _NagiosCommand(TyperCommand):
    """Usage errors (unknown option, missing FILE) exit 3 UNKNOWN, not click's 2."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except Exception as exc:
            # click's UsageError family (typer vendors click, so match it by its exit code)
            if getattr(exc, "exit_code", None) == 2:
                exc.exit_code = UNKNOWN  # type: ignore[attr-defined]
            raise


@app.command(cls=_NagiosCommand)
def check(
    file: Annotated[Path, typer.Argument(help="checks file (checks/*.yml)")],
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="environment profile (resolve map, CA)")
    ] = None,
    var: VarOption = None,
    vars_file: VarsFileOption = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="run only this probe set (repeatable)")
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="table, json, junit, prometheus or nagios "
            "(default: table on a terminal, json otherwise)",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here (atomically), not stdout")
    ] = None,
    every: Annotated[
        str | None, typer.Option("--every", help="repeat every INTERVAL (e.g. 60s) until Ctrl-C")
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", help="with --every: stop after N rounds")
    ] = None,
    warning: Annotated[
        str | None, typer.Option("--warning", help="failure rate above which: WARNING (0.05 or 5%)")
    ] = None,
    critical: Annotated[
        str | None, typer.Option("--critical", help="failure rate at/above which: CRITICAL")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="probes in flight (default: the file's)")
    ] = None,
    state_dir: StateDirOption = None,
) -> None:
    """Run probe sets once (or --every INTERVAL): exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    from cutover.cli.output import stdout_is_tty

    fmt = output_format or ("table" if output is None and stdout_is_tty() else "json")
    if fmt not in FORMATS:
        _unknown(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    interval = _interval(every)
    if count is not None and count < 1:
        _unknown("--count must be at least 1")
    if count is not None and interval is None:
        _unknown("--count needs --every")
    if concurrency is not None and not 1 <= concurrency <= 256:
        _unknown("--concurrency must be between 1 and 256")
    warn_rate = _rate("--warning", warning)
    crit_rate = _rate("--critical", critical)
    status = _check(
        _Request(
            file,
            env,
            overrides(var, vars_file),
            sets or [],
            fmt,
            output,
            interval,
            count,
            warn_rate,
            crit_rate,
            concurrency,
            state_dir,
        )
    )
    raise typer.Exit(status)


def _unknown(message: str, hint: str | None = None) -> NoReturn:
    from cutover.cli.output import warn

    warn(f"error: {message}" + (f"\n  hint: {hint}" if hint else ""))
    raise typer.Exit(UNKNOWN)


def _interval(every: str | None) -> float | None:
    if every is None:
        return None
    from cutover.runbook.types import parse_duration

    try:
        seconds = float(parse_duration(every))
    except ValueError as exc:
        _unknown(f"--every: {exc}")
    if seconds <= 0:
        _unknown("--every must be more than 0s")
    return seconds


def _rate(option: str, raw: str | None) -> float | None:
    if raw is None:
        return None
    text = raw.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        _unknown(f"{option} {raw!r}: write a rate such as 0.05 or 5%")
    if not 0 <= value <= 1:
        _unknown(f"{option} {raw!r}: a rate is between 0 and 1 (0% and 100%)")
    return value


@dataclass(frozen=True)
class _Request:
    """One ``cutover check`` invocation, options parsed and checked."""

    file: Path
    env: str | None
    extra: Any
    only: list[str]
    fmt: str
    output: Path | None
    interval: float | None
    count: int | None
    warn_rate: float | None
    crit_rate: float | None
    concurrency: int | None
    state_dir: Path | None


def _check(request: _Request) -> int:
    """Prepare the target (the lab, if any), load, run rounds; every error is UNKNOWN."""
    from cutover.cli.options import resolve_state as resolve_state_dir
    from cutover.cli.output import warn
    from cutover.errors import CutoverError, DocumentError
    from cutover.target import open_target

    try:
        with open_target(request.file, request.env, resolve_state_dir(request.state_dir)) as t:
            return _check_target(request, t)
    except DocumentError as exc:
        warn(exc.render())
        return UNKNOWN
    except CutoverError as exc:
        warn(f"error: {exc.render()}")
        return UNKNOWN


def _check_target(request: _Request, target: Any) -> int:
    file, env, extra, only, fmt, output = (
        request.file,
        request.env,
        request.extra,
        request.only,
        request.fmt,
        request.output,
    )
    interval, count, concurrency = request.interval, request.count, request.concurrency
    warn_rate, crit_rate = request.warn_rate, request.crit_rate
    from cutover.cli.output import warn
    from cutover.errors import CutoverError
    from cutover.runbook.loader import load_checks

    loaded = load_checks(file, environment=env, overrides=extra, lab=target.lab)
    model = loaded.model
    missing = [name for name in only if name not in model.sets]
    if missing:
        from cutover.runbook.problems import did_you_mean

        _unknown(
            f"{file}: no probe set named {missing[0]!r}",
            did_you_mean(missing[0], model.sets) or f"sets: {', '.join(model.sets)}",
        )
    chosen = {name: model.sets[name] for name in (only or list(model.sets))}
    warning = model.thresholds.warning if warn_rate is None else warn_rate
    critical = model.thresholds.critical if crit_rate is None else crit_rate
    if critical < warning:
        _unknown(f"the critical rate ({critical:g}) is below the warning rate ({warning:g})")
    emit = _emitter(fmt, output, model.name, str(file), env)
    try:
        return _rounds(
            loaded,
            target,
            chosen,
            concurrency or model.concurrency,
            warning,
            critical,
            interval,
            count,
            emit,
        )
    except CutoverError as exc:
        warn(f"error: {exc.render()}")
        return UNKNOWN
    except OSError as exc:  # --output cannot be written
        warn(f"error: cannot write {output}: {exc.strerror or exc}")
        return UNKNOWN


def _rounds(
    loaded: Any,
    target: Any,
    chosen: dict[str, Any],
    concurrency: int,
    warning: float,
    critical: float,
    interval: float | None,
    count: int | None,
    emit: Callable[[CheckRound], None],
) -> int:
    from cutover.cli.output import warn
    from cutover.probes import ExpansionError, ProbeRunner, expand_sets
    from cutover.report.check_round import CheckRound
    from cutover.target import probe_settings

    last: int | None = None
    number = completed = 0
    resolve, ca_bundle = probe_settings(loaded, target)
    with (
        _stop_on_sigterm(),
        ProbeRunner(resolve=resolve, ca_bundle=ca_bundle, concurrency=concurrency) as runner,
    ):
        try:
            while count is None or number < count:
                number += 1
                started, clock = time.time(), time.monotonic()
                bases = {
                    name: loaded.probe_bases.get(name, loaded.source.parent) for name in chosen
                }
                common = {
                    "check": loaded.model.name,
                    "source": str(loaded.source),
                    "environment": loaded.environment,
                    "number": number,
                    "started": started,
                    "warning": warning,
                    "critical": critical,
                    "sets": tuple(chosen),
                }
                try:
                    specs = expand_sets(chosen, bases=bases, runner=runner)
                except ExpansionError as exc:
                    warn(f"error: {exc.render()}")
                    round_ = CheckRound(
                        duration=time.monotonic() - clock, error=exc.message, **common
                    )
                else:
                    results = runner.run(specs)
                    round_ = CheckRound(
                        duration=time.monotonic() - clock, results=tuple(results), **common
                    )
                last = int(round_.status)  # the round is complete: its status stands
                completed += 1
                emit(round_)
                if interval is None or (count is not None and number >= count):
                    break
                time.sleep(max(0.0, interval - (time.monotonic() - clock)))
        except KeyboardInterrupt:
            warn("interrupted" + (f" after {completed} complete round(s)" if completed else ""))
            return UNKNOWN if last is None else last
    return UNKNOWN if last is None else last


def _emitter(
    fmt: str, output: Path | None, check: str, source: str, env: str | None
) -> Callable[[CheckRound], None]:
    """Render each round in ``fmt``; to stdout, or replacing ``output`` atomically."""
    from cutover.cli.output import stdout_is_tty
    from cutover.report import jsonl, junit, nagios, prometheus, table
    from cutover.report.files import write_atomically
    from cutover.secrets import redact

    colour = output is None and stdout_is_tty()
    header = jsonl.header(check, source, env)
    first = True

    def emit(round_: CheckRound) -> None:
        nonlocal first
        renderers: dict[str, Callable[[CheckRound], str]] = {
            "table": lambda r: table.render(r, colour=colour),
            "json": jsonl.render,
            "junit": junit.render,
            "prometheus": prometheus.render,
            "nagios": nagios.render,
        }
        text = renderers[fmt](round_)
        if fmt == "json" and (first or output is not None):
            text = header + text
        first = False
        text = redact(text)
        if output is not None:
            write_atomically(output, text)
        else:
            typer.echo(text, nl=False)

    return emit


class _stop_on_sigterm:  # noqa: N801  (used as a context manager, reads as a phrase)
    """SIGTERM (systemd stop, kill) stops like Ctrl-C: no new round, a clean exit."""

    def __enter__(self) -> None:
        import signal
        import threading

        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._raise)

    @staticmethod
    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
