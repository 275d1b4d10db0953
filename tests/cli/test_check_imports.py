"""Registering ``check`` keeps ``cutover --help`` light: no httpx, jinja2 or rich.live."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_help_lists_check_without_heavy_imports() -> None:
    code = (
        "import sys\nfrom cutover.cli.app import app\n"
        "print(sorted(m for m in ('httpx', 'jinja2', 'rich.live', 'prometheus_client', "
        "'cutover.probes') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "cutover", "check", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert helped.returncode == 0
    assert "--every" in helped.stdout and "--format" in helped.stdout
