"""A metric source is a plugin of the one registry, exactly like the built-ins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

from cutover.errors import PluginError
from cutover.metrics.sources import MetricSourceKind, Sample, register_metric_source
from cutover.runbook.types import Model


class ConstantSettings(Model):
    kind: Literal["constant_test"] = "constant_test"
    value: float


class ConstantSampler:
    def __init__(self, settings: ConstantSettings) -> None:
        self.settings = settings

    def sample(self, query: str) -> Sample:
        return Sample({"": self.settings.value})


def _refuse_x(query: str) -> None:
    if "x" in query:
        raise ValueError("no x here")


CONSTANT = MetricSourceKind("constant_test", ConstantSettings, ConstantSampler, _refuse_x)

RUNBOOK = """\
name: demo
environments: {lab: {}}
metric_sources:
  c: {kind: constant_test, value: 0.5}
guard:
  metrics: [{name: m, source: c, query: QUERY, threshold: {max: 1}}]
stages: [{name: s}]
"""


SCRIPT = """\
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from test_source_plugins import CONSTANT
from cutover.errors import DocumentError
from cutover.metrics.sources import METRIC_SOURCES, register_metric_source
from cutover.runbook.loader import load_runbook
from cutover.runbook.schema import json_schema

register_metric_source(CONSTANT)
assert register_metric_source(CONSTANT) is CONSTANT  # the same object again: harmless
path = Path(sys.argv[1])
path.write_text(sys.argv[3].replace("QUERY", "anything"), encoding="utf-8")
runbook = load_runbook(path, environment="lab").model
sampler = METRIC_SOURCES.get("constant_test").make_sampler(runbook.metric_sources["c"])
print(sampler.sample("anything"))
print("ConstantSettings" in json_schema("runbook")["$defs"])
path.write_text(sys.argv[3].replace("QUERY", "x"), encoding="utf-8")
try:
    load_runbook(path, environment="lab")
except DocumentError as exc:
    print(exc.problems[0].render().splitlines()[0])
"""


def test_a_registered_source_is_validated_and_measures(tmp_path: Path) -> None:
    """In a process of its own: a registration lasts as long as the process."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, "rb.yml", str(Path(__file__).parent), RUNBOOK],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "Sample(series={'': 0.5}, error=None)",
        "True",
        "rb.yml:6:41: guard.metrics[0].query: not a constant_test query: no x here",
    ]


def test_a_taken_name_is_refused() -> None:
    clash = MetricSourceKind("prometheus", ConstantSettings, ConstantSampler)
    with pytest.raises(PluginError) as info:
        register_metric_source(clash)
    assert info.value.message.startswith("metric source 'prometheus' is already registered (by")


def test_settings_without_their_kind_literal_are_refused() -> None:
    wrong = MetricSourceKind("other_test", ConstantSettings, ConstantSampler)
    with pytest.raises(PluginError) as info:
        register_metric_source(wrong)
    assert info.value.message == (
        "a register() call: metric source 'other_test': ConstantSettings needs the field"
        " `kind: Literal['other_test'] = 'other_test'`"
    )
