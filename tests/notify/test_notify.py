"""Notifications through apprise to a real webhook receiver on loopback: the exact
payloads, redaction, the failing chain, and notifiers that hang or refuse (the run is
neither stopped nor slowed beyond the bound)."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from cutover.errors import InputError, RunExit
from cutover.events import EventKind
from cutover.journal import Journal
from cutover.notify import dispatch
from cutover.notify.dispatch import Dispatcher
from cutover.notify.messages import Composer
from cutover.notify.registry import NOTIFIERS, DeliveryError, Notifier
from cutover.runbook.control_models import NotifyTarget
from cutover.testing.cli import run_cutover

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hooktoken-5f3a9c"  #: the secret part of the webhook URL


class Receiver:
    """An HTTP server on loopback that records every request it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        got = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                got.append({"path": self.path, "type": self.headers["Content-Type"], "body": body})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@contextlib.contextmanager
def hanging_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def refusing_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_OPENED: list[Journal] = []


@pytest.fixture(autouse=True)
def _journals_closed() -> Iterator[None]:
    """Every journal :func:`dispatcher` opened is closed after its test (Python 3.13
    warns about an unclosed SQLite connection when it is collected, in a later test)."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def dispatcher(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    report: str | None = None,
    **extra: Any,
) -> tuple[Dispatcher, Journal]:
    monkeypatch.setenv("HOOK_URL", url)
    journal = Journal(tmp_path / "journal.db")
    _OPENED.append(journal)
    journal.start_run("r1", "demo", "rb.yml", "lab", {})
    target = NotifyTarget.model_validate({"url": "env:HOOK_URL", **extra})
    compose = Composer("demo", "lab", "r1", report=report)
    return Dispatcher.configure([target], compose, journal), journal


def failures(journal: Journal) -> list[dict[str, Any]]:
    return [e.data for e in journal.events("r1") if e.kind == EventKind.NOTIFY_FAILED]


def test_a_json_webhook_gets_the_exact_payload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook/{TOKEN}"
    notify, journal = dispatcher(tmp_path, monkeypatch, url, link="https://reports.test/{run_id}")
    notify.offer(EventKind.RUN_STARTED, {"stage": None, "step": None, "stages": 3})
    notify.offer(EventKind.PROBE_ROUND, {"stage": "one", "failures": []})  # says nothing
    notify.close()
    assert [r["path"] for r in receiver.received] == [f"/hook/{TOKEN}"]
    assert receiver.received[0]["type"] == "application/json"
    assert receiver.json() == [
        {
            "version": "1.0",
            "title": "cutover: demo on lab: started",
            "message": "3 stages\nrun r1: cutover show r1\nreport: https://reports.test/r1",
            "attachments": [],
            "type": "info",
        }
    ]
    assert failures(journal) == []


def test_a_form_webhook_gets_the_same_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    notify, _ = dispatcher(tmp_path, monkeypatch, f"form://127.0.0.1:{receiver.port}/f")
    notify.offer(EventKind.RUN_COMPLETED, {"stage": None, "step": None})
    notify.close()
    assert receiver.received[0]["type"] == "application/x-www-form-urlencoded"
    fields = {k: v[0] for k, v in parse_qs(receiver.received[0]["body"]).items()}
    assert fields["title"] == "cutover: demo on lab: completed"
    assert fields["message"] == "every stage passed its guard\nrun r1: cutover show r1"


REPORT = "file:///srv/reports/r1.html"
#: What each event says before its link, with the run's report written at its end.
ENDINGS = [
    (EventKind.RUN_STARTED, {"stages": 3}, "3 stages", False),
    (EventKind.STAGE_PASSED, {"stage": "one", "reason": "fine"}, "fine", False),
    (EventKind.ROLLBACK_VERIFIED, {"reason": "stage 'one': loop"}, "stage 'one': loop", True),
    (
        EventKind.NEEDS_ATTENTION,
        {"message": "undo of one/a failed"},
        "undo of one/a failed\nfinish with: cutover rollback r1",
        True,
    ),
    (
        EventKind.GATE_HELD,
        {"stage": "two", "by": "ann@ops"},
        "held before stage two by ann@ops; applied steps stay in place"
        "\ncontinue with: cutover resume r1\nor roll back with: cutover rollback r1",
        True,
    ),
    (EventKind.RUN_COMPLETED, {}, "every stage passed its guard", True),
]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "data", "says", "linked"), ENDINGS)
def test_the_messages_that_end_a_run_link_to_its_report_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: Receiver,
    kind: EventKind,
    data: dict[str, Any],
    says: str,
    linked: bool,
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook"
    notify, _ = dispatcher(tmp_path, monkeypatch, url, report=REPORT)
    notify.offer(kind, data)
    notify.close()
    link = f"\nreport: {REPORT}" if linked else ""
    assert [m["message"] for m in receiver.json()] == [f"{says}\nrun r1: cutover show r1{link}"]


def test_a_targets_link_template_replaces_the_report_file_in_every_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook"
    notify, _ = dispatcher(tmp_path, monkeypatch, url, REPORT, link="https://r.test/{run_id}")
    notify.offer(EventKind.RUN_STARTED, {"stages": 3})
    notify.offer(EventKind.RUN_COMPLETED, {})
    notify.close()
    assert [m["message"].splitlines()[-1] for m in receiver.json()] == [
        "report: https://r.test/r1",
        "report: https://r.test/r1",
    ]


def test_events_go_only_where_they_are_subscribed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook"
    notify, _ = dispatcher(tmp_path, monkeypatch, url, events=["needs_attention"])
    notify.offer(EventKind.RUN_STARTED, {"stages": 1})
    notify.offer(EventKind.STAGE_PASSED, {"stage": "one", "reason": "fine"})
    notify.offer(EventKind.NEEDS_ATTENTION, {"message": "undo of one/a failed"})
    notify.close()
    assert [m["message"] for m in receiver.json()] == [
        "undo of one/a failed\nfinish with: cutover rollback r1\nrun r1: cutover show r1"
    ]


def test_secrets_are_redacted_from_every_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    from cutover.secrets import resolve

    monkeypatch.setenv("ORIGIN_TOKEN", "s3cr3t-origin-value")
    resolve("env:ORIGIN_TOKEN")
    notify, _ = dispatcher(tmp_path, monkeypatch, f"json://127.0.0.1:{receiver.port}/h")
    failure = {
        "url": "http://files.test/p?sig=s3cr3t-origin-value",
        "reason": "redirect_loop",
        "detail": "",
        "hops": [{"url": "http://files.test/p", "status": 302, "location": "http://a.test/"}],
    }
    notify.offer(EventKind.PROBE_ROUND, {"stage": "flip", "failures": [failure]})
    notify.offer(EventKind.STAGE_FAILED, {"stage": "flip", "reason": "s3cr3t-origin-value seen"})
    notify.close()
    [message] = receiver.json()
    assert "s3cr3t-origin-value" not in json.dumps(message)
    assert message["title"] == "cutover: demo on lab: stage flip failed"
    assert message["message"] == (
        "[REDACTED] seen\nfailing chain: redirect_loop: http://files.test/p?sig=[REDACTED]"
        " → 302 → http://a.test/\nrun r1: cutover show r1"
    )


@pytest.mark.parametrize("fault", ["hangs", "refuses"])
def test_a_failing_notifier_is_journaled_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    timeout = 1.0
    with hanging_server() as hanging:
        port = hanging if fault == "hangs" else refusing_port()
        url = f"json://127.0.0.1:{port}/hook/{TOKEN}"
        notify, journal = dispatcher(tmp_path, monkeypatch, url, timeout=timeout)
        started = time.monotonic()
        for _ in range(3):
            notify.offer(EventKind.RUN_COMPLETED, {})
        offered = time.monotonic() - started
        notify.close()
        closed = time.monotonic() - started
    found = failures(journal)
    assert [(f["target"], f["event"]) for f in found] == [("notify[0] (apprise)", "completed")] * 3
    assert all(TOKEN not in f["error"] for f in found)
    assert found[0]["error"] == (
        "A Connection error occurred sending JSON notification to 127.0.0.1."
    )
    assert closed <= dispatch.DRAIN_SECONDS + 1  # the end of a run waits at most the drain
    if fault == "hangs":  # three deliveries of `timeout` each happened behind the offers
        assert offered < closed / 5


class Stuck(Notifier):
    """A plugin notifier that never returns until released."""

    name = "test-stuck"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.got: list[str] = []

    def deliver(self, url: str, title: str, body: str, timeout: float) -> None:
        self.got.append(title)
        if not self.release.wait(30):
            raise DeliveryError("stuck")


def test_a_full_queue_drops_and_journals_instead_of_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = Stuck()
    NOTIFIERS.register(stuck, origin="the test")
    monkeypatch.setattr(dispatch, "QUEUE_SIZE", 2)
    notify, journal = dispatcher(tmp_path, monkeypatch, "anything://x", kind="test-stuck")
    for stage in ("a", "b", "c", "d", "e"):
        notify.offer(EventKind.STAGE_PASSED, {"stage": stage, "reason": "ok"})
    stuck.release.set()
    notify.close()
    dropped = failures(journal)
    assert [d["error"] for d in dropped] == ["2 messages waiting: dropped"] * len(dropped)
    assert len(stuck.got) + len(dropped) == 5
    assert len(dropped) >= 2  # one in delivery, two queued: the rest were dropped


def test_a_url_apprise_does_not_know_is_refused_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputError) as caught:
        dispatcher(tmp_path, monkeypatch, "nosuchscheme://hook")
    assert caught.value.message == (
        "notify[0] (apprise): the URL in env:HOOK_URL is not a URL apprise knows"
        " (see https://github.com/caronc/apprise/wiki)"
    )


@pytest.mark.slow
def test_a_failed_lab_run_notifies_its_chain_and_verified_rollback(
    tmp_path: Path, receiver: Receiver
) -> None:
    """End to end: the 2018 replay against the lab, with a JSON webhook in the runbook
    and another in the lab environment (rollbacks only)."""
    lab_channel = Receiver()
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "pypi-files.yml").write_bytes(
        (ROOT / "checks" / "pypi-files.yml").read_bytes()
    )
    text = (ROOT / "runbooks" / "pypi-2018-replay.yml").read_text("utf-8")
    runbook = tmp_path / "runbooks" / "replay.yml"
    text = text.replace(
        "    lab: {scenario: pypi-2018}\n",
        "    lab: {scenario: pypi-2018}\n"
        "    notify: [{url: env:LAB_HOOK, events: [rolled_back], timeout: 2s}]\n",
    )
    runbook.write_text(text + "\nnotify:\n  - url: env:HOOK_URL\n", "utf-8")
    url = f"json://127.0.0.1:{receiver.port}/hook/{TOKEN}"
    hooks = {"HOOK_URL": url, "LAB_HOOK": f"json://127.0.0.1:{lab_channel.port}/lab"}
    state = tmp_path / "state"
    try:
        proc = run_cutover("run", runbook, "--state", state, "--include-root", tmp_path, env=hooks)
    finally:
        lab_channel.close()
    assert [m["title"] for m in lab_channel.json()] == [
        "cutover: pypi-2018-replay on lab: rolled back, verified"
    ]
    assert proc.returncode == RunExit.ROLLED_BACK, proc.stdout + proc.stderr
    titles = [m["title"] for m in receiver.json()]
    assert titles == [
        "cutover: pypi-2018-replay on lab: started",
        *[t for t in titles if t.endswith(" passed")],
        "cutover: pypi-2018-replay on lab: stage flip-everything failed",
        "cutover: pypi-2018-replay on lab: rolled back, verified",
    ]
    failed = receiver.json()[-2]["message"].splitlines()
    assert failed[0] == "redirect_loop seen (zero tolerance)"
    assert failed[1].startswith("failing chain: redirect_loop: http://")
    assert " → 30" in failed[1]
    with contextlib.closing(sqlite3.connect(state / "journal.db")) as db:
        journal_text = "\n".join(r[0] for r in db.execute("SELECT data FROM events"))
    assert TOKEN not in journal_text + proc.stdout + proc.stderr


def test_a_notifier_hung_past_the_end_of_the_run_is_journaled_then_left_silent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The end of a run waits its grace, journals what was not delivered (the message in
    flight and those queued) as dropped, and the worker left behind never writes again:
    the journal may be closed by then (it was, under load: a late log line raised)."""
    import threading

    from cutover.notify import dispatch
    from cutover.notify.dispatch import Target
    from cutover.notify.registry import Notifier

    release, entered = threading.Event(), threading.Event()

    class Stuck(Notifier):
        name = "stuck"

        def deliver(self, url: str, title: str, body: str, timeout: float) -> None:
            entered.set()
            release.wait(10)  # bounded: the test releases it
            raise RuntimeError("late failure, after the run ended")

    monkeypatch.setattr(dispatch, "DRAIN_SECONDS", 0.2)
    journal = Journal(tmp_path / "journal.db")
    journal.start_run("r1", "demo", "rb.yml", "lab", {})
    config = NotifyTarget.model_validate({"url": "env:UNUSED", "timeout": 0.1})
    notify = Dispatcher(
        [Target("notify[0] (stuck)", config, Stuck(), "x")], Composer("demo", "lab", "r1"), journal
    )
    for _ in range(3):
        notify.offer(EventKind.RUN_COMPLETED, {})
    assert entered.wait(5)
    started = time.monotonic()
    notify.close()
    assert time.monotonic() - started < 2  # the grace (0.2 s), not the hung delivery
    dropped = "not delivered within 0.2s of the run's end: dropped"
    assert [(f["event"], f["error"]) for f in failures(journal)] == [("completed", dropped)] * 3
    journal.close()
    release.set()  # the worker's delivery now fails: it must neither journal nor log
    for thread in notify._threads:
        thread.join(5)
        assert not thread.is_alive()  # and it ended: the stop marker was put back


@pytest.mark.slow
def test_a_rolled_back_lab_run_writes_its_report_and_the_rollback_message_links_to_it(
    tmp_path: Path, receiver: Receiver
) -> None:
    """`cutover run --report DIR/{run_id}.json` on the 2018 replay: the exact document
    `cutover report` gives, at the exact path (its directory made), named by the run's
    final lines and journaled; the rolled-back message links to it, the others do not."""
    runbook = tmp_path / "replay.yml"
    text = (ROOT / "runbooks" / "pypi-2018-replay.yml").read_text("utf-8")
    text = text.replace("../checks/", f"{ROOT}/checks/")
    runbook.write_text(text + "\nnotify:\n  - url: env:HOOK_URL\n", "utf-8")
    state = tmp_path / "state"
    hooks = {"HOOK_URL": f"json://127.0.0.1:{receiver.port}/hook"}
    template = tmp_path / "reports" / "{run_id}.json"
    proc = run_cutover(
        "run", runbook, "--state", state, "--include-root", ROOT, "--report", template,
        env=hooks, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == RunExit.ROLLED_BACK, proc.stdout + proc.stderr
    run_id = proc.stdout.split("run ", 1)[1].split(":", 1)[0]
    written = tmp_path / "reports" / f"{run_id}.json"
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [written.name]
    assert f"\n  report:  {written}\n" in proc.stdout
    assert (written.stat().st_mode & 0o777) == 0o644
    document = json.loads(written.read_text("utf-8"))
    now = run_cutover("report", run_id, "--state", state, "--format", "json", cwd=ROOT)
    later = json.loads(now.stdout)
    assert later["events"][-1]["kind"] == "report_written"
    assert later["events"][-1]["data"] == {"path": str(written)}
    later["events"].pop()
    assert later["notices"].pop()["text"] == f"report written to {written}"
    assert document == later  # the run's report is what `cutover report` says of it
    assert document["run"]["status"] == "rolled_back" and document["run"]["exit_code"] == 1
    messages = receiver.json()
    assert messages[-1]["title"] == "cutover: pypi-2018-replay on lab: rolled back, verified"
    assert messages[-1]["message"].endswith(f"\nreport: {written.as_uri()}")
    assert not any("report:" in m["message"] for m in messages[:-1])
