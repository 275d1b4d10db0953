"""The control verbs' checks, from journal rows alone: every verb against every state a
run can be in, exactly which apply (one row written) and which are refused (exit 2,
nothing written), with the message and hint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cutover import journal as jr
from cutover.control import identity, request
from cutover.errors import InputError, RunExit
from cutover.events import EventKind
from cutover.journal import Journal

#: the journal rows that put a running run in each state
STATES: dict[str, list[tuple[EventKind, str | None, dict[str, Any]]]] = {
    "probing": [(EventKind.STAGE_STARTED, "one", {})],
    "paused": [(EventKind.PAUSE_STARTED, "one", {"by": "runbook"})],
    "pause pending": [(EventKind.CONTROL_REQUESTED, None, {"verb": "pause", "by": "x@h"})],
    "asking the terminal": [(EventKind.GATE_WAITING, "two", {"waiting_for": "terminal"})],
    "waiting for approvals": [
        (EventKind.GATE_WAITING, "two", {"waiting_for": "approvals", "approvers": 2})
    ],
    "approved by me": [
        (EventKind.GATE_WAITING, "two", {"waiting_for": "approvals", "approvers": 2}),
        (EventKind.CONTROL_REQUESTED, "two", {"verb": "approve", "by": "me@ops"}),
    ],
    "pause ended": [
        (EventKind.PAUSE_STARTED, "one", {"by": "runbook"}),
        (EventKind.PAUSE_ENDED, "one", {"how": "elapsed"}),
    ],
    "resumed after a pause request": [
        (EventKind.CONTROL_REQUESTED, None, {"verb": "pause", "by": "x@h"}),
        (EventKind.RESUMED, None, {}),
    ],
}

NOT_WAITING = "is not waiting for approval"
#: (state, verb) → the refusal's message, or None when the request is written
EXPECTED: dict[tuple[str, str], str | None] = {
    ("probing", "promote"): NOT_WAITING,
    ("probing", "abort"): None,
    ("probing", "pause"): None,
    ("probing", "approve"): NOT_WAITING,
    ("paused", "promote"): None,
    ("paused", "abort"): None,
    ("paused", "pause"): "is already paused (or a pause is pending)",
    ("paused", "approve"): NOT_WAITING + " (it is paused)",
    ("pause pending", "pause"): "is already paused (or a pause is pending)",
    ("pause pending", "promote"): NOT_WAITING,
    ("asking the terminal", "promote"): NOT_WAITING + ": its gate asks at the operator's terminal",
    ("asking the terminal", "approve"): NOT_WAITING + ": its gate asks at the operator's terminal",
    ("asking the terminal", "abort"): None,
    ("waiting for approvals", "approve"): None,
    ("waiting for approvals", "promote"): None,
    ("waiting for approvals", "pause"): None,
    ("approved by me", "approve"): "me@ops already approved the gate before stage 'two'",
    ("approved by me", "promote"): "me@ops already approved the gate before stage 'two'",
    ("pause ended", "promote"): NOT_WAITING,
    ("pause ended", "pause"): None,
    ("resumed after a pause request", "pause"): None,
}


def journal_in(tmp_path: Path, state: str, status: str = jr.RUNNING) -> Journal:
    journal = Journal(tmp_path / "journal.db")
    journal.start_run("r1", "demo", "rb.yml", "lab", {})
    for kind, stage, data in STATES[state]:
        journal.event("r1", kind, stage=stage, **data)
    if status != jr.RUNNING:
        journal.set_status("r1", status, RunExit.NEEDS_ATTENTION)
    return journal


def requests(journal: Journal) -> list[dict[str, Any]]:
    return [e.data for e in journal.events("r1") if e.kind == EventKind.CONTROL_REQUESTED]


@pytest.mark.parametrize(("state", "verb"), sorted(EXPECTED), ids=lambda x: str(x))
def test_each_verb_in_each_state_applies_or_is_refused(
    tmp_path: Path, state: str, verb: str
) -> None:
    with journal_in(tmp_path, state) as journal:
        before = requests(journal)
        run = journal.find_run("r1")
        assert run is not None
        refusal = EXPECTED[(state, verb)]
        if refusal is None:
            said = request(journal, run, verb, "me@ops")
            assert said.startswith(f"{verb if verb != 'approve' else 'approval'} of ")
            assert requests(journal) == [*before, {"verb": verb, "by": "me@ops"}]
        else:
            with pytest.raises(InputError) as caught:
                request(journal, run, verb, "me@ops")
            assert caught.value.exit_code == RunExit.INVALID
            assert caught.value.message.endswith(refusal), caught.value.message
            assert requests(journal) == before


@pytest.mark.parametrize(
    ("status", "verb", "message", "hint"),
    [
        ("held", "abort", "run r1 is held at a gate: no process drives it",
         "roll it back with: cutover rollback r1"),
        ("held", "promote", "run r1 is held: nothing to promote", "see `cutover show r1`"),
        ("completed", "pause", "run r1 is completed: nothing to pause", "see `cutover show r1`"),
        ("interrupted", "abort", "run r1 was interrupted (pid 999999999 is gone): nothing to abort",
         "finish it with: cutover resume r1 (or cutover rollback r1)"),
    ],
)  # fmt: skip
def test_a_run_nobody_drives_refuses_every_verb(
    tmp_path: Path, status: str, verb: str, message: str, hint: str
) -> None:
    with journal_in(tmp_path, "probing", jr.RUNNING if status == "interrupted" else status) as j:
        if status == "interrupted":  # a running row whose process is gone, on this host
            j.store.write("UPDATE runs SET pid = 999999999 WHERE id = ?", ("r1",))
        run = j.find_run("r1")
        assert run is not None
        with pytest.raises(InputError) as caught:
            request(j, run, verb, "me@ops")
        assert (caught.value.message, caught.value.hint) == (message, hint)
        assert requests(j) == []


def test_identity_is_the_configured_one_else_user_at_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from cutover.process import current_user, hostname

    monkeypatch.setenv("CUTOVER_IDENTITY", "  release-bot  ")
    assert identity() == "release-bot"
    monkeypatch.delenv("CUTOVER_IDENTITY")
    assert identity() == f"{current_user()}@{hostname()}"
    assert os.environ.get("CUTOVER_IDENTITY") is None
