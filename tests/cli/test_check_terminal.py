"""``cutover check`` for people and for Nagios: ``--format table --only-failures``, and the
one UNKNOWN line on stdout for every kind of invalid input with ``--format nagios``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.testing import probe_server as ps
from cutover.testing import run_cutover

SETS = """  index:
    probes:
      - url: http://a.test/file
        name: file
      - url: http://a.test/loop2
        name: loop
      - url: http://a.test/file
        name: file again
"""


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with ps.running_server() as running:
        yield running


@pytest.fixture
def checks(tmp_path: Path, server: Any) -> Path:
    path = tmp_path / "checks.yml"
    path.write_text(server.checks_yaml(SETS))
    return path


def cutover(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cutover(*args, cwd=cwd, timeout=60)


def test_only_failures_leaves_out_the_passing_probes(checks: Path) -> None:
    done = cutover(
        "check", checks, "--env", "test", "--format", "table", "--only-failures", cwd=checks.parent
    )
    assert done.returncode == 2, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cutover check smoke (env test), round 1: 3 probe(s) in ")
    assert lines[1].startswith("FAIL   redirect_loop      index")
    assert lines[1].endswith("loop <http://a.test/loop2>")
    assert lines[2:] == [
        "       loop of 2 hop(s): http://a.test/loop2 → http://b.test/loop2 → http://a.test/loop2",
        "       1. 301 http://a.test/loop2 → http://b.test/loop2",
        "       2. 301 http://b.test/loop2 → http://a.test/loop2",
        "       (2 passing probe(s) not shown: --only-failures)",
        "CRITICAL - 1 of 3 probes failed (33.3%): redirect_loop 1",
    ]
    assert "\x1b" not in done.stdout  # not a terminal: no colour


@pytest.mark.parametrize("fmt", ["json", "nagios"])
def test_only_failures_is_for_the_table(checks: Path, fmt: str) -> None:
    done = cutover(
        "check", checks, "--env", "test", "--format", fmt, "--only-failures", cwd=checks.parent
    )
    assert done.returncode == 3
    assert done.stderr == f"error: --only-failures works with --format table, not {fmt}\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--every", "soon"], "--every: 'soon' is not a duration"),
        (["--count", "2"], "--count needs --every"),
        (["--warning", "lots"], "--warning 'lots': write a rate such as 0.05 or 5%"),
        (["--set", "nope"], "checks.yml: no probe set named 'nope'"),
        (["--env", "prod"], "checks.yml:4:3: environments: no environment named 'prod'"),
        (["--bogus"], "No such option: --bogus"),
        (["--warning=5%", "--critical=1%"], "the critical rate (0.01) is below the warning rate"),
    ],
)
def test_invalid_input_is_one_nagios_unknown_line_on_stdout(
    checks: Path, args: list[str], line: str
) -> None:
    base = ["--env", "test"] if "--env" not in args else []
    done = cutover("check", checks.name, *base, "--format", "nagios", *args, cwd=checks.parent)
    assert done.returncode == 3
    assert done.stdout.startswith(f"CUTOVER UNKNOWN - {line}")
    assert done.stdout.count("\n") == 1  # one line, as Nagios reads it
    assert "Traceback" not in done.stderr


def test_a_missing_checks_file_is_unknown_too(tmp_path: Path) -> None:
    done = cutover("check", "--format", "nagios", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (3, "CUTOVER UNKNOWN - Missing argument 'file'.\n")
