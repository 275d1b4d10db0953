"""docs/exporter.md's examples are ready to use: the systemd unit and the Kubernetes
Deployment run a ``cutover exporter`` command line the real CLI accepts, naming a shipped
checks file and one of its environments; the YAML blocks parse. (Its scrape config runs
in a real Prometheus in ``tests/exporter/test_exporter.py``.)"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from ruamel.yaml import YAML

from cutover.cli.app import app
from cutover.runbook.loader import load_checks

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "exporter.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", DOC, re.S)
INSTALLED = "/usr/local/bin/cutover"
CHECKS_DIR = "/etc/cutover/checks/"


def block(language: str, containing: str) -> str:
    (found,) = [text for lang, text in BLOCKS if lang == language and containing in text]
    return str(found)


def unit_argv() -> list[str]:
    (line,) = re.findall(r"^ExecStart=(.+)$", block("ini", "ExecStart="), flags=re.M)
    argv = shlex.split(line)
    assert argv[0] == INSTALLED
    return argv[1:]


def deployment_argv() -> list[str]:
    documents = list(YAML(typ="safe").load_all(block("yaml", "kind: Deployment")))
    assert [d["kind"] for d in documents] == ["Deployment", "Service"]
    (container,) = documents[0]["spec"]["template"]["spec"]["containers"]
    service_port = documents[1]["spec"]["ports"][0]
    assert service_port["targetPort"] == container["ports"][0]["name"]
    return [str(a) for a in container["args"]]


def parsed(argv: list[str]) -> dict[str, Any]:
    """The options as the real ``cutover exporter`` parses them (an unknown one fails)."""
    assert argv[0] == "exporter", argv
    group: Any = typer.main.get_command(app)
    return dict(group.commands["exporter"].make_context("exporter", list(argv[1:])).params)


@pytest.mark.parametrize("reader", [unit_argv, deployment_argv], ids=["systemd", "kubernetes"])
def test_the_command_line_is_a_valid_exporter(reader: Any) -> None:
    params = parsed(reader())
    checks = str(params["checks"])
    assert checks.startswith(CHECKS_DIR), checks
    shipped = ROOT / "checks" / checks.removeprefix(CHECKS_DIR)
    load_checks(shipped, environment=params["env"])  # the file and its environment exist
    assert (params["host"], params["port"]) == ("0.0.0.0", 9750)


def test_the_scrape_config_and_the_runbook_guard_parse() -> None:
    config = YAML(typ="safe").load(block("yaml", "scrape_configs"))
    assert [job["job_name"] for job in config["scrape_configs"]] == [
        "cutover-files",
        "cutover-sets",
    ]
    guard = YAML(typ="safe").load(block("yaml", "metric_sources"))
    queries = [check["query"] for check in guard["guard"]["metrics"]]
    assert "min by (region) (avg_over_time(cutover_probe_success" in queries[0]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    installed = Path(sys.executable).with_name("cutover")  # ExecStart must be executable
    unit = tmp_path / "cutover-exporter.service"
    unit.write_text(block("ini", "ExecStart=").replace(INSTALLED, str(installed)), "utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
