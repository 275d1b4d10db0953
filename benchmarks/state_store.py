"""The cost of a shared store: SQLite vs PostgreSQL on loopback, in the same run.

1. A journal event write (one transaction, durable on return): median and p99 over
   ``--writes`` writes, through :class:`cutover.journal.Journal`, for each store.
2. A target lock acquire + release (one run's worth: ``--targets`` targets): median and
   p99 over ``--locks`` rounds, host-wide lock files vs host + PostgreSQL advisory locks
   (what a run on PostgreSQL takes).
3. A whole run (runbooks/nginx-switch.yml against a real nginx, ``--runs`` times each,
   alternating): the median wall time of ``cutover run`` and the median time of each
   stage (from its journal rows), SQLite vs PostgreSQL, and the added time per stage.

The PostgreSQL server is started in a temporary directory (cutover.testing.postgres)
with ``fsync=on`` (its default: a commit waits for the disk, as SQLite's
``synchronous=FULL`` does), on the same disk as the SQLite file.
Prints ``name=value`` lines. Usage::

    python benchmarks/state_store.py [--writes 500] [--locks 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]

import crash_matrix as harness  # noqa: E402

from cutover.journal import Journal  # noqa: E402
from cutover.lock import Holder, HostLocks, LockStore, acquire_all  # noqa: E402
from cutover.pg_store import PostgresLocks  # noqa: E402
from cutover.state_location import Store  # noqa: E402
from cutover.testing import postgres as pg_server  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(median, p99) in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def timed(action: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def event_writes(store: Store, count: int) -> list[float]:
    with Journal.open(store) as journal:
        journal.start_run("bench", "bench", "/bench.yml", "lab", {})
        payload = {"name": "step", "prior": {"content": "x" * 400}}
        return timed(lambda: journal.event("bench", "intent", stage="s", step=0, **payload), count)


def lock_rounds(stores: list[LockStore], targets: int, count: int) -> list[float]:
    holder = Holder("bench", "run", "bench", "lab", "bench", "me", "here", 1, "t0")
    names = [f"nginx file /etc/nginx/conf.d/bench-{n}.conf" for n in range(targets)]
    return timed(lambda: acquire_all(stores, names, holder).release(), count)


def stage_times(where: harness.StateStore) -> dict[str, float]:
    """Seconds from each stage's ``stage_started`` to its last event (passed/failed)."""
    journal = harness.read_journal(where)
    started: dict[str, datetime] = {}
    took: dict[str, float] = {}
    at = _event_times(where)
    for event in journal.events:
        if event.kind == "stage_started" and event.stage:
            started[event.stage] = at[event.id]
        elif event.kind in ("stage_passed", "stage_failed") and event.stage in started:
            took[event.stage] = (at[event.id] - started[event.stage]).total_seconds()
    return took


def _event_times(where: harness.StateStore) -> dict[int, datetime]:
    sql = "SELECT id, at FROM events"
    if where.url is None:
        import sqlite3

        with contextlib.closing(sqlite3.connect(where.directory / "journal.db")) as db:
            rows = db.execute(sql).fetchall()
    else:
        import psycopg

        with psycopg.connect(where.url) as conn:
            rows = conn.execute(sql).fetchall()
    return {int(r[0]): datetime.fromisoformat(r[1]) for r in rows}


def whole_runs(server: pg_server.PostgresServer, runs: int, root: Path) -> dict[str, list[float]]:
    scenario = harness.SCENARIOS["nginx-switch"]
    walls: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    stages: dict[str, dict[str, list[float]]] = {"sqlite": {}, "postgresql": {}}
    for number in range(runs):
        for kind in ("sqlite", "postgresql"):
            base = root / f"{kind}-{number}"
            base.mkdir()
            with scenario.world(base) as world:
                url = server.fresh_database(f"run_{number}") if kind == "postgresql" else None
                where = harness.StateStore(world.state_dir, url)
                started = time.perf_counter()
                ran = harness.cutover(
                    "run", scenario.runbook, *world.run_args(scenario.vars), "--yes",
                    *where.args(), env=where.env(),
                )  # fmt: skip
                walls[kind].append(time.perf_counter() - started)
                if ran.returncode != 0:
                    raise RuntimeError(f"{kind} run failed: {ran.describe()}")
                for stage, seconds in stage_times(where).items():
                    stages[kind].setdefault(stage, []).append(seconds)
    for stage in stages["sqlite"]:
        lite = statistics.median(stages["sqlite"][stage])
        pg = statistics.median(stages["postgresql"][stage])
        print(f"stage_{stage.replace('-', '_')}_sqlite_s={lite:.3f}")
        print(f"stage_{stage.replace('-', '_')}_postgresql_s={pg:.3f}")
        print(f"stage_{stage.replace('-', '_')}_added_ms={(pg - lite) * 1000:.1f}")
    return walls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--locks", type=int, default=200)
    parser.add_argument("--targets", type=int, default=3, help="targets of one run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="state-store-") as tmp,
        pg_server.postgres(durable=True) as server,
    ):
        root = Path(tmp)
        (root / "locks").mkdir()
        for kind, store in (
            ("sqlite", Store(root / "sqlite")),
            ("postgresql", Store(root / "local", server.fresh_database("writes"))),
        ):
            p50, p99 = percentiles(event_writes(store, args.writes))
            print(f"event_write_{kind}_p50_ms={p50:.2f}")
            print(f"event_write_{kind}_p99_ms={p99:.2f}")
        host = HostLocks(root / "locks")
        pg = PostgresLocks(server.fresh_database("locks"))
        for kind, stores in (("host", [host]), ("host_postgresql", [host, pg])):
            p50, p99 = percentiles(lock_rounds(stores, args.targets, args.locks))
            print(f"lock_round_{kind}_p50_ms={p50:.2f}")
            print(f"lock_round_{kind}_p99_ms={p99:.2f}")
        walls = whole_runs(server, args.runs, root)
        lite, pg_wall = statistics.median(walls["sqlite"]), statistics.median(walls["postgresql"])
        print(f"run_wall_sqlite_s={lite:.2f}")
        print(f"run_wall_postgresql_s={pg_wall:.2f}")
        print(f"run_wall_ratio={pg_wall / lite:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
