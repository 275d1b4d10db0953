"""``cutover promote|abort|pause|approve|decline RUN``: steer a running run from any terminal.

Each verb checks that it can apply, then writes one journaled request with who asked
(:mod:`cutover.control`); the running engine takes it within a second. The verb's own
exit code says whether the request was recorded (0) or refused (2, nothing written);
the run's exit code says how the run ended.
"""

from __future__ import annotations

from cutover.cli.options import StateDirOption
from cutover.cli.run import RunArgument


def _request(verb: str, ref: str, state_dir: str | None) -> None:
    from cutover.cli.driver import find_run
    from cutover.cli.output import exits, say
    from cutover.control import identity, request
    from cutover.journal import Journal

    with exits():
        store, found = find_run(state_dir, ref)
        with Journal.open(store) as journal:
            say(request(journal, found, verb, identity()))


def promote(run_id: RunArgument, state_dir: StateDirOption = None) -> None:
    """End a pause now, or approve the gate a run waits at (one approval)."""
    _request("promote", run_id, state_dir)


def abort(run_id: RunArgument, state_dir: StateDirOption = None) -> None:
    """Stop a running run: roll back every applied step now, verified (the run exits 4)."""
    _request("abort", run_id, state_dir)


def pause(run_id: RunArgument, state_dir: StateDirOption = None) -> None:
    """Pause a running run at its next step or probe round, until `cutover promote`."""
    _request("pause", run_id, state_dir)


def approve(run_id: RunArgument, state_dir: StateDirOption = None) -> None:
    """Approve the gate a run waits at, as $CUTOVER_IDENTITY (else user@host)."""
    _request("approve", run_id, state_dir)


def decline(run_id: RunArgument, state_dir: StateDirOption = None) -> None:
    """Decline the gate a run waits at for approvals: its on_decline (rollback or hold)."""
    _request("decline", run_id, state_dir)
