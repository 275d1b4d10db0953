"""The engine with fakes: RecordingAction for changes, a scripted prober for observations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cutover.actions.base import Reconciled, RecordingAction
from cutover.cli.driver import _crashed, _stopped_at_once
from cutover.engine import Engine, Outcome
from cutover.errors import RunExit
from cutover.guards import Guard
from cutover.journal import Journal
from cutover.journal_reads import read_events, read_status
from cutover.reasons import Reason
from cutover.report.journal_text import show_lines, status_lines
from cutover.runbook.loader import load_runbook

RUNBOOK = """\
name: demo
environments: {lab: {}}
backends:
  sh: {kind: shell}
probes:
  smoke:
    probes: [{url: "https://example.test/"}]
guard: {budget: 5s, interval: 0}
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


_open_journals: list[Journal] = []  #: the harnesses' journals, closed after each test


@pytest.fixture(autouse=True)
def _close_journals() -> Iterator[None]:
    yield
    while _open_journals:
        _open_journals.pop().close()


class Harness:
    def __init__(
        self,
        tmp_path: Path,
        breaks: dict[str, Reason] | None = None,
        fail_on: dict[str, set[str]] | None = None,
        confirm: bool = True,
        unreadable: set[str] | None = None,
        runbook: str = RUNBOOK,
    ) -> None:
        path = tmp_path / "rb.yml"
        path.write_text(runbook, encoding="utf-8")
        self.runbook = load_runbook(path, environment="lab").model
        self.journal = Journal(tmp_path / "journal.db")
        _open_journals.append(self.journal)
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


@pytest.mark.parametrize(
    ("on_decline", "code", "status", "world", "still"),
    [
        ("rollback", RunExit.STOPPED, "stopped", {}, []),
        (
            "hold",
            RunExit.NEEDS_ATTENTION,
            "held",
            {"a": "on", "b": "on"},
            ["one/a (applied)", "one/b (applied)"],
        ),
    ],
)
def test_a_declined_gate_rolls_back_or_holds_as_the_runbook_says(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    on_decline: str,
    code: RunExit,
    status: str,
    world: dict[str, str],
    still: list[str],
) -> None:
    monkeypatch.setenv("CUTOVER_IDENTITY", "olivia@ops")
    runbook = RUNBOOK.replace("gate: confirm", f"gate: {{confirm: true, on_decline: {on_decline}}}")
    h = Harness(tmp_path, confirm=False, runbook=runbook)
    h.start()
    outcome = h.engine().run("r1")
    assert (outcome.exit_code, outcome.status, outcome.still_applied) == (code, status, still)
    assert h.world == world
    declined = [e for e in h.journal.events("r1") if e.kind == "gate_declined"]
    assert [(e.stage, e.data) for e in declined] == [
        ("two", {"by": "olivia@ops", "then": on_decline})
    ]
    run = h.journal.find_run("r1")
    assert run is not None and (run.status, run.exit_code) == (status, code)


def test_a_held_run_blocks_new_runs_and_resumes_at_its_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUTOVER_IDENTITY", "olivia@ops")
    runbook = RUNBOOK.replace("gate: confirm", "gate: {confirm: true, on_decline: hold}")
    h = Harness(tmp_path, confirm=False, runbook=runbook)
    h.start()
    held = h.engine().run("r1")
    assert held.message.splitlines() == [
        "held at the gate before stage 'two' (declined by olivia@ops); every applied step"
        " stays in place",
        "continue with: cutover resume r1",
        "or roll back with: cutover rollback r1",
    ]
    assert [r.id for r in h.journal.unfinished("demo", "lab")] == ["r1"]
    h.confirm = True
    resumed = h.engine().resume("r1")
    assert (resumed.exit_code, resumed.status) == (RunExit.OK, "completed")
    assert h.world == {"a": "on", "b": "on", "c": "on"}
    assert [c for c in h.calls if c[0] == "apply"] == [
        ("apply", "a"),
        ("apply", "b"),
        ("apply", "c"),
    ]
    kinds = [e.kind for e in h.journal.events("r1") if e.stage == "two" and "gate" in e.kind]
    assert kinds == ["gate_waiting", "gate_declined", "gate_held", "gate_waiting", "gate_approved"]


@pytest.mark.parametrize(("min_duration", "passes_at"), [(0, 2.0), (5, 5.0), (9.5, 10.0)])
def test_a_stage_cannot_pass_before_its_min_duration(
    tmp_path: Path, min_duration: float, passes_at: float
) -> None:
    """The clock advances one second per probe round: the guard could pass after two
    rounds (49 samples); min_duration holds it until the stage was probed that long."""
    runbook = RUNBOOK.replace(
        "guard: {budget: 5s, interval: 0}",
        f"guard: {{budget: 20s, interval: 0, min_duration: {min_duration}}}",
    )
    h = Harness(tmp_path, runbook=runbook)
    h.start()
    engine = h.engine()
    now = [0.0]
    engine.clock = lambda: now[0]
    original = h.prober.probe

    def probe_a_second(sets: Sequence[str], *args: Any) -> list[FakeResult]:
        now[0] += 1.0
        return original(sets, *args)

    h.prober.probe = probe_a_second  # type: ignore[method-assign]
    outcome = engine.run("r1")
    assert outcome.exit_code == RunExit.OK, outcome.message
    guards = [e.data for e in h.journal.events("r1") if e.kind == "guard" and e.stage == "one"]
    assert [g["verdict"] for g in guards] == ["hold"] * (int(passes_at) - 1) + ["pass"]
    if min_duration > 2:
        assert guards[-2]["reason"].endswith(f"< min_duration {min_duration:g}s: hold")


def test_min_duration_beyond_the_budget_is_refused_at_load(tmp_path: Path) -> None:
    from cutover.errors import DocumentError

    path = tmp_path / "rb.yml"
    path.write_text(RUNBOOK.replace("interval: 0}", "interval: 0, min_duration: 6s}"), "utf-8")
    with pytest.raises(DocumentError) as caught:
        load_runbook(path, environment="lab")
    assert "`min_duration` (6s) must not exceed `budget` (5s): the stage could never pass" in (
        caught.value.render()
    )


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
    # nothing was applied, so there is nothing to roll back or verify: exit 1, not 3
    assert (outcome.exit_code, outcome.status) == (RunExit.ROLLED_BACK, "failed")
    assert outcome.message.startswith("stage 'preflight': failure rate 3/3")
    assert outcome.message.endswith("; nothing was changed (no step had been applied)")
    # only reads: the final-state comparison snapshots each step before the preflight
    assert [c for c in h.calls if c[0] != "snapshot"] == []
    assert "rollback_started" not in h.events
    later = h.engine().rollback("r1")  # a no-op that keeps the run's status
    assert (later.exit_code, later.status) == (RunExit.OK, "failed")
    assert later.message == "nothing to roll back: no step of this run was ever applied"
    run = h.journal.find_run("r1")
    assert run is not None and (run.status, run.exit_code) == ("failed", 1)
    assert [c for c in h.calls if c[0] != "snapshot"] == []


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


# --- nothing unexpected escapes, and exit codes and statuses never lie ------------------------


class Boom(RuntimeError):
    """What nobody foresaw: not a CutoverError, so no handler was written for it."""


class ExplodingAction(RecordingAction):
    """The recording fake, raising :class:`Boom` on the calls named in ``explode``
    (``after-write``: apply writes, then raises)."""

    def __init__(self, *args: Any, explode: set[str], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.explode = explode

    def _call(self, what: str) -> None:
        super()._call(what)
        if what in self.explode:
            raise Boom(f"{self.name}: {what} exploded")

    def apply(self, prior: dict[str, Any]) -> dict[str, Any]:
        record = super().apply(prior)
        if "after-write" in self.explode:
            raise Boom(f"{self.name}: exploded after the write")
        return record

    def reconcile(self, prior: dict[str, Any], record: dict[str, Any] | None) -> Reconciled:
        self._call("reconcile")
        return super().reconcile(prior, record)


class FaultyHarness(Harness):
    def __init__(self, tmp_path: Path, **kw: Any) -> None:
        super().__init__(tmp_path, **kw)
        self.explode: dict[str, set[str]] = {}

    def action(self, settings: Any, step: Any) -> RecordingAction:
        return ExplodingAction(
            self.world,
            {step.name: "on"},
            calls=self.calls,
            fail_on=self.fail_on.get(step.name),
            name=step.name,
            explode=self.explode.get(step.name, set()),
        )

    def probe_raises(self, when: Callable[[], bool]) -> None:
        original = self.prober.probe

        def probe(sets: Sequence[str], *args: Any) -> list[FakeResult]:
            if when():
                raise Boom("the prober exploded")
            return original(sets, *args)

        self.prober.probe = probe  # type: ignore[method-assign]

    def crashed_after_intent_of_b(self) -> None:
        """What a kill -9 right after step b's write leaves."""
        self.journal.event("r1", "stage_passed", stage="preflight")
        self.journal.event("r1", "intent", stage="one", step=0, name="a", prior={"a": None})
        self.journal.event("r1", "applied", stage="one", step=0, name="a", record={})
        self.journal.event("r1", "intent", stage="one", step=1, name="b", prior={"b": None})
        self.world.update(a="on", b="on")


def told(h: Harness, tmp_path: Path, outcome: Outcome) -> tuple[int, str, list[str]]:
    """The exit code, the status and what is still applied, once the outcome, the journal,
    `cutover status` and `cutover show` are checked to tell the same story."""
    row = h.journal.find_run("r1")
    assert row is not None and row.status == outcome.status
    still = h.journal.still_applied("r1")
    if outcome.exit_code == RunExit.NEEDS_ATTENTION:
        assert outcome.status == "needs_attention"
        assert outcome.still_applied == still
        assert "cutover rollback r1" in outcome.message.splitlines()[-1]
    else:
        assert outcome.still_applied == []
    if outcome.status != "completed":  # a finished run other than a completed one left nothing
        assert row.finished == (outcome.exit_code != RunExit.NEEDS_ATTENTION)
        assert still == [] or not row.finished
    status = list(status_lines(read_status(tmp_path)))
    if row.finished:
        assert status == ["no unfinished runs"]
    else:
        assert status[1:] == [
            *(f"    still applied: {s}" for s in still),
            "    next: cutover resume r1   or   cutover rollback r1",
        ]
    show = list(show_lines(row, read_events(tmp_path, row)))
    assert show[0].endswith(f"— {row.status}, exit {row.exit_code}")
    tail = (
        ["still applied:", *(f"  - {s}" for s in still)] if still else ["nothing is left applied"]
    )
    assert show[-len(tail) :] == tail
    assert "Traceback" not in outcome.message
    return int(outcome.exit_code), outcome.status, still


def _break_verification(h: FaultyHarness, e: Engine, m: pytest.MonkeyPatch) -> None:
    h.prober.breaks["c"] = Reason.HTTP_5XX
    h.probe_raises(lambda: "rollback_started" in h.events)


def _guard_raises(h: FaultyHarness, e: Engine, m: pytest.MonkeyPatch) -> None:
    original = Guard.__call__

    def judge(guard: Guard, reasons: Sequence[Any]) -> Any:
        if "b" in h.world:
            raise Boom("the guard exploded")
        return original(guard, reasons)

    m.setattr(Guard, "__call__", judge)


def _view_raises(h: FaultyHarness, e: Engine, m: pytest.MonkeyPatch) -> None:
    def view(kind: str, data: dict[str, Any]) -> None:
        if kind == "applied" and data.get("name") == "b":
            raise Boom("the view exploded")
        h.events.append(kind)

    e.view = view


def _gate_raises(h: FaultyHarness, e: Engine, m: pytest.MonkeyPatch) -> None:
    def confirm(stage: Any) -> bool:
        raise Boom("the terminal exploded")

    e.confirm = confirm


def _journal_fails_once(h: FaultyHarness, e: Engine, m: pytest.MonkeyPatch) -> None:
    original = h.journal.set_status
    calls: list[str] = []

    def set_status(run_id: str, status: str, exit_code: int | None = None) -> None:
        calls.append(status)
        if len(calls) == 1:
            raise Boom("the journal exploded")
        original(run_id, status, exit_code)

    m.setattr(h.journal, "set_status", set_status)


ALL_APPLIED = ["one/a (applied)", "one/b (applied)", "two/c (applied)"]
Setup = Callable[[FaultyHarness, Engine, pytest.MonkeyPatch], None]
# (phase, setup, command, exit code, status, still applied, world after)
PHASES: list[tuple[str, Setup, str, int, str, list[str], dict[str, str]]] = [
    ("snapshot", lambda h, e, m: h.explode.update(b={"snapshot"}), "run", 1, "rolled_back", [], {}),
    ("apply", lambda h, e, m: h.explode.update(b={"apply"}), "run", 1, "rolled_back", [], {}),
    (
        "apply after its write",
        lambda h, e, m: h.explode.update(b={"after-write"}),
        "run",
        1,
        "rolled_back",
        [],
        {},
    ),
    ("gate", _gate_raises, "run", 1, "rolled_back", [], {}),
    ("view", _view_raises, "run", 1, "rolled_back", [], {}),
    (
        "probe",
        lambda h, e, m: h.probe_raises(lambda: "b" in h.world),
        "run",
        1,
        "rolled_back",
        [],
        {},
    ),
    ("guard", _guard_raises, "run", 1, "rolled_back", [], {}),
    (
        "undo",
        lambda h, e, m: (
            h.prober.breaks.update(c=Reason.HTTP_5XX),
            h.explode.update(b={"rollback"}),
        ),
        "run",
        3,
        "needs_attention",
        ["one/b (rollback_failed)"],
        {"b": "on"},
    ),
    ("verification", _break_verification, "run", 3, "needs_attention", [], {}),
    (
        "journal",
        _journal_fails_once,
        "run",
        3,
        "needs_attention",
        ALL_APPLIED,
        dict.fromkeys("abc", "on"),
    ),
    (
        "reconcile (resume)",
        lambda h, e, m: (h.crashed_after_intent_of_b(), h.explode.update(b={"reconcile"})),
        "resume",
        3,
        "needs_attention",
        ["one/a (applied)", "one/b (intent)"],
        {"a": "on", "b": "on"},
    ),
    (
        "undo (rollback)",
        lambda h, e, m: (h.crashed_after_intent_of_b(), h.explode.update(a={"rollback"})),
        "rollback",
        3,
        "needs_attention",
        ["one/a (rollback_failed)"],
        {"a": "on"},
    ),
]


@pytest.mark.parametrize(
    ("phase", "setup", "command", "code", "status", "still", "world"),
    PHASES,
    ids=[p[0] for p in PHASES],
)
def test_an_unexpected_exception_at_each_engine_phase_ends_honestly(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    phase: str,
    setup: Setup,
    command: str,
    code: int,
    status: str,
    still: list[str],
    world: dict[str, str],
) -> None:
    """In a stage it fails the stage (rollback, verified: exit 1); while undoing it fails
    that undo (exit 3, the exact command); anywhere else it ends as needs-attention. Never
    a traceback on screen: it is in the run's log file, which the journal names."""
    h = FaultyHarness(tmp_path)
    h.start()
    engine = h.engine()
    setup(h, engine, monkeypatch)
    outcome = getattr(engine, command)("r1")
    assert told(h, tmp_path, outcome) == (code, status, still)
    assert h.world == world
    if code == RunExit.ROLLED_BACK:
        assert "rollback_verified" in h.events
    log = tmp_path / "logs" / "r1.log"
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text
    assert "Boom: " in text
    unexpected = [e.data for e in h.journal.events("r1") if e.kind == "unexpected_error"]
    assert unexpected and unexpected[0]["log"] == str(log)
    assert unexpected[0]["error"].startswith("unexpected Boom: ")
    assert f"(traceback in {log})" in outcome.message


def _declined(h: FaultyHarness, e: Engine) -> None:
    h.confirm = False


def _stopped_in_preflight(h: FaultyHarness, e: Engine) -> None:
    h.probe_raises(lambda: h.stop.set() or False)


def _unverifiable(h: FaultyHarness, e: Engine) -> None:
    h.prober.breaks["c"] = Reason.HTTP_5XX
    h.prober.breaks["rolled"] = Reason.HTTP_5XX
    e.view = lambda kind, data: (
        h.events.append(kind),
        kind == "rollback_started" and h.world.update(rolled="x"),
    )  # type: ignore[func-returns-value]


def _manual(h: FaultyHarness, e: Engine) -> None:
    h.prober.breaks["c"] = Reason.HTTP_5XX
    rollback = h.runbook.rollback.model_copy(update={"automatic": False})
    e.runbook = h.runbook.model_copy(update={"rollback": rollback})


def _rollback_after_attention(h: FaultyHarness, e: Engine) -> None:
    h.prober.breaks["c"] = Reason.HTTP_5XX
    h.fail_on["b"] = {"rollback"}
    assert h.engine().run("r1").exit_code == RunExit.NEEDS_ATTENTION
    h.fail_on.clear()


def _stopped_rollback_crashed(h: FaultyHarness, e: Engine) -> None:
    h.crashed_after_intent_of_b()
    h.journal.event("r1", "interrupted", reason="stopped by the operator")
    h.journal.event("r1", "rollback_started", reason="stopped by the operator")


Arrange = Callable[[FaultyHarness, Engine], None]
# (outcome, arrange, command, exit code, status, still applied)
OUTCOMES: list[tuple[str, Arrange, str, int, str, list[str]]] = [
    ("every stage passed", lambda h, e: None, "run", 0, "completed", ALL_APPLIED),
    (
        "a guard failed, rolled back and verified",
        lambda h, e: h.prober.breaks.update(c=Reason.REDIRECT_LOOP),
        "run",
        1,
        "rolled_back",
        [],
    ),
    (
        "a step was refused, rolled back and verified",
        lambda h, e: h.fail_on.update(b={"apply"}),
        "run",
        1,
        "rolled_back",
        [],
    ),
    (
        "the preflight failed: nothing was changed",
        lambda h, e: (h.prober.breaks.update({"": Reason.HTTP_5XX}), h.world.update({"": "x"})),
        "run",
        1,
        "failed",
        [],
    ),
    ("a gate was declined, rolled back and verified", _declined, "run", 4, "stopped", []),
    (
        "stopped before any step: nothing was changed",
        _stopped_in_preflight,
        "run",
        4,
        "stopped",
        [],
    ),
    (
        "a rollback step failed",
        lambda h, e: (h.prober.breaks.update(c=Reason.HTTP_5XX), h.fail_on.update(b={"rollback"})),
        "run",
        3,
        "needs_attention",
        ["one/b (rollback_failed)"],
    ),
    ("the rollback could not be verified", _unverifiable, "run", 3, "needs_attention", []),
    ("automatic rollback is off", _manual, "run", 3, "needs_attention", ALL_APPLIED),
    ("rollback after needs-attention", _rollback_after_attention, "rollback", 0, "rolled_back", []),
    (
        "resume after a crash",
        lambda h, e: h.crashed_after_intent_of_b(),
        "resume",
        0,
        "completed",
        ALL_APPLIED,
    ),
    (
        "resume of a stopped run's crashed rollback",
        _stopped_rollback_crashed,
        "resume",
        4,
        "stopped",
        [],
    ),
    (
        "rollback after a crash",
        lambda h, e: h.crashed_after_intent_of_b(),
        "rollback",
        0,
        "rolled_back",
        [],
    ),
    # a crash before the first step: the rollback verifies the world and finishes the run
    ("rollback after a crash before any step", lambda h, e: None, "rollback", 0, "rolled_back", []),
]


@pytest.mark.parametrize(
    ("name", "arrange", "command", "code", "status", "still"),
    OUTCOMES,
    ids=[o[0] for o in OUTCOMES],
)
def test_every_way_a_command_ends_tells_the_truth(
    tmp_path: Path,
    name: str,
    arrange: Arrange,
    command: str,
    code: int,
    status: str,
    still: list[str],
) -> None:
    """The exit code, the final status, and what `status` and `show` say is applied."""
    h = FaultyHarness(tmp_path)
    h.start()
    engine = h.engine()
    arrange(h, engine)
    outcome = getattr(engine, command)("r1")
    assert told(h, tmp_path, outcome) == (code, status, still)
    if code in (RunExit.ROLLED_BACK, RunExit.STOPPED) and status != "failed":
        assert "rollback_verified" in h.events or "nothing_changed" in h.events
    if "nothing was changed" in name:
        assert "rollback_started" not in h.events
        assert outcome.message.endswith("nothing was changed (no step had been applied)")
    assert not (tmp_path / "logs").exists()  # nothing unexpected happened


@pytest.mark.parametrize("applied", [False, True])
def test_a_second_interrupt_says_what_is_left(tmp_path: Path, applied: bool) -> None:
    h = Harness(tmp_path)
    h.start()
    if applied:
        h.journal.event("r1", "intent", stage="one", step=0, name="a", prior={"a": None})
    outcome = _stopped_at_once(h.journal, "r1")
    expected = (3, "needs_attention", ["one/a (intent)"]) if applied else (4, "stopped", [])
    assert told(h, tmp_path, outcome) == expected


def test_a_journal_that_fails_still_ends_in_exit_3_with_the_command(tmp_path: Path) -> None:
    """The driver's last net: the engine could not even record its failure."""
    h = Harness(tmp_path)
    h.start()
    h.journal.close()
    outcome = _crashed(h.journal, "r1", Boom("disk I/O error"))
    assert (outcome.exit_code, outcome.status) == (RunExit.NEEDS_ATTENTION, "needs_attention")
    lines = outcome.message.splitlines()
    log = tmp_path / "logs" / "r1.log"
    assert lines[0] == f"cutover failed unexpectedly: Boom: disk I/O error (traceback in {log})"
    assert lines[1].startswith("the journal could not be read or updated (Cannot operate on a")
    assert lines[-1] == "finish with: cutover rollback r1"
    assert "Boom: disk I/O error" in log.read_text(encoding="utf-8")


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
