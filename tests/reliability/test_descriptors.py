"""Long-running commands hold descriptors and threads flat: N rounds or N requests later,
a process has exactly the open files and threads it had after the first few.

A leaked socket, SQLite connection, HTTP client or thread per round (or per request) would
grow these counts by one each time; the tests compare counts taken once the process is
quiet (the counts stop changing), so a connection still closing is not mistaken for a leak.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import cutover.cli.check as check_cli
from cutover.cli.app import app
from cutover.testing import probe_server as ps
from cutover.testing.served_lab import ServedLab

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")

ROUNDS = 12
REQUESTS = 150
EXPECTED = (302, 200)  #: a conveyor path (302 to its hash URL), the API's service list
QUIET_S = 0.2  #: counts unchanged this long: the process is quiet
QUIET_TIMEOUT_S = 10.0


def _counts(pid: int | str) -> tuple[int, int]:
    """``(open descriptors, threads)`` of process ``pid``."""
    proc = Path(f"/proc/{pid}")
    return sum(1 for _ in (proc / "fd").iterdir()), sum(1 for _ in (proc / "task").iterdir())


def quiet_counts(
    pid: int | str = "self", settled: Callable[[tuple[int, int]], bool] | None = None
) -> tuple[int, int]:
    """The counts once they have not changed for :data:`QUIET_S` (and satisfy ``settled``),
    bounded by :data:`QUIET_TIMEOUT_S`; the last counts seen when the bound is reached."""
    deadline = time.monotonic() + QUIET_TIMEOUT_S
    last, since = _counts(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.02)
        now = _counts(pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= QUIET_S and (settled is None or settled(now)):
            break
    return last


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with ps.running_server() as running:
        yield running


@pytest.mark.slow
def test_check_every_holds_descriptors_and_threads_flat(
    tmp_path: Path, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = tmp_path / "checks.yml"
    sets = (
        "  files:\n    expand:\n"
        "      - url: http://index.test/pypi/sampleproject/json\n"
        "        probe: {expect: {final_host: files.test}, cache_bust: true}\n"
        "  plain:\n    probes:\n      - url: http://a.test/file\n      - url: http://a.test/gone\n"
        "        expect: {status: 404}\n"
    )
    checks.write_text(server.checks_yaml(sets, name="fds"), encoding="utf-8")
    seen: list[tuple[int, int]] = []
    one_round = check_cli._one_round

    def counted(*args: Any) -> Any:
        # at the start of each round: the previous round's connections are idle or closed
        seen.append(quiet_counts())
        return one_round(*args)

    monkeypatch.setattr(check_cli, "_one_round", counted)
    output = tmp_path / "out.prom"
    result = CliRunner().invoke(
        app,
        ["check", str(checks), "--env", "test", "--every", "10ms", "--count", str(ROUNDS),
         "--format", "prometheus", "--output", str(output), "--concurrency", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(seen) == ROUNDS
    # one probe at a time (deterministic): round 1 opens one kept-alive connection per
    # host; from round 2 on, nothing more is ever open
    assert seen[2:] == [seen[1]] * (ROUNDS - 2), seen


def test_lab_serve_holds_descriptors_and_threads_flat(tmp_path: Path) -> None:
    with ServedLab(tmp_path / "state") as lab:
        data = f"http://{lab.info['data_address']}"
        files_host = "files.pythonhosted.org"
        wheel = "/packages/source/s/sampleproject/sampleproject-1.3.1.tar.gz"

        def requests(n: int) -> None:
            # a new connection each time (Connection: close), data plane and API in turn
            with httpx.Client(headers={"Connection": "close"}, timeout=10) as client:
                for i in range(n):
                    if i % 2:
                        r = client.get(f"{lab.api_url}/service", headers={"Fastly-Key": lab.token})
                    else:
                        r = client.get(f"{data}{wheel}?n={i}", headers={"Host": files_host})
                    assert (r.status_code, r.headers["connection"]) == (EXPECTED[i % 2], "close")

        requests(10)
        before = quiet_counts(lab.pid)
        requests(REQUESTS)
        after = quiet_counts(lab.pid, settled=lambda now: now == before)
        assert after == before, f"{REQUESTS} requests later: {after} (fds, threads), was {before}"
