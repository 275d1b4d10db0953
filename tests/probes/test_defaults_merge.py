"""One merge of probe defaults: listed and expanded probes layer fields the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutover.probes import expand_sets
from cutover.runbook.probe_models import ProbeSet, ProbeSpec

DEFAULTS: dict[str, Any] = {
    "user_agent": "curl",
    "headers": {"X-From": "defaults", "X-Keep": "1"},
    "expect": {"content_type": "application/octet-stream", "status": [200, 304]},
}
OWN: dict[str, Any] = {"headers": {"X-From": "probe"}, "expect": {"status": 200}}


def _listed(tmp_path: Path) -> ProbeSpec:
    probe = {"url": "http://a.test/file", **OWN}
    return ProbeSet.model_validate({"defaults": DEFAULTS, "probes": [probe]}).probes[0]


def _expanded(tmp_path: Path) -> ProbeSpec:
    (tmp_path / "rows.yml").write_text("- {url: http://a.test/file, size: 7}\n")
    data = {"defaults": DEFAULTS, "expand": [{"file": "rows.yml", "probe": OWN}]}
    [(_, spec)] = expand_sets({"s": ProbeSet.model_validate(data)}, bases={"s": tmp_path})
    return spec


@pytest.mark.parametrize("make", [_listed, _expanded], ids=["listed", "expanded"])
def test_own_expect_keeps_the_sets_other_expect_fields(tmp_path: Path, make: Any) -> None:
    spec = make(tmp_path)
    assert spec.expect.content_type == "application/octet-stream"  # from the set's defaults
    assert spec.expect.status == [200]  # the probe's own value wins, field by field
    assert spec.user_agent == "curl"
    assert spec.headers == {"X-From": "probe", "X-Keep": "1"}


def test_expanded_rows_add_to_expect_and_a_row_name_yields_to_a_given_one(tmp_path: Path) -> None:
    (tmp_path / "rows.yml").write_text("- {url: http://a.test/f.whl, size: 7}\n")
    data = {
        "defaults": {"expect": {"content_type": "x/y", "size": 1}},
        "expand": [{"file": "rows.yml", "probe": {"name": "given"}}],
    }
    [(_, spec)] = expand_sets({"s": ProbeSet.model_validate(data)}, bases={"s": tmp_path})
    assert (spec.name, spec.expect.content_type, spec.expect.size) == ("given", "x/y", 7)


def test_a_listed_probe_without_expect_takes_the_defaults_expect_whole() -> None:
    data = {"defaults": DEFAULTS, "probes": [{"url": "http://a.test/"}]}
    spec = ProbeSet.model_validate(data).probes[0]
    assert (spec.expect.content_type, spec.expect.status) == (
        "application/octet-stream",
        [200, 304],
    )
