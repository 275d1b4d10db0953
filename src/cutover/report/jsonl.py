"""JSON lines, per round: a header line, one line per probe, a summary line.

Every round starts with its header, so each round's lines stand alone (a reader that
joins a months-long stream anywhere needs nothing from earlier rounds).

::

    {"type": "header", "version": 1, "check": …, "file": …, "environment": …}
    {"type": "probe", "round": 1, "set": …, "url": …, "ok": …, "reason": …, "status": …,
     "hops": [{"url": …, "status": …, …}], "sha256": …, "elapsed_ms": …, …}
    {"type": "summary", "round": 1, "status": "OK", "exit_code": 0, "total": …, …}
"""

from __future__ import annotations

import json
from typing import Any

from cutover.report.check_round import CheckRound

VERSION = 1


def header(check: str, source: str, environment: str | None) -> str:
    return _line(
        {
            "type": "header",
            "version": VERSION,
            "check": check,
            "file": source,
            "environment": environment,
        }
    )


def render(round_: CheckRound) -> str:
    lines = [
        _line({"type": "probe", "round": round_.number, **r.to_dict()}) for r in round_.results
    ]
    lines.append(_line(summary(round_)))
    return "".join(lines)


def summary(round_: CheckRound) -> dict[str, Any]:
    return {
        "type": "summary",
        "round": round_.number,
        "status": round_.status.name,
        "exit_code": int(round_.status),
        "message": round_.summary(),
        "error": round_.error,
        "total": round_.total,
        "passed": round_.passed,
        "failed": round_.failed,
        "flaky": round_.flaky,
        "failure_rate": round(round_.failure_rate, 6),
        "reasons": {reason.value: n for reason, n in sorted(round_.reasons.items())},
        "started": round_.started,
        "duration_ms": round(round_.duration * 1000.0, 3),
        "interval_ms": None if round_.interval is None else round(round_.interval * 1000.0, 3),
        "overran": round_.overran,
    }


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
