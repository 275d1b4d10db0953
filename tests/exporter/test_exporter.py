"""``cutover exporter``: the real command against the served lab, answering exact metrics.

Every test talks HTTP to a ``cutover exporter`` process (:mod:`cutover.testing.exporter`),
its probes going to a ``cutover lab serve`` process through the lab environment's resolve
map, as blackbox_exporter's users would scrape it.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cutover.lab.packages import default_catalog
from cutover.testing import ServedLab, run_cutover
from cutover.testing import probe_server as ps
from cutover.testing.exporter import ExporterProcess, running_exporter
from cutover.testing.net import free_port, wait_for
from cutover.testing.prometheus import blackbox_job, value_of

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "checks" / "pypi-files.yml"
WHEEL = default_catalog().files[0]
FILES = f"http://files.pythonhosted.org{WHEEL.url_path}"
LEGACY = f"http://pypi.python.org{WHEEL.url_path}"
TIMINGS = {"cutover_probe_duration_seconds", "cutover_probe_phase_duration_seconds"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedLab]:
    with ServedLab(tmp_path_factory.mktemp("exporter-lab") / "state") as served:
        yield served


@pytest.fixture(scope="module")
def exporter(lab: ServedLab) -> Iterator[ExporterProcess]:
    args = ("--checks", CHECKS, "--env", "lab", "--state-dir", lab.state_dir)
    with running_exporter(*args) as running:
        yield running


def samples(text: str) -> Samples:
    """Every sample but the timings: ``(name, sorted labels) → value``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if family.name not in TIMINGS
    }


def timings(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (s.name, tuple(sorted(s.labels.items())))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if family.name in TIMINGS
    }


def probe(exporter: ExporterProcess, **params: str) -> httpx.Response:
    return httpx.get(exporter.url("/probe"), params=params, timeout=30)


def one_probe(reason: str, success: int, host: str, status: int, **extra: float) -> Samples:
    expected: Samples = {
        ("cutover_probe_success", ()): success,
        ("cutover_probe_reason", (("reason", reason),)): 1,
        ("cutover_probe_hops", ()): 1,
        ("cutover_probe_redirects", ()): 0,
        ("cutover_probe_status_code", ()): status,
        ("cutover_probe_final_host", (("host", host),)): 1,
        ("cutover_probe_attempts", ()): 1,
    }
    expected.update({(f"cutover_probe_{name}", ()): value for name, value in extra.items()})
    return expected


PHASES = {
    ("cutover_probe_duration_seconds", ()),
    *(("cutover_probe_phase_duration_seconds", (("phase", p),)) for p in
      ("redirects", "first_byte", "transfer")),
}  # fmt: skip


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(
            {"target": FILES, "module": "files-hit", "sha256": WHEEL.sha256,
             "size": str(WHEEL.size)},
            one_probe("ok", 1, "files.pythonhosted.org", 200, bytes=WHEEL.size, sha256_match=1),
            id="passing-file-with-its-digest",
        ),
        pytest.param(
            {"target": FILES, "module": "files-hit"},
            one_probe("ok", 1, "files.pythonhosted.org", 200, bytes=WHEEL.size),
            id="passing-file-no-digest-expected",
        ),
        pytest.param(
            {"target": FILES, "module": "files-hit", "sha256": "0" * 64},
            one_probe("checksum_mismatch", 0, "files.pythonhosted.org", 200, bytes=WHEEL.size,
                      sha256_match=0),
            id="failing-wrong-digest",
        ),
        pytest.param(
            {"target": LEGACY, "module": "via-legacy-flipped"},
            one_probe("wrong_final_host", 0, "pypi.python.org", 200),  # judged before the body
            id="failing-not-flipped-yet",
        ),
        pytest.param(
            {"target": LEGACY, "module": "via-legacy-host"},
            one_probe("ok", 1, "pypi.python.org", 200, bytes=WHEEL.size),
            id="passing-either-host",
        ),
        pytest.param(
            {"target": FILES.replace(WHEEL.filename, "nothing-0.0.tar.gz"), "module": "files-hit"},
            one_probe("http_4xx", 0, "files.pythonhosted.org", 404),  # an error page: not read
            id="failing-missing-file",
        ),
    ],
)  # fmt: skip
def test_a_target_is_answered_with_cutovers_verdict(
    exporter: ExporterProcess, params: dict[str, str], expected: Samples
) -> None:
    answer = probe(exporter, **params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4; charset=utf-8")
    assert samples(answer.text) == expected
    assert timings(answer.text) == PHASES


def test_a_listed_probe_is_a_module(exporter: ExporterProcess) -> None:
    conveyor = f"http://files.pythonhosted.org{WHEEL.conveyor_path}"
    answer = probe(exporter, target=conveyor, module="conveyor/conveyor wheel")
    assert answer.status_code == 200, answer.text
    found = samples(answer.text)
    assert found[("cutover_probe_success", ())] == 1
    assert found[("cutover_probe_redirects", ())] == 1  # the conveyor's 302, then 200
    assert found[("cutover_probe_hops", ())] == 2


@pytest.mark.parametrize(
    ("name", "success", "status", "reasons"),
    [
        ("conveyor", 1, 0, {"ok": 2}),
        ("index", 1, 0, {"ok": 2}),
        ("missing", 1, 0, {"ok": 1}),  # a clean 404 is what the set expects
    ],
)
def test_a_whole_set_is_one_round(
    exporter: ExporterProcess, name: str, success: int, status: int, reasons: dict[str, int]
) -> None:
    answer = probe(exporter, set=name)
    assert answer.status_code == 200, answer.text
    found = samples(answer.text)
    key = (("check", "pypi-files"), ("set", name))
    assert found.pop(("cutover_probe_success", ())) == success
    assert found.pop(("cutover_set_status", key)) == status
    assert found.pop(("cutover_set_failure_ratio", key)) == 1 - success
    counts = {
        dict(labels)["reason"]: value
        for (metric, labels), value in list(found.items())
        if metric == "cutover_set_probes"
    }
    assert {r: n for r, n in counts.items() if n} == reasons
    assert len(counts) == 20  # every reason and "other": bounded, zeros included


def test_a_set_that_fails_is_critical(exporter: ExporterProcess) -> None:
    answer = probe(exporter, set="via-legacy-flipped")
    assert answer.status_code == 200, answer.text
    found = samples(answer.text)
    key = (("check", "pypi-files"), ("set", "via-legacy-flipped"))
    assert found[("cutover_probe_success", ())] == 0
    assert found[("cutover_set_status", key)] == 2  # wrong_final_host: zero tolerance
    assert found[("cutover_set_failure_ratio", key)] == 1
    wrong = found[("cutover_set_probes", (*key[:1], ("reason", "wrong_final_host"), key[1]))]
    assert wrong > 0


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("target=ftp://files.pythonhosted.org/x&module=files-hit", 400,
         "target scheme 'ftp' refused: only http and https are probed"),
        ("target=javascript:alert(1)&module=files-hit", 400,
         "target scheme 'javascript' refused: only http and https are probed"),
        ("target=file:///etc/passwd&module=files-hit", 400,
         "target scheme 'file' refused: only http and https are probed"),
        ("target=/packages/x&module=files-hit", 400,
         "target scheme 'none' refused: only http and https are probed"),
        ("target=http://%5Bzz%5D/&module=files-hit", 400,
         "target is not a URL: Invalid IPv6 address: '[zz]'"),
        ("target=http://a%20b/&module=files-hit", 400,
         "target contains whitespace or control characters"),
        ("target=http://files.pythonhosted.org/a b&module=files-hit", 400,
         "target contains whitespace or control characters"),
        ("target=http:///x&module=files-hit", 400, "target has no host"),
        ("target=&module=files-hit", 400, "target is empty"),
        ("module=files-hit", 400, "target is empty"),
        (f"target={FILES}", 400, "module is missing: name a probe set or probe of the file"),
        (f"target={FILES}&module=nope", 400,
         "no module 'nope' in the checks file (modules: files-miss, files-hit,"),
        (f"target={FILES}&module=files-hit&sha256=abc", 400,
         "sha256 must be 64 hexadecimal digits"),
        (f"target={FILES}&module=files-hit&size=-1", 400, "size must be a whole number of bytes"),
        (f"target={FILES}&target={FILES}&module=files-hit", 400,
         "parameter 'target' given more than once"),
        (f"target={FILES}&module=files-hit&debug=true", 400,
         "unknown parameter 'debug' (known: target, module, set, sha256, size)"),
        ("set=nope", 400, "no probe set 'nope' in the checks file (sets: files-miss,"),
        (f"set=index&target={FILES}", 400,
         "set= stands alone (no target, module, sha256 or size)"),
    ],
)  # fmt: skip
def test_a_request_that_cannot_be_probed_is_refused(
    exporter: ExporterProcess, query: str, status: int, message: str
) -> None:
    answer = httpx.get(exporter.url("/probe?" + query), timeout=30)
    assert (answer.status_code, answer.text[: len(message)]) == (status, message)


@pytest.mark.parametrize(
    ("path", "status", "start"),
    [
        ("/-/healthy", 200, "OK\n"),
        ("/", 200, "cutover exporter: pypi-files ("),
        ("/nope", 404, "not found\n"),
    ],
)
def test_other_paths(exporter: ExporterProcess, path: str, status: int, start: str) -> None:
    answer = httpx.get(exporter.url(path), timeout=10)
    assert (answer.status_code, answer.text[: len(start)]) == (status, start)


def test_metrics_are_the_exporters_own(exporter: ExporterProcess) -> None:
    assert probe(exporter, target=FILES, module="files-hit").status_code == 200
    assert probe(exporter, target="ftp://x/", module="files-hit").status_code == 400
    found = samples(httpx.get(exporter.url("/metrics"), timeout=10).text)
    names = {name for name, _ in found}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names
    requests = {
        dict(labels)["code"]: v
        for (n, labels), v in found.items()
        if n == "cutover_exporter_requests_total" and dict(labels)["endpoint"] == "probe"
    }
    assert requests["200"] >= 1 and requests["400"] >= 1
    assert found[("cutover_exporter_probe_slots", ())] == 8  # the checks file's concurrency
    assert found[("cutover_exporter_probe_requests_in_flight", ())] == 0
    assert not [n for n in names if n.startswith("cutover_probe_")]


def test_descriptors_and_threads_stay_bounded_under_scrapes(exporter: ExporterProcess) -> None:
    """Per-request resources are not kept: 150 scrapes, each on a new connection (as after
    a Prometheus restart), add at most the fixed pools' threads (8 lanes, 8 probe workers)
    and their connections (one per host each), never one per scrape. The test fails when
    probes run on the server's per-connection threads (a connection pool each, kept)."""
    proc = Path(f"/proc/{exporter.process.pid}")
    pools, hosts = 2 * 8, 3  # lanes + the runner's workers; files, index and legacy hosts

    def counts() -> tuple[int, int]:
        return len(list((proc / "fd").iterdir())), len(list((proc / "task").iterdir()))

    host, port = exporter.address.split(":")
    query = urlencode({"target": FILES, "module": "files-hit"})

    def scrapes(n: int) -> None:
        for index in range(n):
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                connection.request("GET", f"/probe?{query}" if index % 2 else "/probe?set=index")
                assert connection.getresponse().status == 200
            finally:
                connection.close()

    scrapes(10)
    fds, threads = counts()
    scrapes(150)

    def bounded() -> tuple[int, int] | None:
        now = counts()
        return now if now[0] <= fds + pools * hosts and now[1] <= threads + pools else None

    wait_for(
        f"at most {fds} + {pools * hosts} descriptors, {threads} + {pools} threads", bounded, 10
    )


# --- bounds: timeouts and concurrency, against an origin that hangs ------------------------

SLOW = """  slow:
    defaults: {timeout: 60s}
    probes:
      - {url: http://a.test/hang, name: hang}
      - {url: http://a.test/hang, name: hang 2}
      - {url: http://a.test/hang, name: hang 3}
  broken:
    expand:
      - url: http://a.test/gone
"""


@pytest.fixture
def hanging(tmp_path: Path) -> Iterator[ExporterProcess]:
    with ps.running_server() as server:
        checks = tmp_path / "checks.yml"
        checks.write_text(server.checks_yaml(SLOW), encoding="utf-8")
        args = ("--checks", checks, "--env", "test", "--concurrency", "1", "--state-dir",
                tmp_path / "state")  # fmt: skip
        with running_exporter(*args) as running:
            yield running


@pytest.mark.slow
def test_the_scrape_timeout_caps_every_probe(hanging: ExporterProcess) -> None:
    """The probe's own timeout is 60 s: the scraper's 1.5 s (less 0.5 s) wins, and the
    answer is the probe's verdict (a timeout), not an error of the exporter."""
    answer = httpx.get(
        hanging.url("/probe"), params={"target": "http://a.test/hang", "module": "slow"},
        headers={"X-Prometheus-Scrape-Timeout-Seconds": "1.5"}, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    found = samples(answer.text)
    assert found[("cutover_probe_reason", (("reason", "timeout"),))] == 1
    assert found[("cutover_probe_success", ())] == 0


@pytest.mark.slow
def test_a_set_that_cannot_finish_in_time_is_504(hanging: ExporterProcess) -> None:
    """Three probes of 1 s each, one at a time, in a 1 s budget: no verdict (504), so
    Prometheus records no data rather than a wrong one."""
    answer = httpx.get(hanging.url("/probe"), params={"set": "slow"}, timeout=30,
                       headers={"X-Prometheus-Scrape-Timeout-Seconds": "1.5"})  # fmt: skip
    assert (answer.status_code, answer.text) == (504, "no answer within 1.0 s\n")


def test_a_set_whose_data_cannot_be_read_is_503(hanging: ExporterProcess) -> None:
    answer = httpx.get(hanging.url("/probe"), params={"set": "broken"}, timeout=30)
    assert answer.status_code == 503
    assert answer.text.startswith("set 'broken' could not run: sets.broken.expand[0]: ")


def test_the_timeout_option_caps_every_probe(tmp_path: Path) -> None:
    """No scrape timeout header: the probe's own 60 s is capped by ``--timeout 1``."""
    with ps.running_server() as server:
        checks = tmp_path / "checks.yml"
        checks.write_text(server.checks_yaml(SLOW), encoding="utf-8")
        args = ("--checks", checks, "--env", "test", "--timeout", "1", "--state-dir",
                tmp_path / "state")  # fmt: skip
        with running_exporter(*args) as running:
            answer = httpx.get(running.url("/probe"), params={"target": "http://a.test/hang",
                               "module": "hang"}, timeout=30)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert samples(answer.text)[("cutover_probe_reason", (("reason", "timeout"),))] == 1


@pytest.mark.slow
def test_no_more_probes_at_once_than_the_bound(hanging: ExporterProcess) -> None:
    target = {"target": "http://a.test/hang", "module": "slow"}
    first: list[httpx.Response] = []
    holder = threading.Thread(
        target=lambda: first.append(httpx.get(
            hanging.url("/probe"), params=target,
            headers={"X-Prometheus-Scrape-Timeout-Seconds": "4"}, timeout=30,
        ))
    )  # fmt: skip
    holder.start()
    try:

        def in_flight() -> bool:
            text = httpx.get(hanging.url("/metrics"), timeout=10).text
            return samples(text).get(("cutover_exporter_probe_requests_in_flight", ())) == 1

        wait_for("the first probe to hold the only slot", in_flight, 20)
        second = httpx.get(
            hanging.url("/probe"), params=target,
            headers={"X-Prometheus-Scrape-Timeout-Seconds": "1"}, timeout=30,
        )  # fmt: skip
        assert (second.status_code, second.text) == (503, "every probe slot (1) stayed busy\n")
    finally:
        holder.join(timeout=30)
    assert first[0].status_code == 200
    assert samples(first[0].text)[("cutover_probe_reason", (("reason", "timeout"),))] == 1


# --- bad input: exit 2, nothing served --------------------------------------------------------


def test_a_port_in_use_is_invalid_input(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cutover("exporter", "--checks", CHECKS, "--port", str(port),
                           "--state-dir", tmp_path, timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--checks", "nope.yml"), "nope.yml"),
        (("--checks", str(CHECKS), "--concurrency", "0"),
         "--concurrency must be between 1 and 256"),
        (("--checks", str(CHECKS), "--timeout", "0"),
         "--timeout must be more than 0 and at most 300 seconds"),
        (("--checks", str(CHECKS), "--env", "nowhere"), "nowhere"),
    ],
)  # fmt: skip
def test_bad_input_exits_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = run_cutover("exporter", *args, "--port", str(free_port()), "--state-dir", tmp_path,
                       timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_sigterm_stops_it_cleanly(lab: ServedLab) -> None:
    """``running_exporter`` checks, on leaving: exit 0, "stopped" said, port closed."""
    with running_exporter("--checks", CHECKS, "--env", "lab", "--state-dir",
                          lab.state_dir) as running:  # fmt: skip
        assert probe(running, set="index").status_code == 200
    assert running.process.returncode == 0
    assert running.log().splitlines()[-1] == "cutover exporter stopped"


# --- a real Prometheus scraping it, with the scrape config of docs/exporter.md -------------


def documented_scrape_configs(exporter: ExporterProcess) -> list[dict[str, Any]]:
    """docs/exporter.md's ``scrape_configs``, as written but for the addresses (the lab's
    files, the exporter on loopback) and the intervals (1 s)."""
    import re

    from ruamel.yaml import YAML

    doc = (ROOT / "docs" / "exporter.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "scrape_configs" in b]
    jobs: list[dict[str, Any]] = YAML(typ="safe").load(block)["scrape_configs"]
    for job in jobs:
        job.update(scrape_interval="1s", scrape_timeout="1s")
        (static,) = job["static_configs"]
        if job["job_name"] == "cutover-files":
            static["targets"] = [FILES, LEGACY]
            replaced = [r for r in job["relabel_configs"] if r.get("target_label") == "__address__"]
            replaced[0]["replacement"] = exporter.address
        else:
            static["targets"] = [exporter.address]
    return jobs


@pytest.mark.slow
def test_a_real_prometheus_scrapes_it_and_a_guard_query_answers(
    prometheus: Any, exporter: ExporterProcess
) -> None:
    jobs = documented_scrape_configs(exporter)
    (files,) = [job for job in jobs if "relabel_configs" in job]
    # the relabeling blackbox_exporter's users know, as the replay tests' jobs use it
    assert files == blackbox_job("cutover-files", exporter.address, [FILES, LEGACY],
                                 "files-hit", labels={"region": "eu-west"}) | {
        "scrape_interval": "1s", "scrape_timeout": "1s"}  # fmt: skip
    prom = prometheus(jobs, scrape_interval=1.0)
    scraped = prom.wait_target_up("cutover-files", count=2)
    assert sorted(t["labels"]["instance"] for t in scraped) == sorted([FILES, LEGACY])
    assert {t["scrapeUrl"].split("&target=")[0] for t in scraped} == {
        f"http://{exporter.address}/probe?module=files-hit"
    }
    prom.wait_target_up("cutover-sets")

    success = prom.wait_query('cutover_probe_success{job="cutover-files"}', lambda s: len(s) == 2)
    assert {s["metric"]["instance"]: value_of(s) for s in success} == {FILES: 1.0, LEGACY: 0.0}
    reasons = prom.query('cutover_probe_reason{job="cutover-files"} == 1')
    assert {s["metric"]["instance"]: s["metric"]["reason"] for s in reasons} == {
        FILES: "ok",
        LEGACY: "wrong_final_host",  # files-hit expects the files host; no flip yet
    }
    hosts = prom.query('cutover_probe_final_host{job="cutover-files"}')
    assert {s["metric"]["instance"]: s["metric"]["host"] for s in hosts} == {
        FILES: "files.pythonhosted.org",
        LEGACY: "pypi.python.org",
    }
    (conveyor,) = prom.wait_query('cutover_set_probes{job="cutover-sets",reason="ok"}')
    assert (conveyor["metric"]["set"], value_of(conveyor)) == ("conveyor", 2.0)

    by_job = "min by (job) (avg_over_time(cutover_probe_success[1m]))"
    answer = prom.wait_query(by_job, lambda s: len(s) == 2)
    assert {s["metric"]["job"]: value_of(s) for s in answer} == {
        "cutover-files": 0.0,
        "cutover-sets": 1.0,
    }
    guard = "min by (region) (avg_over_time(cutover_probe_success[1m]))"
    (region,) = prom.query(guard)
    assert (region["metric"], value_of(region)) == ({"region": "eu-west"}, 0.0)
