"""``cutover report RUN``: the rolled-back 2018 replay (lab) as JSON, markdown and HTML.

The run is real (the lab's latent redirect loop, rolled back and verified); the report is
read back from its journal. The document's keys are the contract of ``docs/report.md``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from cutover.errors import RunExit
from cutover.testing import run_cutover

ROOT = Path(__file__).resolve().parents[2]
STEP = "legacy redirect 301 for every path"
CHANGE = "~ legacy dictionary redirects[mode]: 'off' → '301'"


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The 2018 replay, rolled back: its state directory and run id."""
    state = tmp_path_factory.mktemp("report") / "state"
    proc = run_cutover("run", "runbooks/pypi-2018-replay.yml", "--state-dir", state, cwd=ROOT)
    assert proc.returncode == RunExit.ROLLED_BACK, proc.stdout + proc.stderr
    run_id = re.search(r"^run (\S+): ", proc.stdout, re.M)
    assert run_id is not None
    return state, run_id.group(1)


def report(replay: tuple[Path, str], *args: str | Path) -> Any:
    state, run_id = replay
    return run_cutover("report", run_id, "--state-dir", state, *args, cwd=ROOT)


@pytest.fixture(scope="module")
def document(replay: tuple[Path, str]) -> dict[str, Any]:
    proc = report(replay, "--format", "json")
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_the_json_document_has_its_documented_keys(document: dict[str, Any]) -> None:
    assert sorted(document) == [
        "breaking_step", "decisions", "events", "failures", "guards", "notices",
        "offsets_from", "rollback", "rounds", "run", "schema", "stages", "still_applied",
    ]  # fmt: skip
    assert document["schema"] == "cutover.run-report/1"
    run = document["run"]
    assert (run["runbook"], run["environment"], run["status"], run["exit_code"]) == (
        "pypi-2018-replay", "lab", "rolled_back", 1,
    )  # fmt: skip
    assert run["exit_words"] == (
        "a guard failed; the changes were rolled back and the rollback was verified"
    )


def test_the_timeline_marks_the_breaking_step_and_the_rollback(document: dict[str, Any]) -> None:
    assert document["offsets_from"] == "breaking_step"
    assert document["breaking_step"]["name"] == STEP
    [stage] = document["stages"]
    assert (stage["name"], stage["result"]) == ("flip-everything", "failed")
    assert stage["reason"] == "redirect_loop seen (zero tolerance)"
    [step] = stage["steps"]
    assert [h["outcome"] for h in step["history"]] == ["intent", "applied", "rolled_back"]
    applied, rolled_back = step["history"][1]["offset_s"], step["history"][2]["offset_s"]
    assert applied == 0.0 and rolled_back > 0  # offsets count from the breaking step
    assert step["changes"] == [CHANGE]  # the diff the step applied
    rollback = document["rollback"]
    assert rollback["verified"] is True
    assert 0 < rollback["offset_s"] <= rollback["verified_offset_s"]
    assert rollback["reason"] == "stage 'flip-everything': redirect_loop seen (zero tolerance)"
    assert document["still_applied"] == []
    assert document["decisions"] == []  # no gate in this runbook


def test_every_failed_chain_is_there_hop_by_hop(document: dict[str, Any]) -> None:
    [broken, verify] = document["rounds"]
    assert (broken["failed"], verify["failed"]) == (len(document["failures"]), 0)
    assert broken["failure_rate"] == round(broken["failed"] / broken["probes"], 4)
    assert [g["verdict"] for g in document["guards"]] == ["fail", "pass"]
    for failure in document["failures"]:
        assert failure["reason"] == "redirect_loop"
        first, second = failure["hops"]
        assert sorted(first) == ["age", "location", "status", "url", "x_cache", "x_served_by"]
        assert (first["status"], second["status"]) == (301, 301)
        assert first["location"] == second["url"] and second["location"] == first["url"]


def test_markdown_for_a_change_ticket(replay: tuple[Path, str], document: dict[str, Any]) -> None:
    proc = report(replay, "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    _, run_id = replay
    assert lines[0] == f"## cutover run {run_id}: pypi-2018-replay on lab"
    assert lines[2] == (
        "**rolled_back (exit 1)**: a guard failed; the changes were rolled back and the"
        " rollback was verified"
    )
    assert f"- breaking step: flip-everything/{STEP} (times below are seconds from it)" in lines
    assert "- nothing is left applied" in lines
    diff = lines.index("```diff")
    assert lines[diff : diff + 3] == ["```diff", CHANGE, "```"]
    failed = len(document["failures"])
    assert f"### Failed request chains ({failed})" in lines
    assert f"- … and {failed - 5} more failed probes" in lines


class _Elements(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_html_file_is_self_contained(replay: tuple[Path, str], tmp_path: Path) -> None:
    out = tmp_path / "run.html"
    proc = report(replay, "-o", out)
    _, run_id = replay
    assert (proc.returncode, proc.stdout) == (0, f"wrote {out} (html, run {run_id})\n")
    parser = _Elements()
    parser.feed(out.read_text(encoding="utf-8"))
    tags = [tag for tag, _ in parser.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags
    fetched = [(t, a) for t, a in parser.tags for k in ("src", "href") if a.get(k)]
    assert fetched == []  # nothing is fetched when the file is opened
    assert tags.count("svg") == 2  # the failure-rate and the guard-evidence charts
    policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    assert ("meta", {"http-equiv": "Content-Security-Policy", "content": policy}) in parser.tags
    markers = [a.get("data-marker") for _, a in parser.tags if a.get("data-marker")]
    assert {"applied", "rolled_back", "breaking", "rollback_started", "rollback_verified"} <= set(
        markers
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pdf"], "error: --format 'pdf': use one of html, json, markdown\n"),
        (["-o", "/nonexistent-dir/run.html"], "error: cannot write /nonexistent-dir/run.html"),
    ],
)
def test_bad_report_options_exit_2(replay: tuple[Path, str], args: list[str], message: str) -> None:
    proc = report(replay, *args)
    assert proc.returncode == RunExit.INVALID
    assert proc.stderr.startswith(message) and "Traceback" not in proc.stderr


def test_an_unknown_run_exits_2(tmp_path: Path) -> None:
    proc = run_cutover("report", "nope", "--state-dir", tmp_path, cwd=ROOT)
    assert proc.returncode == RunExit.INVALID
    assert proc.stderr.startswith(f"error: no journal in {tmp_path}")


# --- in a real browser: the distribution's headless Chromium -------------------------------

#: Where the screenshot is kept (gitignored); ``$CUTOVER_TEST_ARTIFACTS`` moves it.
ARTIFACTS = Path(os.environ.get("CUTOVER_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


def chromium() -> str:
    """The browser; skipped when absent, unless ``CUTOVER_REQUIRE_CHROMIUM=1`` (``.ci/run``)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CUTOVER_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium is required here (CUTOVER_REQUIRE_CHROMIUM=1): not on PATH")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return found


def browse(browser: str, profile: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=90, check=True,
    )  # fmt: skip


def png_size_and_colours(data: bytes) -> tuple[int, int, int]:
    """A PNG's width, height, and how many distinct byte values its pixels hold."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    at, idat = 8, b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"IDAT":
            idat += data[at + 8 : at + 8 + length]
        at += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_the_report_in_headless_chromium(replay: tuple[Path, str], tmp_path: Path) -> None:
    """Rendered by a real browser: the loop chain is drawn hop by hop, the rollback marker
    is there, and the screenshot is kept in test-artifacts/ for a human to look at."""
    browser = chromium()
    page = tmp_path / "run.html"
    assert report(replay, "-o", page).returncode == 0
    dom = browse(browser, tmp_path / "profile", page, "--dump-dom").stdout
    parser = _Elements()
    parser.feed(dom)
    attrs = [a for _, a in parser.tags]
    chains = [a for t, a in parser.tags if t == "ol" and a.get("class") == "chain"]
    assert chains and all(a.get("data-reason") == "redirect_loop" for a in chains)
    assert sum(1 for a in attrs if a.get("class") == "hop") == 2 * len(chains)  # both hops
    assert sum(1 for a in attrs if a.get("data-loop") == "true") == len(chains)
    assert [a.get("data-status") for a in attrs if a.get("class") == "hop"][:2] == ["301", "301"]
    assert "↺ loops back" in dom and "Location: " in dom and "X-Cache: HIT, MISS" in dom
    assert {"rollback_started", "rolled_back", "rollback_verified"} <= {
        a.get("data-marker") for a in attrs
    }
    assert any(a.get("id") == "exit-status" and a.get("data-exit-code") == "1" for a in attrs)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report-2018-replay.png"
    shot.unlink(missing_ok=True)
    browse(browser, tmp_path / "profile", page, f"--screenshot={shot}", "--window-size=1200,1800")
    width, height, colours = png_size_and_colours(shot.read_bytes())
    assert (width, height) == (1200, 1800)
    assert colours > 50  # drawn: text, charts and markers, not a blank page


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("r.json", "json"),
        ("r.JSON", "json"),
        ("r.md", "markdown"),
        ("r.markdown", "markdown"),
        ("r.html", "html"),
        ("r.htm", "html"),
        ("report", "html"),
    ],
)
def test_a_report_files_format_comes_from_its_suffix(name: str, fmt: str) -> None:
    from cutover.report.run_file import format_of

    assert format_of(Path(name)) == fmt


@pytest.mark.slow
@pytest.mark.parametrize(
    ("blocked", "error"),
    [
        ("dir-is-a-file/{run_id}.md", "File exists: {tmp}/dir-is-a-file"),
        ("a-directory", "Is a directory"),
    ],
)
def test_a_report_that_cannot_be_written_never_changes_the_exit_code(
    tmp_path: Path, blocked: str, error: str
) -> None:
    """`--report` where no file can be written: the run still exits 1 (rolled back,
    verified), the failure is warned and journaled, the final lines offer `cutover report`."""
    (tmp_path / "dir-is-a-file").write_text("", "utf-8")
    (tmp_path / "a-directory").mkdir()
    state = tmp_path / "state"
    proc = run_cutover(
        "run", "runbooks/pypi-2018-replay.yml", "--state", state,
        "--report", tmp_path / blocked, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == RunExit.ROLLED_BACK, proc.stdout + proc.stderr
    run_id = proc.stdout.split("run ", 1)[1].split(":", 1)[0]
    path = tmp_path / blocked.replace("{run_id}", run_id)
    error = error.format(tmp=tmp_path)
    assert proc.stderr == f"the run's report was not written to {path}: {error}\n"
    assert f"\n  report:  cutover report {run_id} -o run.html\n" in proc.stdout
    shown = run_cutover("report", run_id, "--state", state, "--format", "json", cwd=ROOT)
    last = json.loads(shown.stdout)["events"][-1]
    assert (last["kind"], last["data"]) == ("report_failed", {"path": str(path), "error": error})


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        (0, "completed", "completed: every stage passed its guard"),
        (
            0,
            "rolled_back",
            "rolled back on request (`cutover rollback`); the rollback was verified",
        ),
        (
            1,
            "rolled_back",
            "a guard failed; the changes were rolled back and the rollback was verified",
        ),
        (1, "failed", "the run failed before any step was applied: nothing was changed"),
        (3, "needs_attention", "a human must act: the rollback failed or could not be verified"),
        (3, "held", "a human must act: held at a gate; every applied step stays in place"),
        (4, "stopped", "stopped by the operator after a clean rollback"),
        (None, "running", "not finished: the run has no exit status yet"),
    ],
)
def test_the_exit_status_in_words_tells_apart_endings_sharing_a_code(
    code: int | None, status: str, words: str
) -> None:
    from cutover.report.run_document import exit_words

    assert exit_words(code, status) == words
