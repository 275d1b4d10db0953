"""Drive one run, resume or rollback: lock, session, signals, view, engine, final report.

Everything that can refuse does so before anything changes: an unknown run, a gate with
no TTY to ask on and no ``--yes``, a held lock, an interrupted run still holding applied
steps, probe sets that cannot be prepared.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from cutover import journal as jr
from cutover.cli.output import say, warn
from cutover.engine import Engine, Outcome
from cutover.errors import InputError, RunExit
from cutover.journal import Journal, RunRow
from cutover.lock import RunLock
from cutover.report.run_view import JsonView, LineView, LiveView
from cutover.runbook.loader import VarOverrides
from cutover.runbook.models import Stage
from cutover.session import Session, new_run_id, open_session
from cutover.target import state_dir


@dataclass(frozen=True)
class Request:
    command: str  #: run | resume | rollback
    file: Path
    environment: str
    overrides: VarOverrides
    state_dir: Path | None
    yes: bool
    force_unlock: bool
    run_id: str | None = None


def request_for_run(
    command: str, ref: str, directory: Path | None, yes: bool, force_unlock: bool
) -> Request:
    """A resume/rollback request, with the runbook, environment and vars the run used."""
    found = find_run(state_dir(directory), ref)
    options = found.options
    overrides = VarOverrides(
        files=tuple(Path(p) for p in options.get("vars_files", [])),
        pairs=tuple(options.get("vars", [])),
        include_roots=tuple(Path(p) for p in options.get("include_roots", [])),
    )
    return Request(
        command,
        Path(found.runbook_path),
        found.environment,
        overrides,
        directory,
        yes,
        force_unlock,
        found.id,
    )


def find_run(directory: Path, ref: str) -> RunRow:
    path = directory / "journal.db"
    if not path.exists():
        raise InputError(f"no journal in {directory}", hint="pass --state-dir, or run first")
    with Journal(path) as journal:
        found = journal.find_run(ref)
    if found is None:
        raise InputError(f"no run {ref!r} in {directory}", hint="see `cutover history`")
    return found


def drive(request: Request) -> int:
    directory = state_dir(request.state_dir)
    with open_session(request.file, request.environment, request.overrides, directory) as s:
        for warning in s.loaded.warnings:
            warn(warning.render())
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        if request.command != "rollback":
            _refuse_unaskable_gates(s.runbook.stages, request.yes, interactive)
        run_id = request.run_id or new_run_id()
        lock = RunLock(directory, s.runbook.name, request.environment)
        if request.force_unlock:
            gone = lock.force_unlock()
            if gone:
                warn(f"removed the lock of {gone.describe()}")
        lock.acquire(run_id, request.command)
        try:
            if lock.stale is not None:
                warn(f"the previous holder of this lock died: {lock.stale.describe()}")
            return _drive_locked(request, s, run_id, interactive)
        finally:
            lock.release()


def _drive_locked(request: Request, s: Session, run_id: str, interactive: bool) -> int:
    journal = s.journal
    if request.command == "run":
        _refuse_unfinished(journal, s.runbook.name, request.environment)
    else:
        found = journal.find_run(run_id)
        assert found is not None
        if request.command == "resume" and found.finished:
            raise InputError(f"run {run_id} already {found.status}; nothing to resume")
    prober = s.prober()
    try:
        if request.command != "rollback":
            prober.prepare(s.used_probe_sets())  # fail before anything changes
        else:
            prober.prepare(s.runbook.rollback.verify)
        if request.command == "run":
            journal.start_run(
                run_id,
                s.runbook.name,
                str(request.file.resolve()),
                request.environment,
                {
                    "vars": list(request.overrides.pairs),
                    "vars_files": [str(p.resolve()) for p in request.overrides.files],
                    "include_roots": [str(p.resolve()) for p in request.overrides.include_roots],
                    "yes": request.yes,
                },
            )
            _announce(run_id, s.runbook.name, request.environment)
        with _view(s, interactive) as view, _signals() as stop:
            engine = Engine(
                s.runbook,
                journal,
                prober,
                view=view,
                stop=stop,
                confirm=_confirmer(request.yes, view),
            )
            try:
                outcome = _dispatch(engine, request.command, run_id)
            except KeyboardInterrupt:
                outcome = _stopped_at_once(journal, run_id)
    finally:
        prober.close()
    _report(outcome, run_id)
    return int(outcome.exit_code)


def _dispatch(engine: Engine, command: str, run_id: str) -> Outcome:
    if command == "run":
        return engine.run(run_id)
    if command == "resume":
        return engine.resume(run_id)
    return engine.rollback(run_id)


def _refuse_unaskable_gates(stages: list[Stage], yes: bool, interactive: bool) -> None:
    gated = [s.name for s in stages if s.enabled and s.gate == "confirm"]
    if gated and not yes and not interactive:
        raise InputError(
            f"stage {gated[0]!r} has `gate: confirm`, and there is no terminal to ask on",
            hint="run it from a terminal, or pass --yes to approve gates for automation",
        )


def _refuse_unfinished(journal: Journal, runbook: str, environment: str) -> None:
    for row in journal.unfinished(runbook, environment):
        applied = [s for s in journal.steps(row.id) if s.maybe_applied]
        if applied:
            names = ", ".join(f"{s.stage}/{s.name}" for s in applied)
            raise InputError(
                f"run {row.id} ({row.status}, pid {row.pid} on {row.host}) did not finish and"
                f" may still have applied: {names}",
                hint=f"finish it first: `cutover resume {row.id}` or `cutover rollback {row.id}`",
            )
        journal.event(row.id, "abandoned", reason="nothing applied; superseded by a new run")
        journal.set_status(row.id, jr.STOPPED, RunExit.STOPPED)


def _stopped_at_once(journal: Journal, run_id: str) -> Outcome:
    still = [f"{s.stage}/{s.name} ({s.status})" for s in journal.steps(run_id) if s.maybe_applied]
    journal.set_status(run_id, jr.NEEDS_ATTENTION, RunExit.NEEDS_ATTENTION)
    return Outcome(
        RunExit.NEEDS_ATTENTION,
        jr.NEEDS_ATTENTION,
        f"stopped at once (second interrupt); finish with: cutover rollback {run_id}",
        still,
    )


def _json_mode() -> bool:
    from cutover.log import current_format

    return current_format() == "json"


def _announce(run_id: str, runbook: str, environment: str) -> None:
    if _json_mode():
        JsonView()("run", {"run_id": run_id, "runbook": runbook, "environment": environment})
    else:
        say(f"run {run_id}: {runbook} on {environment}")


def _report(outcome: Outcome, run_id: str) -> None:
    if _json_mode():
        JsonView()(
            "outcome",
            {
                "run_id": run_id,
                "status": outcome.status,
                "exit_code": int(outcome.exit_code),
                "message": outcome.message,
                "still_applied": outcome.still_applied,
            },
        )
        return
    say("")
    say(f"run {run_id}: {outcome.status} (exit {outcome.exit_code})")
    for line in outcome.message.splitlines():
        say(f"  {line}")
    if outcome.still_applied:
        say("  still applied (newest last):")
        for item in outcome.still_applied:
            say(f"    - {item}")
    say(f"  details: cutover show {run_id}")


@contextmanager
def _view(s: Session, interactive: bool) -> Iterator[Any]:
    if _json_mode():
        yield JsonView()
        return
    if interactive:
        live = LiveView(s.runbook.name, len(s.runbook.stages))
        try:
            yield live
        finally:
            live.close()
        return
    yield LineView(total_stages=len(s.runbook.stages))


def _confirmer(yes: bool, view: Any) -> Any:
    def confirm(stage: Stage) -> bool:
        if yes:
            return True
        import typer

        pause = getattr(view, "live", None)
        if pause is not None:
            pause.stop()
        try:
            return typer.confirm(f"Proceed with stage {stage.name!r}?", default=False)
        finally:
            if pause is not None:
                pause.start()

    return confirm


@contextmanager
def _signals() -> Iterator[threading.Event]:
    """First Ctrl-C/SIGTERM: stop cleanly (roll back). Second: stop at once."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        warn("stopping: rolling back what was applied (interrupt again to stop at once)")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
