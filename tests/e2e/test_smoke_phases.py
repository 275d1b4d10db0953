"""The shipped smoke check (`checks/pypi-files.yml`, default sets) in every phase of the lab.

A smoke check asks "can users download?": it must be OK before the careful cutover, after
each of its stages (the ramp included) and once it is done, and CRITICAL in the 2018
state. "Has the migration happened?" (`via-legacy-flipped`, `smoke: false`) is the
runbook's last-stage question, asserted by the runbook's own stage probes.

The lab runs in its own process (`cutover lab serve`); the phases are reached by running
the shipped runbook's stages, one at a time, with the real CLI.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from cutover.runbook.loader import load_checks
from cutover.testing import ServedLab

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "checks" / "pypi-files.yml"
RUNBOOK = ROOT / "runbooks" / "pypi-files.yml"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, ServedLab]]:
    state = tmp_path / "state"
    with ServedLab(state) as lab:
        yield state, lab


def smoke_sets() -> list[str]:
    return [name for name, s in load_checks(CHECKS).model.sets.items() if s.smoke]


def check(cli: Any, state: Path, *args: str) -> tuple[int, str, dict[str, Counter[str]]]:
    """Exit code, summary message, reasons per set of one ``cutover check`` round."""
    proc = cli(
        "check", CHECKS, "--env", "lab", "--format", "json", "--state-dir", state, *args
    )  # fmt: skip
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [lines[0]["type"], lines[-1]["type"]] == ["header", "summary"], proc.stderr
    reasons: dict[str, Counter[str]] = {}
    for line in lines[1:-1]:
        reasons.setdefault(line["set"], Counter())[line["reason"]] += 1
    return proc.returncode, lines[-1]["message"], reasons


def test_the_flip_is_opt_in_and_the_runbook_asserts_it_in_its_last_stages() -> None:
    sets = load_checks(CHECKS).model.sets
    assert [name for name, s in sets.items() if not s.smoke] == ["via-legacy-flipped"]
    stages = YAML(typ="safe").load(RUNBOOK.read_text(encoding="utf-8"))["stages"]
    flipped = [s["name"] for s in stages if "via-legacy-flipped" in s.get("probes", [])]
    assert flipped == ["ramp-100", "permanent"]


@pytest.mark.slow
def test_ok_before_the_cutover_critical_in_the_2018_state(
    cli: Any, served: tuple[Path, ServedLab]
) -> None:
    state, lab = served
    code, message, reasons = check(cli, state)
    assert (code, message) == (0, "OK - 813/813 probes passed")
    assert sorted(reasons) == sorted(smoke_sets())
    # the migration-state assertion, asked by name, says what it should: not yet
    code, message, reasons = check(cli, state, "--set", "via-legacy-flipped")
    assert (code, reasons) == (2, {"via-legacy-flipped": Counter(wrong_final_host=202)})

    # 2018-04-16 15:00: every legacy path redirected at once, without the signing fix
    api = httpx.Client(base_url=lab.api_url, headers={"Fastly-Key": lab.token}, timeout=10)
    legacy = f"/service/{lab.service_ids['legacy']}"
    dictionary = api.get(f"{legacy}/version/1/dictionary/redirects").json()["id"]
    items = [
        {"op": "upsert", "item_key": k, "item_value": v}
        for k, v in {"mode": "301", "percent": "100", "prefixes": "/"}.items()
    ]
    assert api.patch(f"{legacy}/dictionary/{dictionary}/items", json={"items": items}).is_success
    api.close()
    code, message, reasons = check(cli, state)
    assert code == 2
    assert message.startswith("CRITICAL - ")
    assert reasons["files-miss"] == Counter(redirect_loop=202)
    assert reasons["files-hit"] == Counter(ok=202)  # cache hits kept working, as in 2018


def stage_runbook(directory: Path, stage: dict[str, Any]) -> Path:
    """The shipped runbook with only ``stage``: one phase of the careful cutover."""
    yaml = YAML(typ="safe")
    runbook = yaml.load(RUNBOOK.read_text(encoding="utf-8"))
    runbook["stages"] = [stage]
    runbook["probes"] = {name: {"include": str(CHECKS)} for name in runbook["probes"]}
    path = directory / f"{stage['name']}.yml"
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(runbook, out)
    return path


@pytest.mark.slow
def test_ok_in_every_phase_of_the_careful_cutover(
    cli: Any, served: tuple[Path, ServedLab], tmp_path: Path
) -> None:
    state, _ = served
    stages = YAML(typ="safe").load(RUNBOOK.read_text(encoding="utf-8"))["stages"]
    seen = {"before": check(cli, state)[:2]}
    for stage in stages:
        if stage.get("preflight"):
            continue
        path = stage_runbook(tmp_path, stage)
        run = cli(
            "run", path, "--env", "lab", "--yes", "--state-dir", state,
            "--include-root", CHECKS.parent,
        )  # fmt: skip
        # exit 0: the stage's own probes passed (via-legacy-flipped from ramp-100 on)
        assert run.returncode == 0, run.stdout + run.stderr
        seen[stage["name"]] = check(cli, state)[:2]
    ok = (0, "OK - 813/813 probes passed")
    assert seen == {
        "before": ok,
        "fix-signing-scope": ok,
        "ramp-1": ok,
        "ramp-10": ok,
        "ramp-50": ok,
        "ramp-100": ok,
        "permanent": ok,
    }
    code, message, _ = check(cli, state, "--add-set", "via-legacy-flipped")
    assert (code, message) == (0, "OK - 1015/1015 probes passed")
