"""The scheduling examples of docs/check.md, shipped under docs/examples/, are ready to use.

For each file: it is shown verbatim in docs/check.md; its YAML parses; the ``cutover
check`` command line it holds parses with the real CLI's options, names a shipped checks
file and an environment of it, and — pointed at the lab instead of production (``--env
lab``, ``--output`` in a temporary folder, one round) — runs and exits 0 with output in its
format. Unit files pass ``systemd-analyze verify`` where it is installed.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

from cutover.cli.app import app
from cutover.report import prometheus
from cutover.report.check_round import CheckRound
from cutover.runbook.loader import load_checks
from cutover.testing import ServedLab, run_cutover

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
DOC = (ROOT / "docs" / "check.md").read_text(encoding="utf-8")
INSTALLED = "/usr/local/bin/cutover"
CHECKS_DIR = "/etc/cutover/checks/"


def yaml_documents(path: Path) -> list[Any]:
    return [d for d in YAML(typ="safe").load_all(path.read_text(encoding="utf-8")) if d]


def from_cron(path: Path) -> list[list[str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or re.match(r"^\w+=", line):
            continue
        fields = line.split(None, 6)  # minute hour day month weekday user command
        argv = shlex.split(fields[6])
        assert argv[0] == "chronic", "cron mails any output: chronic keeps an OK round quiet"
        out.append(argv[1:])
    return out


def from_unit(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8")
    return [shlex.split(m) for m in re.findall(r"^ExecStart=(.+)$", text, flags=re.MULTILINE)]


def from_containerfile(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8")
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.MULTILINE):
        assert (ROOT / source).exists(), f"COPY {source}: not in the build context (the repo)"
    entrypoint = json.loads(re.findall(r"^ENTRYPOINT (.+)$", text, flags=re.MULTILINE)[0])
    command = json.loads(re.findall(r"^CMD (.+)$", text, flags=re.MULTILINE)[0])
    return [[INSTALLED if entrypoint == ["cutover"] else entrypoint[0], *command]]


def from_cronjob(path: Path) -> list[list[str]]:
    docs = {d["kind"]: d for d in yaml_documents(path)}
    job = docs["CronJob"]["spec"]
    assert job["concurrencyPolicy"] == "Forbid"  # rounds never stack
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mount = container["volumeMounts"][0]["mountPath"]
    assert mount == CHECKS_DIR.rstrip("/")
    assert docs["ConfigMap"]["metadata"]["name"] == pod["volumes"][0]["configMap"]["name"]
    assert "pypi-files.yml" in docs["ConfigMap"]["data"]
    (cutover,) = container["command"]
    return [[INSTALLED if cutover == "cutover" else cutover, *container["args"]]]


def from_nagios(path: Path) -> list[list[str]]:
    """Each service's check_command, with its ``$ARGn$`` macros expanded."""
    text = path.read_text(encoding="utf-8")
    commands = dict(re.findall(r"command_name\s+(\S+)\s+command_line\s+(.+)", text))
    out = []
    for call in re.findall(r"check_command\s+(\S+)", text):
        name, *args = call.split("!")
        line = commands[name]
        for n, value in enumerate(args, start=1):
            line = line.replace(f"${f'ARG{n}'}$", value)
        assert "$" not in line, line
        out.append(shlex.split(line))
    return out


def from_icinga2(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(m) for m in re.findall(r"command = (\[.*\])", text)]


def from_alert_rules(path: Path) -> list[list[str]]:
    """No command; every metric an expression names is one ``--format prometheus`` writes."""
    (rules,) = yaml_documents(path)
    written = {
        f.name
        for f in text_string_to_metric_families(
            prometheus.render(CheckRound("c", "f", None, 1, 0.0, 0.0))
        )
    }
    for rule in rules["groups"][0]["rules"]:
        named = set(re.findall(r"\bcutover_\w+", rule["expr"]))
        assert named and named <= written, (rule["alert"], named - written)
    return []


READERS: dict[str, Callable[[Path], list[list[str]]]] = {
    "container/Containerfile": from_containerfile,
    "cron/cutover-check": from_cron,
    "icinga2/cutover.conf": from_icinga2,
    "kubernetes/cutover-check-cronjob.yaml": from_cronjob,
    "nagios/cutover.cfg": from_nagios,
    "prometheus/cutover-alerts.yml": from_alert_rules,
    "prometheus/cutover-check-textfile.service": from_unit,
    "systemd/cutover-check.service": from_unit,
    "systemd/cutover-check.timer": lambda path: [],
}


def test_every_example_file_has_a_reader() -> None:
    shipped = sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*") if p.is_file())
    assert shipped == sorted(READERS)


@pytest.mark.parametrize("name", sorted(READERS))
def test_the_example_is_shown_verbatim_in_check_md(name: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8").strip()
    assert f"(examples/{name})" in DOC, f"docs/check.md does not link examples/{name}"
    assert text in DOC, f"docs/check.md does not show examples/{name} as it is"


def invocations() -> list[tuple[str, list[str]]]:
    return [
        (f"{name}:{n}", argv)
        for name, reader in sorted(READERS.items())
        for n, argv in enumerate(reader(EXAMPLES / name))
    ]


def test_the_examples_hold_these_invocations() -> None:
    assert [key for key, _ in invocations()] == [
        "container/Containerfile:0",
        "cron/cutover-check:0",
        "icinga2/cutover.conf:0",
        "kubernetes/cutover-check-cronjob.yaml:0",
        "nagios/cutover.cfg:0",
        "prometheus/cutover-check-textfile.service:0",
        "systemd/cutover-check.service:0",
    ]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("examples") / "state"
    with ServedLab(state):
        yield state


def parsed(argv: list[str]) -> dict[str, Any]:
    """The options as the real ``cutover check`` parses them (an unknown option fails)."""
    assert argv[0] == INSTALLED and argv[1] == "check", argv
    group: Any = typer.main.get_command(app)
    command = group.commands["check"]
    context = command.make_context("check", list(argv[2:]))
    return dict(context.params)


@pytest.mark.slow
@pytest.mark.parametrize(("key", "argv"), invocations(), ids=[k for k, _ in invocations()])
def test_the_command_line_is_a_valid_check_that_runs(
    key: str, argv: list[str], lab: Path, tmp_path: Path
) -> None:
    params = parsed(argv)
    file = str(params["file"])
    assert file.startswith(CHECKS_DIR), file
    shipped = ROOT / "checks" / file.removeprefix(CHECKS_DIR)
    model = load_checks(shipped, environment=params["env"]).model  # the environment exists
    assert set(params["sets"] or []) | set(params["add_sets"] or []) <= set(model.sets)

    # the same invocation, pointed at the lab: one round, exit 0, output in its format
    args = list(argv[2:])
    args[args.index(file)] = str(shipped)
    args[args.index("--env") + 1] = "lab"
    if "--output" in args:
        args[args.index("--output") + 1] = str(tmp_path / "out")
    if "--every" in args:
        args += ["--count", "1"]
    done = run_cutover("check", *args, "--state-dir", lab, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = (tmp_path / "out").read_text(encoding="utf-8") if "--output" in args else done.stdout
    fmt = params["output_format"]
    if fmt == "json":
        lines = [json.loads(line) for line in out.splitlines()]
        assert (lines[0]["type"], lines[-1]["status"]) == ("header", "OK")
    elif fmt == "prometheus":
        families = {f.name: f for f in text_string_to_metric_families(out)}
        assert families["cutover_check_status"].samples[0].value == 0.0
    elif fmt == "nagios":
        assert out.startswith("CUTOVER OK - 813/813 probes passed | ")
    else:
        assert fmt == "table" and "OK - 813/813 probes passed" in out


UNITS = sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".service", ".timer"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    installed = Path(sys.executable).with_name("cutover")  # ExecStart must be executable
    assert installed.exists()
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace(INSTALLED, str(installed))
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_systemd_analyze_verify_does_find_a_bad_unit(tmp_path: Path) -> None:
    """The check above can fail: a unit with a bad directive is reported."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze")
    unit = tmp_path / "bad.service"
    unit.write_text("[Service]\nType=oneshot\nExecStart=/bin/true\nRestartt=always\n")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert "Restartt" in done.stdout + done.stderr
