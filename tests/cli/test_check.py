"""``cutover check`` end to end, in a subprocess, against the misbehaving loopback server."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cutover.reasons import Reason
from cutover.testing import cli_env, cutover_argv, run_cutover
from cutover.testing import probe_server as ps


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with ps.running_server() as running:
        yield running


def checks_file(tmp_path: Path, server: Any, sets: str, extra: str = "") -> Path:
    path = tmp_path / "checks.yml"
    path.write_text(server.checks_yaml(sets, extra))
    return path


GOOD = f"""  files:
    expand:
      - url: http://index.test/pypi/sampleproject/json
        probe: {{expect: {{final_host: files.test, max_hops: 0}}, cache_bust: true}}
  index:
    probes:
      - url: http://index.test/simple/sampleproject/
        name: simple page
        expect: {{body: "files\\\\.test/packages/"}}
      - url: http://a.test/file
        expect: {{sha256: {ps.BODY_SHA256}, size: {len(ps.BODY)}}}
"""
ONE_503 = (
    GOOD
    + """      - url: http://a.test/503
"""
)
LOOP = (
    GOOD
    + """      - url: http://a.test/loop2
"""
)
MANY_503 = """  bad:
    probes:
      - {url: http://a.test/503}
      - {url: http://a.test/gone}
      - {url: http://a.test/file}
"""


def cutover(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cutover(*args, cwd=cwd, timeout=60)


def test_ok_as_json_lines(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, GOOD)
    done = cutover("check", path, "--env", "test", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0] == {
        "type": "header",
        "version": 1,
        "check": "smoke",
        "file": str(path),
        "environment": "test",
    }
    probes, summary = lines[1:-1], lines[-1]
    assert [(p["set"], p["ok"], p["reason"], p["status"]) for p in probes] == [
        ("files", True, "ok", 200),
        ("files", True, "ok", 200),
        ("index", True, "ok", 200),
        ("index", True, "ok", 200),
    ]
    assert probes[3]["sha256"] == ps.BODY_SHA256
    assert [h["url"] for h in probes[3]["hops"]] == ["http://a.test/file"]
    assert re.fullmatch(
        r"http://files\.test/packages/.*\?cutover=[0-9a-f]{32}", probes[0]["hops"][0]["url"]
    )
    assert all(isinstance(p["elapsed_ms"], float) for p in probes)
    assert {k: summary[k] for k in ("type", "status", "exit_code", "total", "failed")} == {
        "type": "summary",
        "status": "OK",
        "exit_code": 0,
        "total": 4,
        "failed": 0,
    }


def test_warning_as_junit(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, ONE_503)
    done = cutover("check", path, "--env", "test", "--format", "junit", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    root = ET.fromstring(done.stdout)
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "5", "1")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["files", "index"]
    cases = suites["index"].findall("testcase")
    assert [c.get("name") for c in cases] == [
        "simple page",
        "http://a.test/file",
        "http://a.test/503",
    ]
    failure = cases[2].find("failure")
    assert failure is not None
    assert failure.get("type") == "http_5xx"
    assert failure.get("message") == "http_5xx: 503 from a.test, expected 200"
    assert failure.text == "http://a.test/503 (503)"
    assert cases[0].find("failure") is None


def test_loop_is_critical_as_nagios(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, LOOP)
    done = cutover("check", path, "--env", "test", "--format", "nagios", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    match = re.fullmatch(
        r"CUTOVER (\w+) - (.*) \| probes=(\d+);;;0 failed=(\d+);;;0;\d+ flaky=(\d+);;;0;\d+ "
        r"failure_rate=([\d.]+)%;0;50;0;100 time=[\d.]+s;;;0\n",
        done.stdout,
    )
    assert match is not None, done.stdout
    assert match.groups()[:5] == (
        "CRITICAL",
        "1 of 5 probes failed (20.0%): redirect_loop 1",
        "5",
        "1",
        "0",
    )
    assert match.group(6) == "20.00"


def test_failure_rate_critical_as_prometheus_file(tmp_path: Path, server: Any) -> None:
    """By default: the check's and each set's series, no series per probe (cardinality)."""
    path = checks_file(tmp_path, server, MANY_503)
    out = tmp_path / "cutover.prom"
    done = cutover(
        "check", path, "--env", "test", "--format", "prometheus", "--output", out, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    families = {f.name: f for f in text_string_to_metric_families(out.read_text())}
    assert sorted(families) == [
        "cutover_check_duration_seconds",
        "cutover_check_failure_ratio",
        "cutover_check_last_run_timestamp_seconds",
        "cutover_check_overran",
        "cutover_check_probes",
        "cutover_check_status",
        "cutover_set_failure_ratio",
        "cutover_set_probes",
        "cutover_set_slowest_probe_seconds",
        "cutover_set_status",
    ]
    (status,) = families["cutover_check_status"].samples
    assert (status.labels, status.value) == ({"check": "smoke"}, 2.0)
    for family in ("cutover_check_probes", "cutover_set_probes"):
        counts = {s.labels["reason"]: s.value for s in families[family].samples}
        assert len(counts) == len(Reason) + 1  # every reason and "other", zeros included
        assert {r: n for r, n in counts.items() if n} == {"http_5xx": 1, "http_4xx": 1, "ok": 1}
    (set_status,) = families["cutover_set_status"].samples
    assert (set_status.labels, set_status.value) == ({"check": "smoke", "set": "bad"}, 2.0)
    (ratio,) = families["cutover_check_failure_ratio"].samples
    assert ratio.value == pytest.approx(2 / 3)
    (set_ratio,) = families["cutover_set_failure_ratio"].samples
    assert set_ratio.value == pytest.approx(2 / 3)


PER_URL = f"""  bad:
    probes:
      - {{url: http://a.test/503}}
      - url: http://a.test/file
        expect: {{sha256: {ps.BODY_SHA256}, size: {len(ps.BODY)}}}
      - url: http://a.test/file
        name: wrong digest
        expect: {{sha256: "{"0" * 64}"}}
"""


def test_per_url_series_only_on_request(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, PER_URL)
    done = cutover(
        "check", path, "--env", "test", "--format", "prometheus", "--per-url", cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    families = {f.name: f for f in text_string_to_metric_families(done.stdout)}

    def values(family: str) -> dict[str, float]:
        return {s.labels["name"]: s.value for s in families[family].samples}

    file, wrong, error = "http://a.test/file", "wrong digest", "http://a.test/503"
    assert values("cutover_probe_success") == {error: 0.0, file: 1.0, wrong: 0.0}
    reasons = {
        (s.labels["name"], s.labels["reason"]) for s in families["cutover_probe_reason"].samples
    }
    assert reasons == {(error, "http_5xx"), (file, "ok"), (wrong, "checksum_mismatch")}
    assert values("cutover_probe_sha256_match") == {file: 1.0, wrong: 0.0}  # 503: none expected
    assert values("cutover_probe_status_code") == {error: 503.0, file: 200.0, wrong: 200.0}
    assert values("cutover_probe_hops") == {error: 1.0, file: 1.0, wrong: 1.0}
    assert values("cutover_probe_redirects") == {error: 0.0, file: 0.0, wrong: 0.0}
    assert {(n, v) for n, v in values("cutover_probe_bytes").items() if n != error} == {
        (file, len(ps.BODY)),
        (wrong, len(ps.BODY)),
    }
    hosts = {
        (s.labels["name"], s.labels["host"]) for s in families["cutover_probe_final_host"].samples
    }
    assert hosts == {(error, "a.test"), (file, "a.test"), (wrong, "a.test")}
    phases = {
        (s.labels["name"], s.labels["phase"])
        for s in families["cutover_probe_phase_duration_seconds"].samples
    }
    assert phases == {
        (n, p) for n in (error, file, wrong) for p in ("redirects", "first_byte", "transfer")
    }
    (sample, *_) = families["cutover_probe_success"].samples
    assert set(sample.labels) == {"check", "set", "name", "url"}
    assert "cutover_set_status" in families and "cutover_check_status" in families


def test_per_url_needs_the_prometheus_format(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, MANY_503)
    done = cutover("check", path, "--env", "test", "--format", "json", "--per-url", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (3, "")
    assert "--per-url is for --format prometheus, not --format json" in done.stderr


def test_thresholds_from_the_command_line(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, MANY_503)
    relaxed = cutover(
        "check",
        path,
        "--env",
        "test",
        "--format",
        "nagios",
        "--warning",
        "70%",
        "--critical",
        "0.9",
        cwd=tmp_path,
    )
    assert relaxed.returncode == 0, relaxed.stderr
    assert relaxed.stdout.startswith("CUTOVER OK - 2 of 3 probes failed (66.7%): ")
    warning = cutover(
        "check",
        path,
        "--env",
        "test",
        "--format",
        "nagios",
        "--warning",
        "0.5",
        "--critical",
        "0.9",
        cwd=tmp_path,
    )
    assert warning.returncode == 1


def test_table_puts_failures_first_with_their_chain(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, LOOP)
    done = cutover(
        "check", path, "--env", "test", "--format", "table", "--set", "index", cwd=tmp_path
    )
    assert done.returncode == 2
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cutover check smoke (env test), round 1: 3 probe(s) in ")
    assert lines[1].startswith("FAIL   redirect_loop      index")
    assert lines[2] == (
        "       loop of 2 hop(s): http://a.test/loop2 → http://b.test/loop2 → http://a.test/loop2"
    )
    assert lines[3] == "       1. 301 http://a.test/loop2 → http://b.test/loop2"
    assert lines[4] == "       2. 301 http://b.test/loop2 → http://a.test/loop2"
    assert lines[5].startswith("ok     ok ")
    assert lines[-1] == "CRITICAL - 1 of 3 probes failed (33.3%): redirect_loop 1"


def test_every_with_count_repeats(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, MANY_503)
    done = cutover(
        "check",
        path,
        "--env",
        "test",
        "--format",
        "json",
        "--every",
        "10ms",
        "--count",
        "3",
        "--set",
        "bad",
        "--warning",
        "0.9",
        "--critical",
        "1",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    # every round stands alone: its header, its probes, its summary
    assert [(x["type"], x.get("round")) for x in lines] == [
        ("header", None),
        *[("probe", n) for n in (1, 1, 1)],
        ("summary", 1),
        ("header", None),
        *[("probe", n) for n in (2, 2, 2)],
        ("summary", 2),
        ("header", None),
        *[("probe", n) for n in (3, 3, 3)],
        ("summary", 3),
    ]
    assert lines[0] == lines[5] == lines[10]


def test_non_tty_default_is_json(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, GOOD)
    done = cutover("check", path, "--env", "test", cwd=tmp_path)
    assert done.returncode == 0
    assert json.loads(done.stdout.splitlines()[0])["version"] == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--format", "xml"],
            "error: --format 'xml': use one of table, json, junit, prometheus, nagios",
        ),
        (["--every", "soon"], "error: --every: 'soon' is not a duration"),
        (["--count", "2"], "error: --count needs --every"),
        (["--warning", "lots"], "error: --warning 'lots': write a rate such as 0.05 or 5%"),
        (["--critical", "150%"], "error: --critical '150%': a rate is between 0 and 1"),
        (["--set", "filez"], "no probe set named 'filez'\n  hint: did you mean 'files'?"),
        (["--env", "prod"], "environments: no environment named 'prod'"),
        (["--bogus"], "No such option: --bogus"),
    ],
)
def test_invalid_input_is_unknown(
    tmp_path: Path, server: Any, args: list[str], message: str
) -> None:
    path = checks_file(tmp_path, server, GOOD)
    base = ["--env", "test"] if "--env" not in args else []
    done = cutover("check", path, *base, *args, cwd=tmp_path)
    assert done.returncode == 3
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_invalid_checks_file_is_unknown_with_location(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, "  x:\n    probes:\n      - url: ftp://nope\n")
    done = cutover("check", path, "--env", "test", cwd=tmp_path)
    assert done.returncode == 3
    assert done.stderr == (
        "checks.yml:15:14: sets.x.probes[0].url: String should match pattern '^https?://'\n"
    )
    assert "Traceback" not in done.stderr


def test_unreachable_expansion_is_unknown(tmp_path: Path, server: Any) -> None:
    sets = """  files:
    expand:
      - url: http://index.test/pypi/nothing/json
"""
    path = checks_file(tmp_path, server, sets)
    done = cutover("check", path, "--env", "test", "--format", "nagios", cwd=tmp_path)
    assert done.returncode == 3
    assert done.stdout.startswith(
        "CUTOVER UNKNOWN - sets.files.expand[0]: http://index.test/pypi/nothing/json answered 404"
    )
    assert "error: sets.files.expand[0]:" in done.stderr


def test_a_lab_environment_starts_the_lab_and_probes_it(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(
        "version: 1\nname: l\nenvironments:\n  lab:\n    lab: {}\n"
        "sets:\n  s:\n    probes:\n      - url: http://pypi.org/simple/sampleproject/\n"
        "        expect: {body: files.pythonhosted.org/packages/}\n"
    )
    done = cutover(
        "check",
        path,
        "--env",
        "lab",
        "--format",
        "nagios",
        "--state-dir",
        tmp_path / "state",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("CUTOVER OK - 1/1 probes passed")
    assert (tmp_path / "state" / "lab" / "pypi-2018.json").exists()


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_every_stops_cleanly_on_a_signal(tmp_path: Path, server: Any, signal_name: str) -> None:
    import signal

    path = checks_file(tmp_path, server, GOOD)
    process = subprocess.Popen(
        cutover_argv(
            "check",
            str(path),
            "--env",
            "test",
            "--format",
            "json",
            "--every",
            "30s",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        for _ in range(50):  # header, probes, then the first summary
            line = process.stdout.readline()
            if not line or json.loads(line)["type"] == "summary":
                break
        assert json.loads(line)["status"] == "OK"
        process.send_signal(getattr(signal, signal_name))
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0  # the last complete round's status
    assert out == ""
    assert err == "interrupted after 1 complete round(s)\n"


SMOKE_AND_STATE = """  files:
    expand:
      - url: http://index.test/pypi/sampleproject/json
        probe: {expect: {final_host: files.test, max_hops: 0}}
  flipped:
    smoke: false
    probes:
      - {url: http://a.test/loop2}
  index:
    probes:
      - url: http://index.test/simple/sampleproject/
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "code", "sets"),
    [
        ([], 0, ["files", "index"]),  # the default: smoke sets only
        (["--add-set", "flipped"], 2, ["files", "flipped", "index"]),
        (["--set", "flipped"], 2, ["flipped"]),
        (["--set", "index", "--set", "flipped"], 2, ["index", "flipped"]),
        (["--set", "index", "--set", "index"], 0, ["index"]),
    ],
)
def test_smoke_false_sets_run_only_when_named(
    tmp_path: Path, server: Any, args: list[str], code: int, sets: list[str]
) -> None:
    path = checks_file(tmp_path, server, SMOKE_AND_STATE)
    done = cutover("check", path, "--env", "test", "--format", "json", *args, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    probes = [json.loads(line) for line in done.stdout.splitlines()][1:-1]
    assert list(dict.fromkeys(p["set"] for p in probes)) == sets


@pytest.mark.parametrize(
    ("sets", "args", "message"),
    [
        (
            SMOKE_AND_STATE,
            ["--set", "files", "--add-set", "flipped"],
            "error: --set and --add-set cannot be combined\n  hint: --set names every set to run",
        ),
        (SMOKE_AND_STATE, ["--add-set", "fliped"], "no probe set named 'fliped'\n  hint: did you"),
        (
            "  flipped:\n    smoke: false\n    probes:\n      - {url: http://a.test/loop2}\n",
            [],
            "every probe set is `smoke: false`, so no set runs by default\n"
            "  hint: name the sets to run with --set (flipped)",
        ),
    ],
)
def test_set_selection_errors_are_unknown(
    tmp_path: Path, server: Any, sets: str, args: list[str], message: str
) -> None:
    path = checks_file(tmp_path, server, sets)
    done = cutover("check", path, "--env", "test", *args, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (3, "")
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_overrunning_round_is_reported_and_not_stacked(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, GOOD)
    done = cutover(
        "check", path, "--env", "test", "--format", "json", "--every", "1ms", "--count", "3",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summaries = [x for x in map(json.loads, done.stdout.splitlines()) if x["type"] == "summary"]
    assert [(s["round"], s["interval_ms"], s["overran"]) for s in summaries] == [
        (1, 1.0, True),
        (2, 1.0, True),
        (3, 1.0, True),
    ]
    # rounds run one after another, never two at once
    for before, after in itertools.pairwise(summaries):
        assert after["started"] >= before["started"] + before["duration_ms"] / 1000
    reported = done.stderr.splitlines()
    assert [line.split(":")[0] for line in reported] == [
        "round 1 overran --every 1ms",
        "round 2 overran --every 1ms",
    ]  # the last round has no next start to skip
    assert all(re.search(r"it took [0-9.]+s; \d+ start\(s\) skipped", x) for x in reported)


@pytest.mark.slow
def test_a_round_within_its_interval_is_not_an_overrun(tmp_path: Path, server: Any) -> None:
    path = checks_file(tmp_path, server, GOOD)
    done = cutover(
        "check", path, "--env", "test", "--format", "prometheus", "--every", "2s", "--count", "2",
        "--output", tmp_path / "out.prom", cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    families = {
        f.name: f for f in text_string_to_metric_families((tmp_path / "out.prom").read_text())
    }
    assert [s.value for s in families["cutover_check_overran"].samples] == [0.0]


@pytest.mark.parametrize(
    ("started", "now", "interval", "expected"),
    [
        (0.0, 0.5, 2.0, (1.5, 0)),  # within: wait for the rest of the interval
        (0.0, 2.0, 2.0, (0.0, 0)),  # exactly on time: start now
        (0.0, 2.5, 2.0, (1.5, 1)),  # overran by 0.5 s: one start skipped, wait for the grid
        (0.0, 7.0, 2.0, (1.0, 3)),  # overran three starts
        (10.0, 10.0, 0.001, (0.001, 0)),
    ],
)
def test_next_start_keeps_a_fixed_grid(
    started: float, now: float, interval: float, expected: tuple[float, int]
) -> None:
    from cutover.cli.check import _next_start

    wait, skipped = _next_start(started, now, interval)
    assert (round(wait, 9), skipped) == expected
