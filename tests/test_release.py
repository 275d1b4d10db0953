"""Release-ready: the supported Pythons are declared once everywhere, connections are never
left to the garbage collector, and a built wheel, installed outside the repository, is
complete: it serves the lab, validates, writes an example and rehearses it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import cutover
from cutover.errors import RunExit
from cutover.testing.cli import SCRUBBED

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = ["3.11", "3.12", "3.13"]
INSTALL_TIMEOUT_S = 600


def test_the_supported_versions_are_the_same_everywhere() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    prefix = "Programming Language :: Python :: "
    declared = [c.removeprefix(prefix) for c in project["classifiers"] if c.startswith(prefix)]
    assert [v for v in declared if re.fullmatch(r"3\.\d+", v)] == SUPPORTED
    assert project["requires-python"] == f">={SUPPORTED[0]}"
    ci = (ROOT / ".ci" / "pythons").read_text(encoding="utf-8")
    assert f'SUPPORTED="{" ".join(SUPPORTED)}"' in ci
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"Python {', '.join(SUPPORTED[:-1])} and {SUPPORTED[-1]}" in readme
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in SUPPORTED  # this run is one


# sqlite3's connection is a context manager that commits or rolls back; it never closes, so
# a with-statement straight on a new connection leaks it (a ResourceWarning on 3.13)
SQLITE_WITH = re.compile(r"with\s+sqlite3\.connect\(")


@pytest.mark.parametrize("folder", ["src", "tests", "benchmarks"])
def test_no_sqlite_connection_is_left_open_by_a_with(folder: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SQLITE_WITH.search(line)
    ]
    assert found == [], "use contextlib.closing(sqlite3.connect(...)) at: " + ", ".join(found)


def _run(
    argv: list[str | Path], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_the_built_wheel_installed_outside_the_repository_is_complete(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (*SCRUBBED, "PYTHONPATH")}
    env.update(NO_COLOR="1", XDG_STATE_HOME=str(tmp_path / "xdg-state"))
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT], tmp_path, env)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("cutover-*.whl")
    assert wheel.name == f"cutover-{cutover.__version__}-py3-none-any.whl"

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", venv], tmp_path, env).returncode == 0
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    installed = _run([*pip, wheel], tmp_path, env)
    assert installed.returncode == 0, installed.stderr[-3000:]

    empty = tmp_path / "empty"
    empty.mkdir()
    exe = venv / "bin" / "cutover"
    where = _run([venv / "bin" / "python", "-c", "import cutover; print(cutover.__file__)"],
                 empty, env)  # fmt: skip
    assert where.stdout.startswith(str(venv / "lib")), where.stdout  # the wheel, not the repo

    def cutover_(*args: str) -> subprocess.CompletedProcess[str]:
        return _run([exe, *args], empty, env)

    version = cutover_("--version")
    assert (version.returncode, version.stdout) == (0, f"cutover {cutover.__version__}\n")
    state = str(tmp_path / "state")
    served = cutover_("lab", "serve", "--for", "1", "--port", "0", "--api-port", "0",
                      "--state", state)  # fmt: skip
    assert served.returncode == 0, served.stderr
    assert served.stdout.rstrip().endswith("lab stopped")
    written = cutover_("init", "pypi-files", "example")
    assert written.returncode == 0, written.stderr
    valid = _run([exe, "validate", "pypi-files.yml", "checks/pypi-files.yml"], empty / "example",
                 env)  # fmt: skip
    assert (valid.returncode, valid.stderr) == (RunExit.OK, ""), valid.stderr
    rehearsed = _run([exe, "run", "pypi-files.yml", "--env", "lab", "--yes", "--state", state],
                     empty / "example", env)  # fmt: skip
    assert rehearsed.returncode == RunExit.OK, rehearsed.stdout[-3000:] + rehearsed.stderr[-3000:]
    run_id = rehearsed.stdout.split()[1].rstrip(":")
    assert f"run {run_id}: completed (exit 0)" in rehearsed.stdout
    shown = _run([exe, "show", "last", "--state", state], empty / "example", env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"run {run_id}: pypi-files on lab — completed, exit 0\n")
