"""The engine with fakes: RecordingAction for changes, a scripted prober for observations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cutover.actions.base import RecordingAction
from cutover.engine import Engine
from cutover.errors import RunExit
from cutover.journal import Journal
from cutover.reasons import Reason
from cutover.runbook.loader import load_runbook

RUNBOOK = """\
name: demo
environments: {lab: {}}
backends:
  sh: {kind: shell}
probes:
  smoke:
    probes: [{url: "https://example.test/"}]
guard: {budget: 5s}
stages:
  - name: preflight
    preflight: true
    probes: [smoke]
  - name: one
    steps:
      - {name: a, backend: sh, command: [set, a], undo: [unset, a]}
      - {name: b, backend: sh, command: [set, b], undo: [unset, b]}
    probes: [smoke]
  - name: two
    gate: confirm
    steps:
      - {name: c, backend: sh, command: [set, c], undo: [unset, c]}
    probes: [smoke]
rollback:
  verify: [smoke]
"""


@dataclass(frozen=True)
class FakeResult:
    reason: Reason
    set: str = "smoke"
    url: str = "https://example.test/"

    @property
    def ok(self) -> bool:
        return self.reason.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "set": self.set,
            "url": self.url,
            "reason": self.reason.value,
            "ok": self.ok,
            "hops": [{"url": self.url, "status": 302}, {"url": self.url, "status": 302}],
        }


class ScriptedProber:
    """Healthy unless the world holds a key listed in ``breaks``."""

    def __init__(self, world: dict[str, Any], breaks: dict[str, Reason]) -> None:
        self.world = world
        self.breaks = breaks
        self.rounds = 0

    def probe(
        self,
        sets: Sequence[str],
        on_result: Callable[[Any], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> list[FakeResult]:
        """25 results per round, delivered one by one; a set ``cancel`` ends the round."""
        self.rounds += 1
        reason = next((r for key, r in self.breaks.items() if key in self.world), Reason.OK)
        out = []
        for _ in range(25):
            if cancel is not None and cancel.is_set():
                break
            out.append(FakeResult(reason))
            if on_result is not None:
                on_result(out[-1])
        return out


class UnreadableAction(RecordingAction):
    """Like a shell step with no check: live state cannot say whether it is in place."""

    def targets(self, live: dict[str, Any]) -> None:
        return None


class Harness:
    def __init__(
        self,
        tmp_path: Path,
        breaks: dict[str, Reason] | None = None,
        fail_on: dict[str, set[str]] | None = None,
        confirm: bool = True,
        unreadable: set[str] | None = None,
    ) -> None:
        path = tmp_path / "rb.yml"
        path.write_text(RUNBOOK, encoding="utf-8")
        self.runbook = load_runbook(path, environment="lab").model
        self.journal = Journal(tmp_path / "journal.db")
        self.world: dict[str, Any] = {}
        self.calls: list[tuple[str, str]] = []
        self.events: list[str] = []
        self.fail_on = fail_on or {}
        self.prober = ScriptedProber(self.world, breaks or {})
        self.stop = threading.Event()
        self.confirm = confirm
        self.unreadable = unreadable or set()  #: steps whose live state cannot be read

    def action(self, settings: Any, step: Any) -> RecordingAction:
        kind = UnreadableAction if step.name in self.unreadable else RecordingAction
        return kind(
            self.world,
            {step.name: "on"},
            calls=self.calls,
            fail_on=self.fail_on.get(step.name),
            name=step.name,
        )

    def engine(self, *, again: bool = False) -> Engine:
        return Engine(
            self.runbook,
            self.journal,
            self.prober,
            view=lambda kind, data: self.events.append(kind),
            confirm=lambda stage: self.confirm,
            actions=self.action,
            stop=self.stop,
            again=again,
        )

    def start(self, run_id: str = "r1") -> None:
        self.journal.start_run(run_id, "demo", "rb.yml", "lab", {})

    def kinds(self, run_id: str = "r1") -> list[tuple[str, str | None, int | None]]:
        return [
            (e.kind, e.stage, e.step)
            for e in self.journal.events(run_id)
            if e.kind in ("intent", "applied", "rolled_back", "not_applied", "rollback_failed")
        ]


def test_a_healthy_run_completes_with_intent_before_every_apply(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.start()
    outcome = h.engine().run("r1")
    assert (outcome.exit_code, outcome.status) == (RunExit.OK, "completed")
    assert h.world == {"a": "on", "b": "on", "c": "on"}
    assert h.kinds() == [
        ("intent", "one", 0),
        ("applied", "one", 0),
        ("intent", "one", 1),
        ("applied", "one", 1),
        ("intent", "two", 0),
        ("applied", "two", 0),
    ]
    intent = next(e for e in h.journal.events("r1") if e.kind == "intent")
    assert intent.data["prior"] == {"a": None}
    run = h.journal.find_run("r1")
    assert run is not None and (run.status, run.exit_code) == ("completed", 0)
    assert [c for c in h.calls if c[0] == "apply"] == [
        ("apply", "a"),
        ("apply", "b"),
        ("apply", "c"),
    ]


def test_a_loop_fails_the_stage_and_everything_is_rolled_back_newest_first(tmp_path: Path) -> None:
    h = Harness(tmp_path, breaks={"c": Reason.REDIRECT_LOOP})
    h.start()
    outcome = h.engine().run("r1")
    assert (outcome.exit_code, outcome.status) == (RunExit.ROLLED_BACK, "rolled_back")
    assert outcome.message.startswith("stage 'two': ")
    assert "redirect_loop" in outcome.message
    assert h.world == {}
    assert [c for c in h.calls if c[0] == "rollback"] == [
        ("rollback", "c"),
        ("rollback", "b"),
        ("rollback", "a"),
    ]
    assert h.kinds()[-3:] == [
        ("rolled_back", "two", 0),
        ("rolled_back", "one", 1),
        ("rolled_back", "one", 0),
    ]
    assert "rollback_verified" in h.events
    failed_round = next(
        e for e in h.journal.events("r1") if e.kind == "probe_round" and e.data["failed"]
    )
    # the round ended at the first loop: one is enough, zero tolerance
    assert failed_round.data["reasons"] == {"redirect_loop": 1}
    assert failed_round.data["failures"][0]["hops"][0]["status"] == 302
    assert h.journal.steps("r1")[0].status == "rolled_back"


def test_a_rollback_that_fails_needs_attention_and_a_later_rollback_finishes(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, breaks={"c": Reason.HTTP_5XX}, fail_on={"b": {"rollback"}})
    h.start()
    outcome = h.engine().run("r1")
    assert (outcome.exit_code, outcome.status) == (RunExit.NEEDS_ATTENTION, "needs_attention")
    assert outcome.still_applied == ["one/b (rollback_failed)"]
    assert "finish with: cutover rollback r1" in outcome.message
    assert h.world == {"b": "on"}
    h.fail_on.clear()
    later = h.engine().rollback("r1")
    assert (later.exit_code, later.status) == (RunExit.OK, "rolled_back")
    assert h.world == {}
    assert [s.status for s in h.journal.steps("r1")] == ["rolled_back"] * 3


def test_a_declined_gate_stops_and_rolls_back(tmp_path: Path) -> None:
    h = Harness(tmp_path, confirm=False)
    h.start()
    outcome = h.engine().run("r1")
    assert (outcome.exit_code, outcome.status) == (RunExit.STOPPED, "stopped")
    assert "gate before stage 'two' declined" in outcome.message
    assert h.world == {}
    assert ("apply", "c") not in h.calls


def test_an_interrupt_rolls_back_cleanly(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.start()
    engine = h.engine()
    original = h.prober.probe

    def probe_then_stop(sets: Sequence[str], *args: Any) -> list[FakeResult]:
        if "a" in h.world:
            h.stop.set()  # Ctrl-C arrives while stage one is probing
        return original(sets, *args)

    h.prober.probe = probe_then_stop  # type: ignore[method-assign]
    outcome = engine.run("r1")
    assert (outcome.exit_code, outcome.status) == (RunExit.STOPPED, "stopped")
    assert h.world == {}


def test_resume_after_a_crash_between_intent_and_applied_never_applies_twice(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    h.start()
    # What a crash right after the write of step b leaves: intent journaled, world changed.
    h.journal.event("r1", "stage_passed", stage="preflight")
    h.journal.event("r1", "intent", stage="one", step=0, name="a", prior={"a": None})
    h.journal.event("r1", "applied", stage="one", step=0, name="a", record={})
    h.journal.event("r1", "intent", stage="one", step=1, name="b", prior={"b": None})
    h.world.update(a="on", b="on")
    outcome = h.engine().resume("r1")
    assert outcome.exit_code == RunExit.OK
    assert [c for c in h.calls if c[0] == "apply"] == [("apply", "c")]
    assert h.world == {"a": "on", "b": "on", "c": "on"}
    reconciled = [e.data for e in h.journal.events("r1") if e.kind == "reconciled"]
    assert reconciled == [{"found": "applied"}]
    # the step found applied has its effect made live once, then is journaled applied
    assert [c for c in h.calls if c[0] == "finish"] == [("finish", "b")]
    applied_b = [e.data for e in h.journal.events("r1") if e.kind == "applied" and e.step == 1]
    assert applied_b == [{"name": "b", "record": {}, "reconciled": True}]


def test_rollback_after_a_crash_before_the_write_undoes_only_what_was_applied(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    h.start()
    h.journal.event("r1", "intent", stage="one", step=0, name="a", prior={"a": None})
    h.journal.event("r1", "applied", stage="one", step=0, name="a", record={})
    h.journal.event("r1", "intent", stage="one", step=1, name="b", prior={"b": None})
    h.world.update(a="on")  # b's write never happened
    outcome = h.engine().rollback("r1")
    assert outcome.exit_code == RunExit.OK
    assert [c for c in h.calls if c[0] == "rollback"] == [("rollback", "a")]
    assert h.kinds()[-2:] == [("not_applied", "one", 1), ("rolled_back", "one", 0)]
    assert h.world == {}


def test_a_failing_preflight_changes_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path, breaks={"": Reason.HTTP_5XX})
    h.world[""] = "broken before we start"
    h.start()
    outcome = h.engine().run("r1")
    assert outcome.exit_code == RunExit.NEEDS_ATTENTION  # the rollback cannot be verified
    assert [c for c in h.calls if c[0] == "apply"] == []


@pytest.mark.parametrize("reason", [Reason.HTTP_5XX, Reason.TIMEOUT])
def test_a_rate_failure_is_decided_by_the_guard(tmp_path: Path, reason: Reason) -> None:
    h = Harness(tmp_path, breaks={"a": reason})
    h.start()
    outcome = h.engine().run("r1")
    assert outcome.exit_code == RunExit.ROLLED_BACK
    guard = [
        e.data for e in h.journal.events("r1") if e.kind == "guard" and e.data["verdict"] == "fail"
    ]
    # the sequential test fails at the third failure in a row; the round stops there
    assert (guard[0]["samples"], guard[0]["failures"]) == (3, 3)


# --- resume makes a reconciled step's effect live; rollback leaves it to the undo -------------


def _crashed_between_intent_and_applied_of_b(h: Harness) -> None:
    h.journal.event("r1", "stage_passed", stage="preflight")
    h.journal.event("r1", "intent", stage="one", step=0, name="a", prior={"a": None})
    h.journal.event("r1", "applied", stage="one", step=0, name="a", record={})
    h.journal.event("r1", "intent", stage="one", step=1, name="b", prior={"b": None})
    h.world.update(a="on", b="on")


def test_resume_rolls_back_when_the_reconciled_effect_cannot_be_made_live(
    tmp_path: Path,
) -> None:
    """As an uncrashed run whose apply failed: the step is refused, everything undone."""
    h = Harness(tmp_path, fail_on={"b": {"finish"}})
    h.start()
    _crashed_between_intent_and_applied_of_b(h)
    outcome = h.engine().resume("r1")
    assert (outcome.exit_code, outcome.status) == (RunExit.ROLLED_BACK, "rolled_back")
    assert outcome.message.startswith("step 'b' failed: b: finish refused (recording fake)")
    assert h.world == {}
    assert ("apply", "c") not in h.calls
    failed = [e for e in h.journal.events("r1") if e.kind == "apply_failed"]
    assert [(e.stage, e.step) for e in failed] == [("one", 1)]
    assert [s.status for s in h.journal.steps("r1")] == ["rolled_back", "rolled_back"]


def test_rollback_after_a_crash_undoes_a_step_found_applied_without_journaling_applied(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    h.start()
    _crashed_between_intent_and_applied_of_b(h)
    outcome = h.engine().rollback("r1")
    assert (outcome.exit_code, outcome.status) == (RunExit.OK, "rolled_back")
    assert ("finish", "b") not in h.calls  # nothing is made live only to be undone
    assert h.kinds()[-2:] == [("rolled_back", "one", 1), ("rolled_back", "one", 0)]
    assert [k for k in h.kinds() if k[0] == "applied"] == [("applied", "one", 0)]
    assert h.world == {}


# --- a second run of a completed runbook changes nothing ---------------------------------------


def _events(h: Harness, run_id: str) -> list[tuple[str, str | None, int | None]]:
    return [(e.kind, e.stage, e.step) for e in h.journal.events(run_id)]


def test_a_second_run_of_a_completed_runbook_writes_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.start("r1")
    assert h.engine().run("r1").exit_code == RunExit.OK
    h.calls.clear()
    rounds = h.prober.rounds
    h.start("r2")
    outcome = h.engine().run("r2")
    assert (outcome.exit_code, outcome.status) == (RunExit.OK, "completed")
    assert outcome.message == (
        "already at target: live state holds the runbook's final state; nothing was written\n"
        "(pass --again to run the full sequence anyway)"
    )
    assert [c for c in h.calls if c[0] != "snapshot"] == []
    assert h.prober.rounds == rounds
    assert _events(h, "r2") == [("run_started", None, None), ("already_at_target", None, None)]
    held = next(e.data for e in h.journal.events("r2") if e.kind == "already_at_target")
    assert held == {"targets": [f"= recording {k}: 'on' (unchanged)" for k in ("a", "b", "c")]}
    run = h.journal.find_run("r2")
    assert run is not None and (run.status, run.exit_code) == ("completed", 0)


def test_again_forces_the_full_sequence(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.start("r1")
    assert h.engine().run("r1").exit_code == RunExit.OK
    h.calls.clear()
    h.start("r2")
    outcome = h.engine(again=True).run("r2")
    assert (outcome.exit_code, outcome.status) == (RunExit.OK, "completed")
    assert [c for c in h.calls if c[0] == "apply"] == [
        ("apply", "a"),
        ("apply", "b"),
        ("apply", "c"),
    ]
    kinds = [k for k, _, _ in _events(h, "r2")]
    assert "already_at_target" not in kinds and "skipped" not in kinds
    assert kinds.count("intent") == kinds.count("applied") == 3


#: what live state holds before the run → the steps skipped, the steps applied
PARTIAL = [
    ({"b": "on"}, ["b"], ["a", "c"]),
    ({"a": "on", "c": "on"}, ["a", "c"], ["b"]),
    ({"a": "off", "b": "on"}, ["b"], ["a", "c"]),
]


@pytest.mark.parametrize(("live", "skipped", "applied"), PARTIAL)
def test_steps_already_at_target_are_skipped_and_never_undone(
    tmp_path: Path, live: dict[str, str], skipped: list[str], applied: list[str]
) -> None:
    h = Harness(tmp_path)
    h.world.update(live)
    h.start()
    outcome = h.engine().run("r1")
    assert (outcome.exit_code, outcome.status) == (RunExit.OK, "completed")
    assert [c[1] for c in h.calls if c[0] == "apply"] == applied
    events = h.journal.events("r1")
    checked = next(e.data for e in events if e.kind == "final_state_checked")
    assert checked["holds"] is False and checked["unknown"] == []
    rows = [(e.data["name"], e.data["reason"]) for e in events if e.kind == "skipped"]
    reason = "already at target: live state holds what the step would write"
    assert rows == [(name, reason) for name in skipped]
    assert [s.name for s in h.journal.steps("r1")] == applied  # a skipped step has no intent
    # rolling the run back undoes only what it applied: skipped values stay as they were
    assert h.engine().rollback("r1").exit_code == RunExit.OK
    assert [c[1] for c in h.calls if c[0] == "rollback"] == applied[::-1]
    assert h.world == live


def test_a_step_whose_state_cannot_be_read_means_the_run_cannot_claim_already_holds(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, unreadable={"b"})
    h.world.update(a="on", b="on", c="on")
    h.start()
    outcome = h.engine().run("r1")
    assert (outcome.exit_code, outcome.status) == (RunExit.OK, "completed")
    checked = next(e.data for e in h.journal.events("r1") if e.kind == "final_state_checked")
    assert checked == {"holds": False, "differs": [], "unknown": ["one/b"]}
    # a and c are skipped (their live state says so); b cannot be known, so it runs
    assert [c[1] for c in h.calls if c[0] == "apply"] == ["b"]
    from cutover.report.run_view import LineView

    line = LineView().describe("final_state_checked", checked)
    assert line is not None and line.endswith(
        "cannot tell whether the runbook's final state already holds: live state cannot be"
        " read for one/b (no check command); running"
    )
