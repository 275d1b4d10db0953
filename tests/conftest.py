"""Shared fixtures: the repository root and a way to run the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("COLUMNS", None)
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def cli() -> CliRunner:
    """Run ``python -m cutover ARGS`` in a subprocess (the real entry point)."""

    def run(
        *args: str | Path,
        cwd: Path = ROOT,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cutover", *map(str, args)],
            cwd=cwd,
            env=cli_env(env),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
