"""The start-up benchmark runs and prints its figures (no time is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cli_startup_prints_every_figure() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cli_startup.py"), "--runs", "1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    figures = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    assert sorted(figures) == [
        "help_ratio",
        "help_s",
        "python_pass_s",
        "validate_ratio",
        "validate_s",
    ]
    assert all(float(v) > 0 for v in figures.values())
