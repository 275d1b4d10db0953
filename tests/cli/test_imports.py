"""``cutover --help`` stays instant: it must not import the heavy parts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

HEAVY = [
    "httpx",
    "jinja2",
    "rich.live",
    "rich",
    "pydantic",
    "pydantic_core",
    "ruamel.yaml",
    "structlog",
    "sqlite3",
    "cutover.lab",
    "cutover.probes.probe",
    "cutover.engine",
]

PROGRAM = """
import json, sys
sys.argv = ["cutover", *sys.argv[1:]]
from cutover.cli.app import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        timeout=60,
        cwd=ROOT,
    )
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_help_imports_nothing_heavy() -> None:
    loaded = _modules("--help")
    assert "cutover.cli.app" in loaded
    assert [m for m in HEAVY if m in loaded] == []


def test_validate_imports_only_what_it_needs() -> None:
    loaded = _modules("validate", "runbooks/pypi-files.yml")
    assert "pydantic" in loaded and "ruamel.yaml" in loaded
    assert [m for m in ["httpx", "rich.live", "cutover.lab", "sqlite3"] if m in loaded] == []
