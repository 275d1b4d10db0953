"""One run as one document: the data every run report renders (HTML, markdown, JSON).

:func:`build` folds a run's journal row and events into plain data with stable keys
(``docs/report.md`` lists them); ``cutover report --format json`` prints it as is, and the
HTML and markdown views render nothing but it. Everything comes from the journal, which
holds secrets redacted and snapshots sealed, and every text is redacted once more here.

Times are ISO 8601 (UTC) as the journal wrote them, and each also as seconds from the
*breaking step*: the last step applied before the first failed guard (or, when no guard
failed, from the start of the run; ``offsets_from`` says which).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cutover.events import EventKind, still_applied
from cutover.journal import FAILED, HELD, ROLLED_BACK, EventRow, RunRow
from cutover.report.people_text import sentence
from cutover.secrets import redact_data

SCHEMA = "cutover.run-report/1"

#: The exit status in words (docs/cli.md#exit-codes).
EXIT_WORDS: dict[int, str] = {
    0: "completed: every stage passed its guard",
    1: "a guard failed; the changes were rolled back and the rollback was verified",
    2: "invalid input: nothing was changed",
    3: "a human must act: the rollback failed or could not be verified",
    4: "stopped by the operator after a clean rollback",
}

#: Event kinds about people deciding: gates, approvals, holds, promotions, aborts, pauses.
#: Matched by name so that kinds added later (``approved``, ``held``, ``promoted``…) show too;
#: ``control_requested`` is who asked for a promote, abort, pause, approval or decline.
_DECISION = re.compile(r"gate|approv|declin|promot|abort|pause|hold|held|resum|control")
#: Data fields that name who did something, first found wins.
_WHO = ("by", "who", "approver", "identity", "user", "actor")
#: What the run told people, and what it could not: notifications and its report file.
_NOTICES = (EventKind.NOTIFY_FAILED, EventKind.REPORT_WRITTEN, EventKind.REPORT_FAILED)
#: Step outcomes, by the event that settles them.
_STEP_OUTCOMES = {
    EventKind.APPLIED: "applied",
    EventKind.SKIPPED: "skipped",
    EventKind.APPLY_FAILED: "failed",
    EventKind.ROLLED_BACK: "rolled_back",
    EventKind.NOT_APPLIED: "not_applied",
    EventKind.ROLLBACK_FAILED: "rollback_failed",
}


#: Where one exit code covers several endings, the status says which (docs/cli.md).
STATUS_WORDS: dict[tuple[str, int], str] = {
    (ROLLED_BACK, 0): "rolled back on request (`cutover rollback`); the rollback was verified",
    (HELD, 3): "a human must act: held at a gate; every applied step stays in place",
    (FAILED, 1): "the run failed before any step was applied: nothing was changed",
}


def exit_words(code: int | None, status: str | None = None) -> str:
    if code is None:
        return "not finished: the run has no exit status yet"
    if status is not None and (status, code) in STATUS_WORDS:
        return STATUS_WORDS[status, code]
    return EXIT_WORDS.get(code, f"exit {code}")


def _seconds(at: str) -> float:
    return datetime.fromisoformat(at).timestamp()


def breaking_event(events: list[EventRow]) -> EventRow | None:
    """The last step applied before the first failed guard (or failed step), if any."""
    applied: EventRow | None = None
    for event in events:
        if event.kind == EventKind.APPLIED:
            applied = event
        failed_guard = event.kind == EventKind.GUARD and event.data.get("verdict") == "fail"
        if failed_guard or event.kind in (EventKind.APPLY_FAILED, EventKind.STAGE_FAILED):
            return applied
    return None


def build(row: RunRow, events: list[EventRow]) -> dict[str, Any]:
    """The whole run as one JSON-ready document (see the module docstring)."""
    breaking = breaking_event(events)
    zero = _seconds(breaking.at if breaking else row.started_at)

    def offset(at: str) -> float:
        return round(_seconds(at) - zero, 3)

    document = {
        "schema": SCHEMA,
        "run": {
            "id": row.id,
            "runbook": row.runbook,
            "environment": row.environment,
            "status": row.status,
            "exit_code": row.exit_code,
            "exit_words": exit_words(row.exit_code, row.status),
            "started_at": row.started_at,
            "ended_at": row.ended_at,
            "started_by": f"{row.user}@{row.host}",
        },
        "offsets_from": "breaking_step" if breaking else "run_start",
        "breaking_step": None
        if breaking is None
        else {
            "stage": breaking.stage,
            "step": breaking.step,
            "name": breaking.data.get("name"),
            "at": breaking.at,
        },
        "stages": _stages(events, offset),
        "rounds": [_round(e, offset(e.at)) for e in events if e.kind == EventKind.PROBE_ROUND],
        "guards": [_guard(e, offset(e.at)) for e in events if e.kind == EventKind.GUARD],
        "failures": [
            {
                "at": e.at,
                "offset_s": offset(e.at),
                "stage": e.stage,
                "round": e.data.get("round"),
                **_failure(f),
            }
            for e in events
            if e.kind == EventKind.PROBE_ROUND
            for f in e.data.get("failures", [])
        ],
        "rollback": _rollback(events, offset),
        "decisions": [_decision(e, offset(e.at)) for e in events if _DECISION.search(e.kind)],
        "notices": [
            {"at": e.at, "offset_s": offset(e.at), "kind": e.kind, "text": sentence(e.kind, e.data)}
            for e in events
            if e.kind in _NOTICES
        ],
        "still_applied": still_applied(events),
        "events": [
            {
                "at": e.at,
                "offset_s": offset(e.at),
                "kind": e.kind,
                "stage": e.stage,
                "step": e.step,
                "data": e.data,
            }
            for e in events
        ],
    }
    return redact_data(document)  # type: ignore[no-any-return]


def _stages(events: Iterable[EventRow], offset: Any) -> list[dict[str, Any]]:
    stages: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.stage is None or e.stage == "rollback":
            continue
        if e.kind in (EventKind.STAGE_STARTED, EventKind.STAGE_SKIPPED):
            stages[e.stage] = {
                "name": e.stage,
                "started_at": e.at,
                "offset_s": offset(e.at),
                "result": "skipped" if e.kind == EventKind.STAGE_SKIPPED else "running",
                "reason": None,
                "ended_at": None,
                "steps": [],
            }
            continue
        stage = stages.get(e.stage)
        if stage is None:
            continue
        if e.kind in (EventKind.STAGE_PASSED, EventKind.STAGE_FAILED):
            stage.update(
                result="passed" if e.kind == EventKind.STAGE_PASSED else "failed",
                reason=e.data.get("reason"),
                ended_at=e.at,
            )
        elif e.kind == EventKind.INTENT and e.step is not None:
            stage["steps"].append(
                {
                    "step": e.step,
                    "name": e.data.get("name"),
                    "backend": e.data.get("backend"),
                    "changes": list(e.data.get("changes") or []),
                    "history": [{"outcome": "intent", "at": e.at, "offset_s": offset(e.at)}],
                    "outcome": "intent",
                }
            )
        elif e.kind in _STEP_OUTCOMES and e.step is not None:
            step = next((s for s in stage["steps"] if s["step"] == e.step), None)
            if step is None:  # skipped steps have no intent
                step = {
                    "step": e.step,
                    "name": e.data.get("name"),
                    "backend": None,
                    "changes": [],
                    "history": [],
                }
                stage["steps"].append(step)
            outcome = _STEP_OUTCOMES[EventKind(e.kind)]
            step["outcome"] = outcome
            step["history"].append({"outcome": outcome, "at": e.at, "offset_s": offset(e.at)})
    return list(stages.values())


def _round(e: EventRow, offset_s: float) -> dict[str, Any]:
    probes, failed = int(e.data.get("probes") or 0), int(e.data.get("failed") or 0)
    return {
        "at": e.at,
        "offset_s": offset_s,
        "stage": e.stage,
        "round": e.data.get("round"),
        "probes": probes,
        "failed": failed,
        "failure_rate": round(failed / probes, 4) if probes else 0.0,
        "reasons": dict(e.data.get("reasons") or {}),
    }


def _guard(e: EventRow, offset_s: float) -> dict[str, Any]:
    return {
        "at": e.at,
        "offset_s": offset_s,
        "stage": e.stage,
        "verdict": e.data.get("verdict"),
        "reason": e.data.get("reason"),
        "samples": e.data.get("samples"),
        "failures": e.data.get("failures"),
    }


def _failure(failure: dict[str, Any]) -> dict[str, Any]:
    hops = [
        {
            key: hop.get(key)
            for key in ("url", "status", "location", "x_cache", "x_served_by", "age")
        }
        for hop in failure.get("hops", [])
    ]
    keys = ("set", "name", "url", "reason", "detail", "status")
    return {**{key: failure.get(key) for key in keys}, "hops": hops}


def _rollback(events: list[EventRow], offset: Any) -> dict[str, Any] | None:
    started = next((e for e in events if e.kind == EventKind.ROLLBACK_STARTED), None)
    if started is None:
        return None
    verdicts = {EventKind.ROLLBACK_VERIFIED: True, EventKind.ROLLBACK_UNVERIFIED: False}
    ended = next((e for e in reversed(events) if e.kind in verdicts), None)
    return {
        "at": started.at,
        "offset_s": offset(started.at),
        "reason": started.data.get("reason"),
        "verified": None if ended is None else verdicts[EventKind(ended.kind)],
        "verified_at": None if ended is None else ended.at,
        "verified_offset_s": None if ended is None else offset(ended.at),
    }


def _decision(e: EventRow, offset_s: float) -> dict[str, Any]:
    who = next((str(e.data[k]) for k in _WHO if e.data.get(k)), None)
    rest = {k: v for k, v in e.data.items() if k not in _WHO}
    return {
        "at": e.at,
        "offset_s": offset_s,
        "kind": e.kind,
        "stage": e.stage,
        "by": who,
        "text": sentence(e.kind, e.data) or e.kind.replace("_", " "),
        "data": rest,
    }
