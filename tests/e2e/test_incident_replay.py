"""docs/lab.md's replay of 2018-04-16, phase by phase, seen by `cutover check`.

The lab runs in its own process (`cutover lab serve`); `cutover check --env lab` attaches
to it through the state directory, exactly as the docs say.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cutover.lab.scenarios import ATTEMPTED_FIX_2018, FIX_2018
from cutover.testing import ServedLab

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "pypi-files.s3.amazonaws.com"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    state = tmp_path / "state"
    with ServedLab(state) as lab:
        yield state, lab.info
    assert not (state / "lab" / "endpoint.json").exists()  # withdrawn on a clean stop


def check(cli: Any, state: Path) -> tuple[int, dict[str, Counter[str]]]:
    proc = cli(
        "check",
        "checks/pypi-files.yml",
        "--env",
        "lab",
        "--set",
        "files-miss",
        "--set",
        "files-hit",
        "--format",
        "json",
        "--state-dir",
        state,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    reasons: dict[str, Counter[str]] = {}
    for line in lines[1:-1]:
        reasons.setdefault(line["set"], Counter())[line["reason"]] += 1
    return proc.returncode, reasons


@pytest.mark.slow
def test_every_phase_of_the_incident(cli, served: tuple[Path, dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    state, lab = served
    ids = lab["service_ids"]
    api = httpx.Client(base_url=lab["api_url"], headers={"Fastly-Key": lab["token"]}, timeout=10)
    legacy, files = f"/service/{ids['legacy']}", f"/service/{ids['files']}"
    dictionary = api.get(f"{legacy}/version/1/dictionary/redirects").json()["id"]

    code, reasons = check(cli, state)  # before 15:00: the bug is latent
    assert code == 0 and reasons["files-miss"] == Counter(ok=202)

    api.put(f"{legacy}/dictionary/{dictionary}/item/mode", data={"item_value": "301"})
    code, reasons = check(cli, state)  # 15:00: misses loop, hits still work
    assert code == 2
    assert reasons["files-miss"] == Counter(redirect_loop=202)
    assert reasons["files-hit"] == Counter(ok=202)

    api.put(f"{legacy}/version/1/clone")
    api.delete(f"{legacy}/version/2/domain/{BUCKET}")
    api.put(f"{legacy}/version/2/activate")
    code, reasons = check(cli, state)  # 15:26: 503s
    assert code == 2 and reasons["files-miss"] == Counter(http_5xx=202)

    api.put(f"{files}/version/1/clone")
    for name, content in ATTEMPTED_FIX_2018.items():
        api.put(f"{files}/version/2/snippet/{name}", data={"content": content})
    api.put(f"{files}/version/2/activate")
    code, reasons = check(cli, state)  # 15:38: 404s
    assert code == 2 and reasons["files-miss"] == Counter(http_4xx=202)

    api.put(f"{files}/version/1/activate")
    code, reasons = check(cli, state)  # 15:50: 503s again
    assert code == 2 and reasons["files-miss"] == Counter(http_5xx=202)

    api.put(f"{legacy}/version/1/activate")
    api.put(f"{legacy}/dictionary/{dictionary}/item/prefixes", data={"item_value": "/simple/"})
    code, reasons = check(cli, state)  # 16:26: file hosting back on legacy
    assert code == 0 and reasons["files-miss"] == Counter(ok=202)

    api.put(f"{files}/version/1/clone")
    api.put(f"{files}/version/3/snippet/s3-signing", data={"content": FIX_2018["s3-signing"]})
    api.put(f"{files}/version/3/activate")
    api.put(f"{legacy}/version/2/activate")
    api.put(f"{legacy}/dictionary/{dictionary}/item/prefixes", data={"item_value": "/"})
    code, reasons = check(cli, state)  # 16:45: the final fix, everything redirected
    assert code == 0 and reasons["files-miss"] == Counter(ok=202)
    api.close()
