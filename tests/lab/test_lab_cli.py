"""``cutover lab serve`` and ``cutover lab reset``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cutover
from cutover.cli.lab import lab_app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    """``lab serve`` keeps its state and endpoint file in the state directory."""
    monkeypatch.setenv("CUTOVER_STATE_DIR", str(tmp_path / "state"))


def test_serve_prints_ready_to_paste_commands_and_stops(tmp_path):
    result = runner.invoke(lab_app, ["serve", "--port", "0", "--api-port", "0", "--for", "0.2"])
    assert result.exit_code == 0, result.output
    state = tmp_path / "state" / "lab"
    assert (state / "pypi-2018.json").exists()
    assert not (state / "endpoint.json").exists()  # withdrawn when the lab stops
    assert f"commands using the state directory {tmp_path / 'state'} attach" in result.output
    assert "cutover lab: scenario pypi-2018" in result.output
    assert "API token   lab-" in result.output
    assert "--connect-to ::127.0.0.1:" in result.output
    assert "--resolve files.pythonhosted.org:" in result.output
    assert result.output.rstrip().endswith("lab stopped")


def test_serve_unknown_scenario():
    result = runner.invoke(
        lab_app, ["serve", "--scenario", "nope", "--port", "0", "--api-port", "0"]
    )
    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.output


def test_reset_state_file(tmp_path):
    state_file = tmp_path / "lab.json"
    state_file.write_text("garbage")
    result = runner.invoke(lab_app, ["reset", "--state-file", str(state_file)])
    assert result.exit_code == 0, result.output
    assert result.output == f"{state_file}: reset to scenario pypi-2018\n"
    assert json.loads(state_file.read_text())["scenario"] == "pypi-2018"


def test_reset_without_state_file_explains(tmp_path):
    result = runner.invoke(lab_app, ["reset"])
    assert result.exit_code == 0
    expected = tmp_path / "state" / "lab" / "pypi-2018.json"
    assert result.output == f"{expected}: nothing to reset (the lab starts from its scenario)\n"


def test_cli_module_imports_are_light():
    code = (
        "import sys, cutover.cli.lab; "
        "print(sorted(m for m in sys.modules if m.startswith('cutover.lab')))"
    )
    src = str(Path(cutover.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("rate", "line"),
    [
        ("20/s", "  traffic     20 client requests/s"),
        ("0", "  traffic     none (--traffic N/s)"),
    ],
)
def test_serve_with_traffic_says_so(rate: str, line: str) -> None:
    result = runner.invoke(
        lab_app, ["serve", "--port", "0", "--api-port", "0", "--for", "0.3", "--traffic", rate]
    )
    assert result.exit_code == 0, result.output
    assert line in result.output.splitlines()
    assert "/v1/channel/<service>/ts/0 (Fastly real-time)" in result.output


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        ("fast", "--traffic: 'fast' is not a rate; write e.g. 50/s"),
        ("9000/s", "--traffic: '9000/s': the rate must be from 0 to 500/s"),
    ],
)
def test_serve_refuses_a_bad_traffic_rate(rate: str, message: str) -> None:
    result = runner.invoke(lab_app, ["serve", "--port", "0", "--api-port", "0", "--traffic", rate])
    assert result.exit_code == 2
    assert message in result.output
