"""How fast a control verb reaches a running engine, and what a failing notifier costs it.

1. Control latency: a :class:`cutover.control.Controller` polls a run's journal (SQLite,
   as a run does); another connection writes ``control_requested`` rows, as
   ``cutover abort`` does from another terminal. Printed: the median and the maximum time
   from the write's commit until the controller has seen it, over ``--requests`` rows.
2. Notifications: ``--events`` messages offered to an apprise JSON webhook that accepts
   connections and never answers (timeout ``--timeout``). Printed: the time the offers
   took (what the run waits), and the time the bounded deliveries took behind them.

Prints ``name=value`` lines. Usage::

    python benchmarks/control_latency.py [--requests 20] [--events 5] [--timeout 0.5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from cutover.control import Controller  # noqa: E402
from cutover.events import EventKind  # noqa: E402
from cutover.journal import Journal  # noqa: E402


def control_latency(directory: Path, requests: int) -> list[float]:
    engine_side = Journal(directory / "journal.db")
    engine_side.start_run("r1", "demo", "rb.yml", "lab", {})
    controller = Controller(engine_side, "r1", threading.Event())
    controller.start()
    verb_side = Journal(directory / "journal.db")
    seen: list[float] = []
    try:
        for number in range(requests):
            verb_side.event("r1", EventKind.CONTROL_REQUESTED, verb="promote", by=f"b{number}")
            written = time.monotonic()
            deadline = written + 5
            while len(controller.since(0, ("promote",))) <= number:
                if time.monotonic() > deadline:
                    raise SystemExit("the controller did not see a request within 5 s")
                time.sleep(0.001)
            seen.append(time.monotonic() - written)
    finally:
        controller.close()
        engine_side.close()
        verb_side.close()
    return seen


def notification_cost(directory: Path, events: int, timeout: float) -> tuple[float, float]:
    from cutover.notify.dispatch import Dispatcher
    from cutover.notify.messages import Composer
    from cutover.runbook.control_models import NotifyTarget

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    os.environ["BENCH_HOOK"] = f"json://127.0.0.1:{listener.getsockname()[1]}/hook"
    journal = Journal(directory / "notify.db")
    journal.start_run("r1", "demo", "rb.yml", "lab", {})
    target = NotifyTarget(url="env:BENCH_HOOK", timeout=timeout)
    notify = Dispatcher.configure([target], Composer("demo", "lab", "r1"), journal)
    try:
        started = time.monotonic()
        for _ in range(events):
            notify.offer(EventKind.RUN_COMPLETED, {})
        offered = time.monotonic() - started
        notify.close()
        delivered = time.monotonic() - started
    finally:
        listener.close()
        journal.close()
    return offered, delivered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seen = control_latency(Path(tmp), args.requests)
        print(f"control_requests={len(seen)}")
        print(f"control_seen_median_s={statistics.median(seen):.3f}")
        print(f"control_seen_max_s={max(seen):.3f}")
        offered, delivered = notification_cost(Path(tmp), args.events, args.timeout)
        print(f"notify_events={args.events}")
        print(f"notify_timeout_s={args.timeout:g}")
        print(f"notify_offer_total_s={offered:.4f}")
        print(f"notify_deliveries_total_s={delivered:.3f}")


if __name__ == "__main__":
    main()
