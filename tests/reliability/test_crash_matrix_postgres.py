"""The crash matrix with the journal in PostgreSQL: the same harness, boundaries and checks.

A sample of the nginx-switch scenario's boundaries (the run row, the first intent and
applied, a stage passed, the final status), each followed by ``rollback`` and by
``resume``: the boundaries where the journal's ordering matters most, on the scenario
that runs fastest (a real nginx, ~3 s a case). The full matrix of that scenario against
PostgreSQL is ``python benchmarks/crash_matrix.py --postgres --scenario nginx-switch``
(42 cases, ~2.5 min on 2 cores; figures in docs/reliability.md).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cutover.errors import RunExit

#: the full suite only: the fast tier keeps the PostgreSQL store's quick tests
#: (tests/test_journal_stores.py) and the crash matrix on SQLite
pytestmark = pytest.mark.slow

SCENARIO = "nginx-switch"
BOUNDARIES = [
    ("run row", 1),
    ("intent files-to-new/0", 1),
    ("applied files-to-new/0", 1),
    ("stage_passed files-to-new", 1),
    ("status completed", 1),
]
MODES = ("rollback", "resume")


@pytest.fixture(scope="module")
def pg_matrix(
    crash_harness: Any, postgres_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[tuple[str, str], Any]]:
    if crash_harness.nginx_binary() is None:
        pytest.skip("no nginx binary on PATH or in /usr/sbin (apt-get install nginx-light)")
    root = tmp_path_factory.mktemp("crash-matrix-pg")
    scenario = crash_harness.SCENARIOS[SCENARIO]
    database = postgres_server.fresh_database
    (root / "ref").mkdir()
    ref = crash_harness.reference_run(scenario, root / "ref", database)
    jobs = [(label, n, mode) for label, n in BOUNDARIES for mode in MODES]
    with ThreadPoolExecutor(max_workers=3) as pool:
        cases = list(
            pool.map(
                lambda job: crash_harness.run_case(
                    scenario, ref, ref.boundary(job[0], job[1]), job[2], root, database
                ),
                jobs,
            )
        )
    by_key = {(job[0], job[2]): case for job, case in zip(jobs, cases, strict=True)}
    yield {"reference": ref, **by_key}
    assert crash_harness.processes_mentioning(str(root)) == []


def test_the_uncrashed_run_on_postgresql_has_the_boundaries_of_sqlite(
    pg_matrix: dict[Any, Any], farm: Any
) -> None:
    ref = pg_matrix["reference"]
    assert (ref.exit_code, ref.status) == (RunExit.OK, "completed"), ref.run.describe()
    sqlite_ref = farm.reference(SCENARIO)
    assert ref.boundaries == sqlite_ref.boundaries  # the same writes, counted the same way
    assert ref.final == sqlite_ref.final
    assert ref.applied == sqlite_ref.applied


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("label", [b[0] for b in BOUNDARIES])
def test_crash_on_postgresql_then_rollback_or_resume(
    pg_matrix: dict[Any, Any], label: str, mode: str
) -> None:
    case = pg_matrix[(label, mode)]
    ref = pg_matrix["reference"]
    assert case.crash.returncode == -signal.SIGKILL, case.crash.describe()
    assert case.label == label
    assert [r.id for r in case.crashed.runs] == [case.run_id]  # write 1: the run row
    assert len(case.crashed.events) == case.boundary - 1 - label.startswith("status ")
    assert all(n == 1 for n in case.journal.count("applied").values())
    assert case.activity == case.expected_activity  # nothing done that is not journaled
    if mode == "rollback":
        assert case.after.returncode == RunExit.OK, case.after.describe()
        assert case.final == case.initial
        assert (case.journal.run.status, case.journal.run.exit_code) == ("rolled_back", 0)
    elif label.startswith("status "):
        assert case.after.returncode == RunExit.INVALID, case.after.describe()
        assert "already completed; nothing to resume" in case.after.stderr
    else:
        assert case.after.returncode == ref.exit_code, case.after.describe()
        assert case.final == ref.final
        assert case.journal.passed() == ref.passed
    assert case.problems == []  # the benchmark's full checks agree
