"""``cutover lab serve`` and ``cutover lab reset``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import cutover
from cutover.cli.lab import lab_app

runner = CliRunner()


def test_serve_prints_ready_to_paste_commands_and_stops():
    result = runner.invoke(lab_app, ["serve", "--port", "0", "--api-port", "0", "--for", "0.2"])
    assert result.exit_code == 0, result.output
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


def test_reset_without_state_file_explains():
    result = runner.invoke(lab_app, ["reset"])
    assert result.exit_code == 0
    assert result.output.startswith("nothing to reset")


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
