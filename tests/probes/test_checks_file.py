"""The shipped checks file loads, keeps the set names the runbook includes, and expands."""

from __future__ import annotations

from pathlib import Path

from cutover.probes import expand_sets
from cutover.runbook.loader import VarOverrides, load_checks

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_checks_file() -> None:
    loaded = load_checks(ROOT / "checks" / "pypi-files.yml", environment="production")
    sets = loaded.model.sets
    assert set(sets) >= {
        "files-miss",
        "files-hit",
        "via-index-host",
        "via-legacy-host",
        "via-legacy-flipped",
        "index",
        "missing",
        "conveyor",
    }
    listed = {name: s for name, s in sets.items() if not s.expand}
    specs = expand_sets(listed, bases=loaded.probe_bases)
    urls = [spec.url for _, spec in specs]
    assert (
        "https://files.pythonhosted.org/packages/source/s/sampleproject/sampleproject-4.0.0.tar.gz"
        in urls
    )
    assert "https://pypi.org/simple/sampleproject/" in urls
    missing = [spec for name, spec in specs if name == "missing"]
    assert [(s.expect.status, s.expect.max_hops, s.cache_bust) for s in missing] == [
        ([404], 0, True)
    ]


def test_lab_environment_renders_http() -> None:
    loaded = load_checks(
        ROOT / "checks" / "pypi-files.yml",
        environment="lab",
        overrides=VarOverrides(pairs=("project=demo",)),
    )
    (probe,) = loaded.model.sets["missing"].probes
    assert probe.url.startswith("http://files.pythonhosted.org/packages/00/00/")
    conveyor = [p.url for p in loaded.model.sets["conveyor"].probes]
    assert conveyor == [
        "http://files.pythonhosted.org/packages/source/d/demo/demo-1.3.1.tar.gz",
        "http://files.pythonhosted.org/packages/py2.py3/d/demo/demo-1.3.1-py2.py3-none-any.whl",
    ]
