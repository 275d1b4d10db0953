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

from cutover.cli.options import StateDirOption, VarOption, VarsFileOption, overrides
from cutover.errors import exit_code_for

if TYPE_CHECKING:
    from cutover.probes import ProbeRunner
    from cutover.probes.rounds import ChosenSets
    from cutover.report.check_round import CheckRound
    from cutover.runbook.probe_models import ChecksFile
    from cutover.target import Target

FORMATS = ("table", "json", "junit", "prometheus", "nagios")


class NagiosCommand(TyperCommand):
    """Usage errors (unknown option, missing FILE) exit 3 UNKNOWN, not click's 2."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except Exception as exc:
            # click's UsageError family (typer vendors click, so match it by its exit code)
            if getattr(exc, "exit_code", None) == 2:
                exc.exit_code = exit_code_for(exc, nagios=True)  # type: ignore[attr-defined]
            raise


def check(
    file: Annotated[Path, typer.Argument(help="checks file (checks/*.yml)")],
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="environment profile (resolve map, CA)")
    ] = None,
    var: VarOption = None,
    vars_file: VarsFileOption = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="run only this probe set, smoke or not (repeatable)"),
    ] = None,
    add_sets: Annotated[
        list[str] | None,
        typer.Option(
            "--add-set", help="run the smoke sets and this opt-in (smoke: false) set (repeatable)"
        ),
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
    per_url: Annotated[
        bool,
        typer.Option(
            "--per-url",
            help="with --format prometheus: a series per probe too (default: per set only)",
        ),
    ] = False,
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
    if per_url and fmt != "prometheus":
        _unknown(f"--per-url is for --format prometheus, not --format {fmt}")
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
            add_sets or [],
            fmt,
            per_url,
            output,
            interval,
            every,
            count,
            warn_rate,
            crit_rate,
            concurrency,
            state_dir,
        )
    )
    raise typer.Exit(status)


def _unknown(message: str, hint: str | None = None) -> NoReturn:
    from cutover.cli.output import fail_input

    fail_input(message, hint, nagios=True)


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
    added: list[str]
    fmt: str
    per_url: bool  #: --format prometheus: per-probe series too
    output: Path | None
    interval: float | None
    every: str | None  #: --every as written (for messages)
    count: int | None
    warn_rate: float | None
    crit_rate: float | None
    concurrency: int | None
    state_dir: str | None


def _check(request: _Request) -> int:
    """Prepare the target (the lab, if any), load, run rounds; every error is UNKNOWN."""
    from cutover.cli.options import resolve_state as resolve_state_dir
    from cutover.cli.output import error_text, warn
    from cutover.errors import CutoverError
    from cutover.target import open_target

    try:
        with open_target(request.file, request.env, resolve_state_dir(request.state_dir)) as t:
            return _check_target(request, t)
    except CutoverError as exc:
        warn(error_text(exc))
        return exit_code_for(exc, nagios=True)


def _check_target(request: _Request, target: Target) -> int:
    from cutover.cli.output import error_text, warn
    from cutover.errors import CutoverError
    from cutover.probes.rounds import ChosenSets
    from cutover.runbook.loader import load_checks

    file = request.file
    loaded = load_checks(file, environment=request.env, overrides=request.extra, lab=target.lab)
    model = loaded.model
    chosen = {name: model.sets[name] for name in _chosen_sets(request, model)}
    warning = model.thresholds.warning if request.warn_rate is None else request.warn_rate
    critical = model.thresholds.critical if request.crit_rate is None else request.crit_rate
    if critical < warning:
        _unknown(f"the critical rate ({critical:g}) is below the warning rate ({warning:g})")
    emit = _emitter(request, model.name, str(file))
    try:
        return _rounds(
            ChosenSets(loaded, chosen, warning, critical),
            target,
            request.concurrency or model.concurrency,
            request,
            emit,
        )
    except CutoverError as exc:
        warn(error_text(exc))
        return exit_code_for(exc, nagios=True)
    except OSError as exc:  # --output cannot be written
        warn(f"error: cannot write {request.output}: {exc.strerror or exc}")
        return exit_code_for(exc, nagios=True)


def _chosen_sets(request: _Request, model: ChecksFile) -> list[str]:
    """``--set`` names exactly; otherwise the smoke sets (``smoke: true``) plus ``--add-set``.

    A smoke check asks "can users download?", in every phase of a migration; a set such as
    "the legacy host now redirects" asks whether the migration has happened, so it is
    ``smoke: false`` and runs only when named.
    """
    if request.only and request.added:
        _unknown("--set and --add-set cannot be combined", "--set names every set to run")
    named = request.only or request.added
    missing = [name for name in named if name not in model.sets]
    if missing:
        from cutover.hints import did_you_mean

        _unknown(
            f"{request.file}: no probe set named {missing[0]!r}",
            did_you_mean(missing[0], model.sets) or f"sets: {', '.join(model.sets)}",
        )
    if request.only:
        return list(dict.fromkeys(request.only))
    chosen = [name for name, s in model.sets.items() if s.smoke or name in request.added]
    if not chosen:
        opt_in = ", ".join(model.sets)
        _unknown(
            f"{request.file}: every probe set is `smoke: false`, so no set runs by default",
            f"name the sets to run with --set ({opt_in})",
        )
    return chosen


def _rounds(
    round_: ChosenSets,
    target: Target,
    concurrency: int,
    schedule: _Request,
    emit: Callable[[CheckRound], None],
) -> int:
    """Run rounds as ``schedule`` says (once, or every interval up to count) until Ctrl-C."""
    from cutover.cli.output import warn
    from cutover.probes import ProbeRunner
    from cutover.target import probe_settings

    last: int | None = None
    number = completed = 0
    interval, count = schedule.interval, schedule.count
    resolve, ca_bundle = probe_settings(round_.loaded, target)
    with (
        _stop_on_sigterm(),
        ProbeRunner(resolve=resolve, ca_bundle=ca_bundle, concurrency=concurrency) as runner,
    ):
        try:
            while count is None or number < count:
                number += 1
                clock = time.monotonic()
                result = _one_round(round_, runner, number, interval)
                last = int(result.status)  # the round is complete: its status stands
                completed += 1
                emit(result)
                if interval is None or (count is not None and number >= count):
                    break
                wait, skipped = _next_start(clock, time.monotonic(), interval)
                if skipped:
                    warn(
                        f"round {number} overran --every {schedule.every}: it took "
                        f"{result.duration:.3f}s; {skipped} start(s) skipped, the next "
                        f"round starts in {wait:.3f}s"
                    )
                time.sleep(wait)
        except KeyboardInterrupt as exc:
            warn("interrupted" + (f" after {completed} complete round(s)" if completed else ""))
            return exit_code_for(exc, nagios=True) if last is None else last
    assert last is not None  # at least one round ran: count is None or at least 1
    return last


def _next_start(started: float, now: float, interval: float) -> tuple[float, int]:
    """Seconds to wait for the next start, and how many starts the last round overran.

    Rounds start on a fixed grid (``started`` + k * interval, measured from the start of
    each round): a round that overruns its interval is never stacked or followed by a burst
    of catch-up rounds; the starts it overran are skipped, and the next round waits for the
    next point of the grid.
    """
    import math

    ticks = max(1, math.ceil((now - started) / interval))
    return max(0.0, started + ticks * interval - now), ticks - 1


def _one_round(
    round_: ChosenSets, runner: ProbeRunner, number: int, interval: float | None
) -> CheckRound:
    """One round (:func:`cutover.probes.rounds.run_round`); an expansion error is printed."""
    from cutover.cli.output import error_text, warn
    from cutover.probes.rounds import run_round

    return run_round(round_, runner, number, interval, lambda exc: warn(error_text(exc)))


def _emitter(request: _Request, check: str, source: str) -> Callable[[CheckRound], None]:
    """Render each round in ``fmt``; to stdout, or replacing ``output`` atomically."""
    from cutover.cli.output import stdout_is_tty
    from cutover.report import jsonl, junit, nagios, prometheus, table
    from cutover.report.files import write_atomically
    from cutover.secrets import redact

    fmt, output = request.fmt, request.output
    colour = output is None and stdout_is_tty()
    header = jsonl.header(check, source, request.env)

    def emit(round_: CheckRound) -> None:
        renderers: dict[str, Callable[[CheckRound], str]] = {
            "table": lambda r: table.render(r, colour=colour),
            "json": jsonl.render,
            "junit": junit.render,
            "prometheus": lambda r: prometheus.render(r, per_url=request.per_url),
            "nagios": nagios.render,
        }
        text = renderers[fmt](round_)
        if fmt == "json":  # every round's lines stand alone: header, probes, summary
            text = header + text
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
