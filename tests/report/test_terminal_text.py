"""The terminal's text: one failure list (live view, plain lines and ``show``), elided URLs,
no Python reprs in ``show``, offsets from the breaking step, colour and NO_COLOR, and the
actions' log lines kept out of the view."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from cutover import log
from cutover.events import EventKind
from cutover.journal import EventRow, RunRow
from cutover.report import run_html, run_markdown
from cutover.report.failure_text import chain_lines, elide_url, failure_lines
from cutover.report.journal_text import show_lines
from cutover.report.run_document import breaking_event, build
from cutover.report.run_view import LineView
from cutover.terminal import GREEN, RED, RESET, wants_colour

LONG = "http://files.pythonhosted.org/packages/2f/e7/037eaafe3ddad379904bdf78376ffc3705b5e5/pkg-1.0.whl"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://a.test/x", "http://a.test/x"),
        ("http://a.test/x?cutover=0123456789abcdef0123456789abcdef", "http://a.test/x"),
        ("http://a.test/x?a=1&cutover=0123456789abcdef0123456789abcdef", "http://a.test/x?a=1"),
        (LONG, "http://files.pythonhosted.org/packages/…/pkg-1.0.whl"),
        (LONG + "?cutover=0123456789abcdef0123456789abcdef", "http://files.pythonhosted.org/packages/…/pkg-1.0.whl"),
        ("http://h.test/" + "d/" * 40 + "x" * 100, "http://h.test/…/" + "x" * 36 + "…" + "x" * 36),
    ],
)  # fmt: skip
def test_long_urls_lose_their_middle(url: str, shown: str) -> None:
    assert elide_url(url) == shown


def hop(url: str, status: int | None = 301) -> dict[str, Any]:
    return {"url": url, "status": status}


def test_a_short_chain_is_one_line_a_long_one_one_hop_a_line() -> None:
    assert chain_lines([hop("http://a.test/x"), hop("http://b.test/x", 200)]) == [
        "301 http://a.test/x → 200 http://b.test/x"
    ]
    assert chain_lines([hop(LONG), hop(LONG.replace("files.", "")), hop(LONG, None)]) == [
        "301 http://files.pythonhosted.org/packages/…/pkg-1.0.whl",
        "→ 301 http://pythonhosted.org/packages/…/pkg-1.0.whl",
        "→ no answer http://files.pythonhosted.org/packages/…/pkg-1.0.whl",
    ]


def failure(n: int) -> dict[str, Any]:
    url = f"http://a.test/f{n}"
    return {
        "set": "files", "url": url, "reason": "redirect_loop",
        "detail": f"loop of 2 hop(s): {url} → http://b.test/f{n} → {url}",
        "hops": [hop(url), hop(f"http://b.test/f{n}")],
    }  # fmt: skip


@pytest.mark.parametrize(("journaled", "failed", "more"), [(3, 3, None), (12, 12, 7), (5, 40, 35)])
def test_one_failure_list_says_how_many_more(journaled: int, failed: int, more: int | None) -> None:
    lines = list(failure_lines([failure(n) for n in range(journaled)], failed, indent=""))
    shown = min(journaled, 5)
    assert lines[:3] == [
        "✗ [files] http://a.test/f0: redirect_loop (loop of 2 hop(s): a.test → b.test → a.test)",
        "  301 http://a.test/f0 → 301 http://b.test/f0",
        "✗ [files] http://a.test/f1: redirect_loop (loop of 2 hop(s): a.test → b.test → a.test)",
    ]
    assert len(lines) == 2 * shown + (more is not None)
    if more is not None:
        assert lines[-1] == f"… and {more} more failed probes in this round"


def test_the_plain_lines_show_the_same_list() -> None:
    out = io.StringIO()
    round_ = {"round": 1, "probes": 50, "failed": 12, "reasons": {"ok": 38, "redirect_loop": 12},
              "failures": [failure(n) for n in range(12)]}  # fmt: skip
    LineView(out)(EventKind.PROBE_ROUND, round_)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("  probes round 1: 50 probes, 12 failed (redirect_loop ×12)")
    assert lines[1:] == list(failure_lines(round_["failures"], 12))
    assert lines[-1] == "      … and 7 more failed probes in this round"


def test_colour_marks_failure_red_and_success_green() -> None:
    out = io.StringIO()
    view = LineView(out, colour=True)
    view(EventKind.STAGE_FAILED, {"reason": "redirect_loop seen"})
    view(EventKind.GUARD, {"verdict": "pass", "reason": "ok"})
    view(EventKind.APPLIED, {"name": "flip"})
    red, green, plain = out.getvalue().splitlines()
    assert red.startswith(RED) and red.endswith(f"  STAGE FAILED: redirect_loop seen{RESET}")
    assert green.startswith(GREEN) and green.endswith(f"  guard: PASS — ok{RESET}")
    assert "\x1b" not in plain


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "env", "expected"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),  # no-color.org: set and not empty
        (False, {"FORCE_COLOR": "1"}, True),
        (True, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
    ],
)
def test_colour_on_a_terminal_unless_no_color(
    monkeypatch: pytest.MonkeyPatch, tty: bool, env: dict[str, str], expected: bool
) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert wants_colour(_Stream(tty)) is expected


# --- show: a run's timeline in words ------------------------------------------------------

AT = "2026-12-02T10:00:0{}.000+00:00"


def row() -> RunRow:
    return RunRow("r1", "demo", "/x/demo.yml", "lab", "rolled_back", 1, AT.format(0),
                  AT.format(9), "host", 42, "ann", {})  # fmt: skip


def events() -> list[EventRow]:
    items: list[tuple[str, str | None, int | None, dict[str, Any]]] = [
        (EventKind.RUN_STARTED, None, None, {"runbook": "demo", "stages": 1}),
        (EventKind.STAGE_STARTED, "flip", None, {"gate": None, "index": 0}),
        (EventKind.INTENT, "flip", 0, {"name": "redirect", "backend": "cdn",
         "prior": {"items": {"mode": "off"}}, "changes": ["~ d[mode]: 'off' → '301'"]}),
        (EventKind.APPLIED, "flip", 0, {"name": "redirect", "record": {"id": "x"}}),
        (EventKind.PROBE_ROUND, "flip", None, {"round": 1, "probes": 9, "failed": 1,
         "reasons": {"ok": 8, "redirect_loop": 1}, "failures": [failure(0)]}),
        (EventKind.GUARD, "flip", None, {"verdict": "fail", "reason": "loop seen"}),
        (EventKind.ROLLBACK_STARTED, None, None, {"reason": "stage 'flip': loop seen"}),
        (EventKind.ROLLED_BACK, "flip", 0, {"name": "redirect"}),
        (EventKind.ROLLBACK_VERIFIED, None, None, {"reason": "stage 'flip': loop seen"}),
    ]  # fmt: skip
    return [
        EventRow(n, "r1", AT.format(n), kind, stage, step, data)
        for n, (kind, stage, step, data) in enumerate(items)
    ]


def test_show_speaks_words_not_python_values() -> None:
    lines = list(show_lines(row(), events()))
    assert lines == [
        "run r1: demo on lab — rolled_back, exit 1",
        "  started 2026-12-02T10:00:00.000+00:00 by ann@host (pid 42)",
        "  ended   2026-12-02T10:00:09.000+00:00",
        "  breaking step: flip/redirect (offsets from it)",
        "",
        "timeline:",
        "  10:00:00.000   -3.00s run started: runbook: demo; stages: 1",
        "  10:00:01.000   -2.00s flip stage started: index: 0",
        "  10:00:02.000   -1.00s flip[0] intent: redirect",
        "      ~ d[mode]: 'off' → '301'",
        "  10:00:03.000   +0.00s flip[0] applied: redirect",
        "  10:00:04.000   +1.00s flip probes round 1: 9 probes, 1 failed (redirect_loop ×1)",
        "      ✗ [files] http://a.test/f0: redirect_loop"
        " (loop of 2 hop(s): a.test → b.test → a.test)",
        "        301 http://a.test/f0 → 301 http://b.test/f0",
        "  10:00:05.000   +2.00s flip guard FAIL: loop seen",
        "  10:00:06.000   +3.00s rollback started: reason: stage 'flip': loop seen",
        "  10:00:07.000   +4.00s flip[0] rolled back: name: redirect",
        "  10:00:08.000   +5.00s rollback verified: reason: stage 'flip': loop seen",
        "",
        "nothing is left applied",
    ]
    text = "\n".join(lines)
    for repr_ in ("None", "{'", "=", "[]", "True", "False"):
        assert repr_ not in text


@pytest.mark.parametrize(
    ("kinds", "breaking"),
    [
        ([], None),
        ([EventKind.APPLIED], None),  # nothing failed
        ([EventKind.APPLIED, EventKind.GUARD], 0),
        ([EventKind.APPLIED, EventKind.APPLIED, EventKind.STAGE_FAILED], 1),
        ([EventKind.APPLIED, EventKind.APPLY_FAILED, EventKind.APPLIED], 0),
        ([EventKind.APPLY_FAILED], None),  # broke before anything was applied
    ],
)
def test_the_breaking_step_is_the_last_applied_before_the_first_failure(
    kinds: list[str], breaking: int | None
) -> None:
    rows = [
        EventRow(n, "r", AT.format(n), k, "s", n, {"verdict": "fail"}) for n, k in enumerate(kinds)
    ]
    found = breaking_event(rows)
    assert (None if found is None else found.id) == breaking


def test_any_approval_event_is_in_the_report_with_who() -> None:
    """Decisions are matched by kind name: those other modules journal later show too."""
    extra = [
        EventRow(20, "r1", AT.format(9), "gate_approved", "flip", None, {"by": "ann@host"}),
        EventRow(21, "r1", AT.format(9), "approved", "flip", None, {"user": "bob@h", "n": 2}),
        EventRow(22, "r1", AT.format(9), "held", "flip", None, {}),
        EventRow(23, "r1", AT.format(9), "probe_round", "flip", None, {}),
    ]
    decisions = build(row(), [*events(), *extra])["decisions"]
    assert [(d["kind"], d["by"], d["data"]) for d in decisions] == [
        ("gate_approved", "ann@host", {}),
        ("approved", "bob@h", {"n": 2}),
        ("held", None, {}),
    ]


#: The events about people, notifications and report files, as journaled, and as
#: `show` and the report say them.
PEOPLE = [
    (EventKind.GATE_WAITING, {"waiting_for": "approvals", "approvers": 2,
     "command": "cutover approve r1", "message": "gate: waiting for 2 approvals"},
     "gate: waiting for 2 approvals (`cutover approve r1`)"),
    (EventKind.GATE_WAITING, {"waiting_for": "terminal", "message": "gate: asking"},
     "gate: asking at the operator's terminal"),
    (EventKind.CONTROL_REQUESTED, {"verb": "approve", "by": "ann@ops", "stage": "flip"},
     "`cutover approve` requested by ann@ops"),
    (EventKind.CONTROL_REQUESTED, {"verb": "abort", "by": "bob@ops", "stage": None},
     "`cutover abort` requested by bob@ops"),
    (EventKind.GATE_APPROVED, {"by": ["ann@ops", "bob@ops"]},
     "gate approved by ann@ops, bob@ops"),
    (EventKind.GATE_DECLINED, {"by": "mal@ops", "then": "hold", "how": "cutover decline"},
     "gate declined by mal@ops with `cutover decline`: hold the applied steps"),
    (EventKind.GATE_DECLINED, {"by": "olivia@ops", "then": "rollback"},
     "gate declined by olivia@ops: roll back"),
    (EventKind.GATE_HELD, {"by": "mal@ops", "message": "HELD: applied steps stay"},
     "HELD by mal@ops: every applied step stays in place"),
    (EventKind.PAUSE_STARTED, {"by": "runbook", "seconds": 600.0, "message": "pausing 600s"},
     "pausing 600s (the stage's `pause:`)"),
    (EventKind.PAUSE_STARTED, {"by": "carol@ops", "seconds": None, "message": "paused"},
     "paused by carol@ops (`cutover pause`) until `cutover promote`"),
    (EventKind.PAUSE_ENDED, {"how": "promoted", "by": "dave@ops", "message": "pause ended"},
     "pause ended: promoted by dave@ops"),
    (EventKind.PAUSE_ENDED, {"how": "elapsed", "message": "pause ended"},
     "pause ended: its time was up"),
    (EventKind.NOTIFY_FAILED, {"target": "notify[0] (apprise)", "event": "run_started",
     "error": "connection refused"},
     "notification run_started not delivered to notify[0] (apprise): connection refused"),
    (EventKind.REPORT_WRITTEN, {"path": "/r/r1.html"}, "report written to /r/r1.html"),
    (EventKind.REPORT_FAILED, {"path": "/r/r1.html", "error": "Not a directory"},
     "report not written to /r/r1.html: Not a directory"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "data", "said"), PEOPLE)
def test_show_says_the_people_events_in_words(
    kind: EventKind, data: dict[str, Any], said: str
) -> None:
    event = EventRow(30, "r1", AT.format(9), kind, "flip", None, data)
    lines = list(show_lines(row(), [*events(), event]))
    assert lines[-3] == f"  10:00:09.000   +6.00s flip {said}"


def test_the_report_lists_who_decided_and_what_it_told_people_in_the_same_words() -> None:
    extra = [
        EventRow(30 + n, "r1", AT.format(9), kind, "flip", None, data)
        for n, (kind, data, _) in enumerate(PEOPLE)
    ]
    document = build(row(), [*events(), *extra])
    notices = (EventKind.NOTIFY_FAILED, EventKind.REPORT_WRITTEN, EventKind.REPORT_FAILED)
    assert [(d["kind"], d["text"]) for d in document["decisions"]] == [
        (kind, said) for kind, _, said in PEOPLE if kind not in notices
    ]
    assert [(n["kind"], n["text"]) for n in document["notices"]] == [
        (kind, said) for kind, _, said in PEOPLE if kind in notices
    ]
    control = [d for d in document["decisions"] if d["kind"] == EventKind.CONTROL_REQUESTED]
    assert [(d["by"], d["data"]["verb"]) for d in control] == [
        ("ann@ops", "approve"),
        ("bob@ops", "abort"),
    ]
    markdown = run_markdown.render(document).splitlines()
    assert "| +6.00 s | `cutover abort` requested by bob@ops | flip | bob@ops |" in markdown
    start = markdown.index("### Notifications and report files")
    assert markdown[start + 2 : start + 5] == [
        "- +6.00 s notification run_started not delivered to notify[0] (apprise):"
        " connection refused",
        "- +6.00 s report written to /r/r1.html",
        "- +6.00 s report not written to /r/r1.html: Not a directory",
    ]
    page = run_html.render(document)
    assert (
        '<li class="notice" data-kind="report_failed"><span class="off">+6.00 s</span>'
        " report not written to /r/r1.html: Not a directory</li>"
    ) in page
    assert "<td>HELD by mal@ops: every applied step stays in place</td>" in page


# --- the actions' log lines: the run's log file, stderr only with -v --------------------


@pytest.mark.parametrize("verbose", [False, True])
def test_log_lines_go_to_the_run_log_and_to_stderr_only_when_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verbose: bool
) -> None:
    path = tmp_path / "logs" / "r1.log"
    try:
        log.configure("console", "info", verbose)
        log.divert_to(path)
        log.get_logger("cutover.actions.test").info("file written", step="s")
    finally:
        log.divert_to(None)
        log.configure()
    assert "file written" in path.read_text(encoding="utf-8")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert ("file written" in capsys.readouterr().err) is verbose


def test_json_log_lines_stay_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        log.configure("json", "info")
        log.divert_to(tmp_path / "r1.log")
        log.get_logger("cutover.actions.test").info("file written")
    finally:
        log.divert_to(None)
        log.configure()
    line = json.loads(capsys.readouterr().err)
    assert line["event"] == "file written" and line["timestamp"]
    assert not (tmp_path / "r1.log").exists()


# --- the HTML page from a hostile journal, and the charts' scale --------------------------

HOSTILE = "<script>alert('x')</script>&\"'"


def test_every_journal_text_is_escaped_in_the_html_page() -> None:
    """Stage, step, reason, URL, header and approver: none reaches the page as markup."""
    from cutover.report import run_html

    evil = [
        EventRow(n, "r1", AT.format(n), kind, HOSTILE, step, data)
        for n, (kind, step, data) in enumerate(
            [
                (EventKind.STAGE_STARTED, None, {"index": 0}),
                (EventKind.INTENT, 0, {"name": HOSTILE, "changes": [HOSTILE]}),
                (EventKind.APPLIED, 0, {"name": HOSTILE}),
                (EventKind.GATE_APPROVED, None, {"by": HOSTILE, "note": HOSTILE}),
                (EventKind.PROBE_ROUND, None, {"round": 1, "probes": 1, "failed": 1,
                 "failures": [{"set": HOSTILE, "url": HOSTILE, "reason": HOSTILE,
                               "detail": HOSTILE, "hops": [{"url": HOSTILE, "status": 301,
                               "location": HOSTILE, "x_cache": HOSTILE}]}]}),
                (EventKind.GUARD, None, {"verdict": HOSTILE, "reason": HOSTILE}),
                (EventKind.STAGE_FAILED, None, {"reason": HOSTILE}),
            ]
        )
    ]  # fmt: skip
    page = run_html.render(build(row(), evil))
    assert "<script" not in page
    assert "&lt;script&gt;alert(" in page


@pytest.mark.parametrize(
    ("rates", "top"),
    [([0.0], "1 %"), ([0.007], "1 %"), ([0.011], "2 %"), ([0.3, 0.1], "50 %"), ([1.0], "100 %")],
)
def test_the_failure_rate_axis_fits_the_rates(rates: list[float], top: str) -> None:
    """A 0.7 % failure rate does not look like zero on a 0-100 % axis."""
    from cutover.report.charts import failure_rate

    rounds = [{"offset_s": float(n), "failure_rate": r, "stage": "s", "round": n, "failed": 1,
               "probes": 100} for n, r in enumerate(rates)]  # fmt: skip
    svg = failure_rate(rounds, [])
    assert f'text-anchor="end">{top}</text>' in svg
    assert svg.startswith("<svg") and svg.endswith("</svg>")
