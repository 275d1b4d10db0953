"""Round status (Nagios) and the renderers, on hand-made results."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cutover.errors import CheckExit
from cutover.probes import Hop, ProbeResult, Reason
from cutover.report import jsonl, junit, nagios, prometheus, table
from cutover.report.check_round import CheckRound


def result(reason: Reason, url: str = "http://a.test/f", set_name: str = "s") -> ProbeResult:
    return ProbeResult(
        set=set_name,
        name=url,
        url=url,
        ok=reason.passed,
        reason=reason,
        detail="" if reason is Reason.OK else f"why {reason.value}",
        status=200,
        hops=(Hop(url, 200),),
        elapsed_ms=12.5,
    )


def round_of(
    *reasons: Reason, warning: float = 0.0, critical: float = 0.5, error: str | None = None
) -> CheckRound:
    return CheckRound(
        check="c",
        source="c.yml",
        environment="e",
        number=1,
        started=1.7e9,
        duration=0.25,
        results=tuple(result(r, f"http://a.test/{i}") for i, r in enumerate(reasons)),
        warning=warning,
        critical=critical,
        error=error,
    )


@pytest.mark.parametrize(
    ("reasons", "warning", "critical", "status"),
    [
        ((Reason.OK, Reason.OK), 0.0, 0.5, CheckExit.OK),
        ((Reason.OK, Reason.FLAKY), 0.0, 0.5, CheckExit.OK),
        ((Reason.OK, Reason.OK, Reason.OK, Reason.HTTP_5XX), 0.0, 0.5, CheckExit.WARNING),
        ((Reason.OK, Reason.HTTP_5XX), 0.0, 0.5, CheckExit.CRITICAL),
        ((Reason.OK, Reason.HTTP_5XX), 0.6, 0.9, CheckExit.OK),
        ((Reason.OK,) * 99 + (Reason.REDIRECT_LOOP,), 0.5, 0.9, CheckExit.CRITICAL),
        ((Reason.OK,) * 99 + (Reason.CHECKSUM_MISMATCH,), 0.5, 0.9, CheckExit.CRITICAL),
        ((Reason.OK, Reason.OK), 0.0, 0.0, CheckExit.OK),
        ((), 0.0, 0.5, CheckExit.UNKNOWN),
    ],
)
def test_status(
    reasons: tuple[Reason, ...], warning: float, critical: float, status: CheckExit
) -> None:
    assert round_of(*reasons, warning=warning, critical=critical).status is status


def test_error_is_unknown_in_every_format() -> None:
    failed = round_of(error="cannot fetch the index")
    assert failed.status is CheckExit.UNKNOWN
    assert nagios.render(failed).startswith("CUTOVER UNKNOWN - cannot fetch the index | probes=0;")
    summary = json.loads(jsonl.render(failed))
    assert (summary["status"], summary["error"]) == ("UNKNOWN", "cannot fetch the index")
    root = ET.fromstring(junit.render(failed))
    assert root.get("errors") == "1"
    families = {f.name: f for f in text_string_to_metric_families(prometheus.render(failed))}
    assert families["cutover_check_status"].samples[0].value == 3.0


def test_summary_and_order() -> None:
    mixed = round_of(
        Reason.OK, Reason.FLAKY, Reason.HTTP_5XX, Reason.HTTP_5XX, Reason.TIMEOUT, critical=0.9
    )
    assert mixed.summary() == (
        "WARNING - 3 of 5 probes failed (60.0%), 1 flaky: http_5xx 2, timeout 1"
    )
    assert [r.reason for r in mixed.ordered()] == [
        Reason.HTTP_5XX,
        Reason.HTTP_5XX,
        Reason.TIMEOUT,
        Reason.FLAKY,
        Reason.OK,
    ]
    text = table.render(mixed)
    assert [line.split()[0] for line in text.splitlines()[1:]][:8] == [
        "FAIL",
        "why",
        "1.",
        "FAIL",
        "why",
        "1.",
        "FAIL",
        "why",
    ]
    assert "\x1b[" not in text
    assert "\x1b[31m" in table.render(mixed, colour=True)


def test_jsonl_lines() -> None:
    lines = [
        json.loads(x)
        for x in (jsonl.header("c", "c.yml", None) + jsonl.render(round_of(Reason.OK))).splitlines()
    ]
    assert [x["type"] for x in lines] == ["header", "probe", "summary"]
    assert lines[0]["version"] == 1
    assert {k: lines[1][k] for k in ("set", "url", "ok", "reason", "status", "sha256")} == {
        "set": "s",
        "url": "http://a.test/0",
        "ok": True,
        "reason": "ok",
        "status": 200,
        "sha256": None,
    }
    assert lines[1]["hops"][0]["url"] == "http://a.test/0"
    assert lines[2]["reasons"] == {"ok": 1}


@pytest.mark.parametrize(
    ("value", "label"),
    [*((r.value, r.value) for r in Reason), ("a_reason_of_tomorrow", "other"), ("", "other")],
)
def test_the_reason_label_is_bounded(value: str, label: str) -> None:
    assert prometheus.reason_label(value) == label
    assert label in prometheus.REASON_LABELS


def test_phases_split_the_last_attempt() -> None:
    chain = (Hop("http://a.test/x", 301, elapsed_ms=10), Hop("http://b.test/x", 302, elapsed_ms=5),
             Hop("http://c.test/x", 200, elapsed_ms=20))  # fmt: skip
    done = ProbeResult("s", "x", "http://a.test/x", True, Reason.OK, hops=chain, elapsed_ms=50)
    assert prometheus.phase_seconds(done) == pytest.approx(
        {"redirects": 0.015, "first_byte": 0.020, "transfer": 0.015}
    )
    refused = ProbeResult("s", "x", "http://a.test/x", False, Reason.CONNECT_ERROR)
    assert prometheus.phase_seconds(refused) == {}


def test_a_round_cut_by_set_judges_each_set_alone() -> None:
    results = (result(Reason.OK, set_name="a"), result(Reason.REDIRECT_LOOP, set_name="b"),
               result(Reason.OK, set_name="b"))  # fmt: skip
    whole = CheckRound("c", "c.yml", None, 1, 0.0, 0.1, results, sets=("a", "b", "empty"))
    parts = whole.by_set()
    assert list(parts) == ["a", "b", "empty"]
    assert [(p.sets, p.total, p.status) for p in parts.values()] == [
        (("a",), 1, CheckExit.OK),
        (("b",), 2, CheckExit.CRITICAL),
        (("empty",), 0, CheckExit.UNKNOWN),
    ]
    families = {
        f.name: f for f in text_string_to_metric_families(prometheus.render(whole, per_url=False))
    }
    assert {s.labels["set"]: s.value for s in families["cutover_set_status"].samples} == {
        "a": 0.0,
        "b": 2.0,
        "empty": 3.0,
    }
    assert not [name for name in families if name.startswith("cutover_probe_")]
