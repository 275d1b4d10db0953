"""Drive one run, resume or rollback: session, target locks, signals, view, engine, report.

Everything that can refuse does so before anything changes: an unknown run, a gate with
no TTY to ask on and no ``--yes``, a target locked by another run (on this host, from any
directory or state directory; with a PostgreSQL store, on any host sharing it), an
interrupted run still holding applied steps, probe sets that cannot be prepared.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from cutover import journal as jr
from cutover.cli.options import resolve_store, state_choice
from cutover.cli.output import say, warn
from cutover.engine import Engine, Outcome
from cutover.errors import InputError, RunExit
from cutover.events import EventKind
from cutover.journal import Journal, RunRow
from cutover.journal_store import StoreUnavailable
from cutover.lock import Holder, HostLocks, LockStore, Stale, acquire_all
from cutover.report.run_file import report_path, write_run_report
from cutover.report.run_view import JsonView, LineView, LiveView
from cutover.runbook.loader import VarOverrides
from cutover.runbook.models import Runbook, Stage
from cutover.session import Session, new_run_id, open_session
from cutover.state_location import Store, store_of
from cutover.terminal import wants_colour

if TYPE_CHECKING:
    from cutover.notify.dispatch import Dispatcher


@dataclass(frozen=True)
class Request:
    command: str  #: run | resume | rollback
    file: Path
    environment: str
    overrides: VarOverrides
    state_dir: str | Store | None  #: --state as given, or the store a run was found in
    yes: bool
    force_unlock: bool
    run_id: str | None = None
    again: bool = False  #: run every step, even where live state already holds its target
    #: ``--no-rollback``: a failed guard leaves the changes applied (exit 3, the command)
    no_rollback: bool = False
    dry_run: bool = False  #: rehearse against private copies of the targets (cutover.dryrun)
    #: ``--report FILE``: the run's report, written when it ends (``{run_id}`` filled in)
    report: str | None = None

    @property
    def journaled_environment(self) -> str:
        """The environment as the journal names the run: a dry run is never taken for (or
        blocked by) a real run of the same environment."""
        return f"{self.environment} (dry run)" if self.dry_run else self.environment


def request_for_run(
    command: str,
    ref: str,
    directory: str | None,
    yes: bool,
    force_unlock: bool,
    report: str | None = None,
) -> Request:
    """A resume/rollback request, with the runbook, environment, vars and ``--report``
    the run used (``report`` given here replaces the last).

    The run is looked for in every store on this host (:func:`find_run`); the request
    then uses the store the run is in.
    """
    store, found = find_run(directory, ref)
    options = found.options
    if options.get("dry_run"):
        raise InputError(
            f"run {found.id} was a dry run: its private copy is gone, and production was"
            f" never changed; there is nothing to {command}",
            hint=f"rehearse again: `cutover run {found.runbook_path} --dry-run`",
        )
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
        store,
        yes,
        force_unlock,
        found.id,
        again=bool(options.get("again", False)),
        no_rollback=bool(options.get("no_rollback", False)),
        report=report or options.get("report"),
    )


def find_run(option: str | Path | None, ref: str) -> tuple[Store, RunRow]:
    """The store and row of run ``ref``.

    With ``--state``/``$CUTOVER_STATE``, only that store is read. Otherwise the default
    store first, then every other store on this host (:func:`journal_stores`); ``last``
    is the newest run of the first store that has runs.
    """
    choice = state_choice(option)
    stores = [choice.store] if choice.explicit else journal_stores(choice.store)
    for store in stores:
        if not store.has_journal():
            continue
        with Journal.open(store) as journal:
            found = journal.find_run(ref)
        if found is not None:
            return store, found
    where = ", ".join(str(s) for s in stores)
    if not any(store.has_journal() for store in stores):
        raise InputError(f"no journal in {where}", hint="pass --state DIR, or run first")
    raise InputError(
        f"no run {ref!r} in {where}", hint="see `cutover history`, or pass --state DIR"
    )


def journal_stores(first: Store) -> list[Store]:
    """``first``, then every other store on this host that has a journal: the user's
    remembered stores and those named by lock holders (any user's runs)."""
    from cutover.state_location import known_stores

    try:
        named = [Path(h.state) for h in HostLocks().holders() if store_of(h.state).url is None]
    except InputError:
        named = []  # no lock directory: nothing to learn from it
    return known_stores(first, named)


def drive(request: Request) -> int:
    from cutover.lock_targets import run_targets
    from cutover.log import divert_to, run_log_path
    from cutover.process import current_user, hostname
    from cutover.state_location import remember_store

    store = request.state_dir
    if not isinstance(store, Store):
        store = resolve_store(store)
    with open_session(request.file, request.environment, request.overrides, store) as s:
        for warning in s.loaded.warnings:
            warn(warning.render())
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        if request.command != "rollback":
            _refuse_unaskable_gates(s.runbook.stages, request.yes, interactive)
        run_id = request.run_id or new_run_id()
        divert_to(run_log_path(store.directory, run_id))  # the view's lines stay whole
        targets = run_targets(s.runbook, request.environment, store.ref)
        locks = lock_stores(store)
        if request.force_unlock:
            for lock_store in locks:
                for gone in lock_store.force_unlock(targets):
                    warn(f"removed the lock of {gone.describe()}")
        holder = Holder(
            run_id,
            request.command,
            s.runbook.name,
            request.environment,
            store.ref,
            current_user(),
            hostname(),
            os.getpid(),
            jr.now(),
        )
        held = acquire_all(locks, targets, holder)
        try:
            for stale in held.stale:
                warn(stale.describe())
            _refuse_dead_holders_elsewhere(held.stale, run_id, store)
        except BaseException:
            held.release(keep_stale=True)
            raise
        if request.dry_run:
            from cutover.cli.dry_run import rehearsed

            with rehearsed(s, held) as copied:  # the real targets are locked while copied
                return _drive_locked(request, copied, run_id, interactive)
        try:
            if store.url is None:
                remember_store(store.directory)
            return _drive_locked(request, s, run_id, interactive)
        finally:
            held.release()


def lock_stores(store: Store) -> list[LockStore]:
    """Where a run's target locks are taken: this host's lock directory, always (a run
    of any store on this host is excluded), and the PostgreSQL store's advisory locks
    (a run of any host sharing it is excluded)."""
    if store.url is None:
        return [HostLocks()]
    from cutover.pg_store import PostgresLocks

    return [HostLocks(), PostgresLocks(store.url)]


def _drive_locked(request: Request, s: Session, run_id: str, interactive: bool) -> int:
    journal = s.journal
    if request.dry_run:
        _abandon_dry_runs(journal, s.runbook.name, request.journaled_environment)
    elif request.command == "run":
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
        template = _report_template(s, request)
        report = None if template is None else report_path(template, run_id)
        notify = _notifications(s, request, journal, run_id, report)
        if request.command == "run":
            journal.start_run(
                run_id,
                s.runbook.name,
                str(request.file.resolve()),
                request.journaled_environment,
                {
                    "dry_run": request.dry_run,
                    "vars": list(request.overrides.pairs),
                    "vars_files": [str(p.resolve()) for p in request.overrides.files],
                    "include_roots": [str(p.resolve()) for p in request.overrides.include_roots],
                    "yes": request.yes,
                    "again": request.again,
                    "no_rollback": request.no_rollback,
                    "report": template,
                },
            )
            _announce(run_id, s.runbook.name, request.journaled_environment)
        # a dry run marks every line: the line view, never the live one
        with _view(s, interactive and not request.dry_run) as view, _signals() as stop:
            engine = Engine(
                _rollback_choice(s.runbook, request.no_rollback),
                journal,
                prober,
                view=notify.tap(view),
                stop=stop,
                confirm=_confirmer(request.yes, view),
                again=request.again,
            )
            try:
                outcome = _dispatch(engine, request.command, run_id)
            except KeyboardInterrupt:
                outcome = _stopped_at_once(journal, run_id)
            except Exception as exc:  # the engine's own net failed: e.g. the journal
                outcome = _crashed(journal, run_id, exc)
    finally:
        prober.close()
    written = None if report is None else _write_report(journal, run_id, report)
    _report(outcome, run_id, written)
    notify.close()  # after the outcome is shown: a slow notifier delays only the exit
    return int(outcome.exit_code)


def _rollback_choice(runbook: Runbook, no_rollback: bool) -> Runbook:
    """The runbook as this run uses it: ``--no-rollback`` (journaled with the run's options,
    so a resume keeps it) turns the automatic rollback off; ``cutover rollback`` and a
    stop by the operator still roll back."""
    if not no_rollback:
        return runbook
    policy = runbook.rollback.model_copy(update={"automatic": False})
    return runbook.model_copy(update={"rollback": policy})


def _notifications(
    s: Session, request: Request, journal: Journal, run_id: str, report: Path | None
) -> Dispatcher:
    """The run's notification targets, resolved and checked before anything changes; a
    dry run notifies nobody (it changes nothing anyone watches). Messages at the end of
    the run link to ``report``, the file the run writes when it ends."""
    from cutover.notify.dispatch import Dispatcher
    from cutover.notify.messages import Composer

    environment = request.environment
    targets = [*s.runbook.notify, *s.runbook.environments[environment].notify]
    if request.dry_run:
        targets = []
    link = None if report is None else report.as_uri()
    compose = Composer(s.runbook.name, environment, run_id, _state_option(journal), link)
    return Dispatcher.configure(targets, compose, journal)


def _dispatch(engine: Engine, command: str, run_id: str) -> Outcome:
    if command == "run":
        return engine.run(run_id)
    if command == "resume":
        return engine.resume(run_id)
    return engine.rollback(run_id)


def _refuse_unaskable_gates(stages: list[Stage], yes: bool, interactive: bool) -> None:
    gated = [s.name for s in stages if s.enabled and s.gate is not None and s.gate.confirm]
    if gated and not yes and not interactive:
        raise InputError(
            f"stage {gated[0]!r} has `gate: confirm`, and there is no terminal to ask on",
            hint="run it from a terminal, or pass --yes to approve gates for automation",
        )


def _abandon_dry_runs(journal: Journal, runbook: str, environment: str) -> None:
    """A dry run that did not finish changed only its copy, which is gone: close it."""
    for row in journal.unfinished(runbook, environment):
        journal.event(row.id, EventKind.ABANDONED, reason="a dry run; its copy is gone")
        journal.set_status(row.id, jr.STOPPED, RunExit.STOPPED)


def _refuse_unfinished(journal: Journal, runbook: str, environment: str) -> None:
    for row in journal.unfinished(runbook, environment):
        _refuse_if_applied(journal, row, "")
        journal.event(
            row.id, EventKind.ABANDONED, reason="nothing applied; superseded by a new run"
        )
        journal.set_status(row.id, jr.STOPPED, RunExit.STOPPED)


def _refuse_if_applied(journal: Journal, row: RunRow, state_option: str) -> None:
    applied = [s for s in journal.steps(row.id) if s.maybe_applied]
    if applied:
        names = ", ".join(f"{s.stage}/{s.name}" for s in applied)
        raise InputError(
            f"run {row.id} ({row.status}, pid {row.pid} on {row.host}) did not finish and"
            f" may still have applied: {names}",
            hint=f"finish it first: `cutover resume {row.id}{state_option}` or"
            f" `cutover rollback {row.id}{state_option}`",
        )


def _refuse_dead_holders_elsewhere(stale: list[Stale], run_id: str, here: Store) -> None:
    """A dead holder of one of our targets, from another store, may have left steps
    applied there: this run must not start over them (its own store's unfinished runs
    are checked by :func:`_refuse_unfinished`, with the same message)."""
    for item in stale:
        dead = item.holder
        store = store_of(dead.state)
        if dead.run_id == run_id or store.ref == here.ref:
            continue  # finishing that very run, or checked through our own journal
        if not store.has_journal():
            continue  # nothing to read: its store is gone or on another host
        try:
            with Journal.open(store) as journal:
                row = journal.find_run(dead.run_id)
                if row is not None and not row.finished:
                    _refuse_if_applied(journal, row, store.state_option())
        except (OSError, sqlite3.Error, StoreUnavailable) as exc:
            raise InputError(
                f"{', '.join(item.targets)} was held by {dead.describe()}, which died; its"
                f" journal in {store} cannot be read ({exc})",
                hint=f"finish that run as {dead.user} (`cutover status --state {store}`), or"
                " pass --force-unlock if it is known to have left nothing applied",
            ) from None


def _stopped_at_once(journal: Journal, run_id: str) -> Outcome:
    if not journal.steps(run_id):  # before the first step: there is nothing to finish
        journal.set_status(run_id, jr.STOPPED, RunExit.STOPPED)
        return Outcome(
            RunExit.STOPPED,
            jr.STOPPED,
            "stopped at once (second interrupt); nothing was changed (no step had been applied)",
        )
    still = journal.still_applied(run_id)
    journal.set_status(run_id, jr.NEEDS_ATTENTION, RunExit.NEEDS_ATTENTION)
    return Outcome(
        RunExit.NEEDS_ATTENTION,
        jr.NEEDS_ATTENTION,
        f"stopped at once (second interrupt); finish with: cutover rollback {run_id}",
        still,
    )


def _crashed(journal: Journal, run_id: str, exc: Exception) -> Outcome:
    """The engine could not even record its own failure (a broken journal, say): exit 3
    with the command to finish, the traceback in the run's log file, never on screen."""
    from cutover.log import log_traceback, run_log_path

    logged = log_traceback(run_log_path(journal.local_dir, run_id), "driving the run", exc)
    if isinstance(exc, StoreUnavailable):
        message = f"{exc.message}; the run stopped where it was (traceback in {logged})"
    else:
        error = f"{type(exc).__name__}: {exc}"
        message = f"cutover failed unexpectedly: {error} (traceback in {logged})"
    still: list[str] = []
    try:
        still = journal.still_applied(run_id)
        journal.set_status(run_id, jr.NEEDS_ATTENTION, RunExit.NEEDS_ATTENTION)
    except StoreUnavailable:
        message += (
            "\nthe journal cannot be updated until its store is back; still applied, as"
            " this process journaled it, is listed below"
        )
    except Exception as error:  # the journal is what failed
        message += f"\nthe journal could not be read or updated ({error}): check what is live"
    where = _state_option(journal)
    return Outcome(
        RunExit.NEEDS_ATTENTION,
        jr.NEEDS_ATTENTION,
        f"{message}\nfinish with: cutover rollback {run_id}{where}",
        still,
    )


def _state_option(journal: Journal) -> str:
    """`` --state URL`` when the journal is a PostgreSQL store (its URL is never the
    default), else nothing."""
    from cutover.pg_store import PostgresStore

    store = journal.store
    return f" --state {store.where}" if isinstance(store, PostgresStore) else ""


def _json_mode() -> bool:
    from cutover.log import current_format

    return current_format() == "json"


def _announce(run_id: str, runbook: str, environment: str) -> None:
    if _json_mode():
        JsonView()("run", {"run_id": run_id, "runbook": runbook, "environment": environment})
    else:
        say(f"run {run_id}: {runbook} on {environment}")


def _report_template(s: Session, request: Request) -> str | None:
    """Where the run's report goes, absolute, ``{run_id}`` still in: ``--report`` (from the
    working directory; a resume or rollback is given the run's own), else the
    environment's ``report.path``, else the runbook's (from the runbook's folder)."""
    if request.report is not None:
        return str(Path(request.report).expanduser().absolute())
    configured = s.runbook.environments[request.environment].report or s.runbook.report
    if configured is None:
        return None
    return str((request.file.parent / Path(configured.path).expanduser()).absolute())


def _write_report(journal: Journal, run_id: str, path: Path) -> Path | None:
    """Write the run's report; a report that cannot be written never changes how the run
    ended: warned and journaled (``report_failed``), and None."""
    try:
        row = journal.find_run(run_id)
        assert row is not None, f"run {run_id} is in the journal that ran it"
        write_run_report(row, journal.events(run_id), path)
    except Exception as exc:
        error = str(exc)
        if isinstance(exc, OSError) and exc.strerror:
            blocker = Path(exc.filename) if isinstance(exc.filename, str) else None
            error = exc.strerror + (f": {blocker}" if blocker in path.parents else "")
        warn(f"the run's report was not written to {path}: {error}")
        try:
            journal.event(run_id, EventKind.REPORT_FAILED, path=str(path), error=error)
        except Exception as journal_error:  # the journal is what failed: said above
            warn(f"report_failed not journaled: {journal_error}")
        return None
    journal.event(run_id, EventKind.REPORT_WRITTEN, path=str(path))
    return path


def _report(outcome: Outcome, run_id: str, written: Path | None = None) -> None:
    if _json_mode():
        JsonView()(
            "outcome",
            {
                "run_id": run_id,
                "status": outcome.status,
                "exit_code": int(outcome.exit_code),
                "message": outcome.message,
                "still_applied": outcome.still_applied,
                **({} if written is None else {"report": str(written)}),
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
    if written is not None:
        say(f"  report:  {written}")
    else:
        say(f"  report:  cutover report {run_id} -o run.html")


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
    yield LineView(total_stages=len(s.runbook.stages), colour=wants_colour(sys.stdout))


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
