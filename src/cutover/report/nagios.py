"""The Nagios plugin line: ``CUTOVER STATUS - summary | perfdata``."""

from __future__ import annotations

from cutover.report.check_round import CheckRound


def render(round_: CheckRound) -> str:
    warn = f"{round_.warning * 100:g}"
    crit = f"{round_.critical * 100:g}"
    perf = [
        f"probes={round_.total};;;0",
        f"failed={round_.failed};;;0;{round_.total}",
        f"flaky={round_.flaky};;;0;{round_.total}",
        f"failure_rate={round_.failure_rate * 100:.2f}%;{warn};{crit};0;100",
        f"time={round_.duration:.3f}s;;;0",
    ]
    return f"CUTOVER {round_.summary()} | {' '.join(perf)}\n"
