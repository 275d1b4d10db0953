"""The suite collects the same tests in the same order whatever the hash seed.

pytest-xdist's workers each collect the suite and must agree (the fast tier runs with
``-n 2``); a parametrize id built from a set or a dict of sets prints in hash order and
differs between processes. Two collections under different ``PYTHONHASHSEED`` values must
match line for line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _collect(seed: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONHASHSEED"] = seed
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", "tests"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if "::" in line]


@pytest.mark.slow
def test_two_collections_under_different_hash_seeds_agree() -> None:
    first, second = _collect("1"), _collect("2")
    assert len(first) > 1000
    assert [a for a, b in zip(first, second, strict=True) if a != b] == []
