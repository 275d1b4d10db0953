"""Shared fixtures: the repository root and a way to run the real CLI in a subprocess
(:func:`cutover.testing.run_cutover`, from the repository root by default)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from cutover.testing import run_cutover

ROOT = Path(__file__).resolve().parents[1]

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


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
        return run_cutover(*args, cwd=cwd, env=env, input=input, timeout=timeout)

    return run
