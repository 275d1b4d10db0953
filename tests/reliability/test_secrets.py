"""Secrets: a canary token never reaches an output, a log, the journal or a report.

The canary (``CANARY-<random hex>``) is the value of ``$CANARY_TOKEN``, the secret of an
``http`` and a ``fastly`` backend that point at a loopback server doing its worst: it
echoes the token back in the value it answers (the prior state a step journals), in its
refusals (error messages) and in a redirect's Location (a probe failure). A shell step
prints the environment's token on stdout and stderr, its undo too, before any backend
has used the secret. The canary is also passed as a ``--var``. Every channel is then
grepped: stdout and stderr of ``run`` (console and ``--log-format json``), ``plan``
(live and ``--offline``), ``show``, ``status``, ``history``; and every byte under the
state directory (``journal.db`` and its ``-wal``).

``cutover check`` has no secret of its own: its only secret is the lab's token, which it
exports and redacts. So the same loopback server echoes the lab token in a redirect
Location, and every report format (table, json, junit, prometheus, nagios; stdout and
``--output``) is grepped for it.

The spellings table (:mod:`secret_spellings`) sends each transformed spelling of a second
token (upper, lower and mixed case, URL- and form-encoded, base64 standard and URL-safe,
base64 of ``user:key`` at each alignment, split by LF or CRLF) and a password in a URL's
userinfo through the same channels: run output and JSON logs, ``show``, the journal's
bytes and a check report. The straddle tests put a token across the cut of every place
that shortens a text for a message.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from cutover import secrets as cutover_secrets
from cutover.actions.control import MESSAGE_CHARS, ControlPlane
from cutover.actions.http import SHOW_CHARS, _show
from cutover.actions.shell import TAIL_CHARS, tail
from cutover.errors import RejectedActionError, RunExit
from cutover.lab.scenarios import lab_token
from cutover.testing import cli_env, run_cutover, run_id_of, server_url, serving

from .secret_spellings import NOT_IN_HEADERS, SPELLINGS, pieces

CANARY = f"CANARY-{secrets.token_hex(16)}"
LAB_TOKEN = lab_token("pypi-2018")
#: characters URL-encoding changes, ASCII only (it travels in a header)
SPELL_TOKEN = f"Sk/{secrets.token_hex(12)}+{secrets.token_hex(12)}=&"
REDACTED = "[REDACTED]"
PY = sys.executable


class _Leaky(BaseHTTPRequestHandler):
    """A control plane and a download host that echo whatever credential they get."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        if self.path.startswith("/spell/"):
            self._spelled("GET")
        elif self.path.startswith("/api/"):
            # the prior state a step journals holds the credential
            self._json(200, {"mode": "old", "seen": auth})
        elif self.path.startswith("/fastly/"):
            key = self.headers.get("Fastly-Key", "")
            self._json(401, {"msg": "Provided credentials are missing or invalid", "detail": key})
        elif self.path.startswith("/probe-lab"):
            self._redirect(f"ftp://files.example/{LAB_TOKEN}/x.whl")
        elif self.path.startswith("/probe"):
            self._redirect(f"javascript:alert('{CANARY}')")
        else:
            self._json(404, {"msg": "no"})

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/spell/"):
            self._spelled("PUT")
            return
        self._json(403, {"msg": f"token {self.headers.get('Authorization', '')} may not write"})

    def _spelled(self, method: str) -> None:
        """``/spell/NAME/api/…`` (the runbook's token, in spelling NAME: in the prior value
        and in a refusal) and ``/spell/NAME/probe`` (the lab token, in a redirect)."""
        name, _, rest = self.path.removeprefix("/spell/").partition("/")
        if rest.startswith("probe"):
            self._redirect(f"ftp://files.example/{SPELLINGS[name](LAB_TOKEN)}/x.whl")
        elif method == "GET":
            self._json(200, {"mode": "old", "seen": SPELLINGS[name](SPELL_TOKEN)})
        else:
            self._json(403, {"msg": f"token {SPELLINGS[name](SPELL_TOKEN)} may not write"})


@pytest.fixture(scope="module")
def leaky() -> Iterator[str]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Leaky)) as server:
        yield server_url(server)


PRINT_TOKEN = (
    "import os, sys; t = os.environ['CANARY_TOKEN']; "
    "print('token', t, 'arg', sys.argv[1]); print('token', t, file=sys.stderr); "
    "sys.exit(int(sys.argv[2]))"
)


def runbook(base: str) -> str:
    return f"""
version: 1
name: canary
vars: {{echo: "", undo_exit: 0, http_on: true, fastly_on: true}}
environments:
  test: {{description: loopback only}}
backends:
  sh: {{kind: shell, timeout: 20s}}
  api: {{kind: http, base_url: "{base}/api", token: "env:CANARY_TOKEN", retries: 0}}
  cdn:
    kind: fastly
    api_url: "{base}/fastly"
    token: "env:CANARY_TOKEN"
    services: {{legacy: SERVICE}}
    retries: 0
probes:
  echo:
    probes:
      - url: "{base}/probe"
        timeout: 5s
guard: {{interval: 0}}  # rounds back to back: the loopback answers at once
stages:
  - name: shell-first
    steps:
      - name: a command that prints the token
        backend: sh
        command: ["{PY}", "-c", "{PRINT_TOKEN}", "{{{{ echo }}}}", "0"]
        undo: ["{PY}", "-c", "{PRINT_TOKEN}", "{{{{ echo }}}}", "{{{{ undo_exit }}}}"]
  - name: http
    enabled: "{{{{ http_on }}}}"
    steps:
      - {{name: put a setting, backend: api, path: /setting, body: {{mode: new}}}}
  - name: fastly
    enabled: "{{{{ fastly_on }}}}"
    steps:
      - name: a dictionary item
        backend: cdn
        service: legacy
        dictionary: redirects
        set: {{mode: "302"}}
  - name: probe
    probes: [echo]
rollback: {{automatic: true, verify: []}}
"""


def checks(base: str, probe: str = "/probe-lab") -> str:
    return f"""
version: 1
name: canary-check
environments:
  lab: {{lab: {{scenario: pypi-2018}}}}
sets:
  echo:
    probes:
      - url: "{base}{probe}"
        timeout: 5s
"""


@dataclass
class Captured:
    """Every output of every command, by name, and the state directories."""

    outputs: dict[str, str]
    states: list[Path]

    def files(self) -> dict[str, bytes]:
        out = {}
        for state in self.states:
            for path in state.rglob("*"):
                if path.is_file():
                    out[str(path)] = path.read_bytes()
        return out


@pytest.fixture(scope="module")
def captured(leaky: str, tmp_path_factory: pytest.TempPathFactory) -> Captured:
    work = tmp_path_factory.mktemp("secrets")
    (work / "canary.yml").write_text(runbook(leaky), encoding="utf-8")
    (work / "canary-checks.yml").write_text(checks(leaky), encoding="utf-8")
    extra = {"CANARY_TOKEN": CANARY}
    outputs: dict[str, str] = {}
    codes: dict[str, int] = {}

    def cli(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
        proc = run_cutover(*args, cwd=work, env=extra, timeout=180)
        outputs[f"{name}.stdout"] = proc.stdout
        outputs[f"{name}.stderr"] = proc.stderr
        codes[name] = proc.returncode
        return proc

    states = [work / "state1", work / "state2", work / "state3", work / "state-check"]
    var = ("--var", f"echo={CANARY}")
    # 1: the http step's PUT is refused (echoing the token), the shell undo fails: exit 3
    one = cli(
        "run-json", "--log-format", "json", "run", "canary.yml", "--env", "test", "--yes",
        *var, "--var", "undo_exit=5", "--state-dir", states[0],
    )  # fmt: skip
    assert one.returncode == RunExit.NEEDS_ATTENTION, one.stdout + one.stderr
    run1 = run_id_of(one.stdout)
    cli("show-1", "show", run1, "--state-dir", states[0])
    for fmt in ("json", "markdown", "html"):  # the run report, each format
        cli(f"report-1-{fmt}", "report", run1, "--format", fmt, "--state-dir", states[0])
    cli("status-1", "status", "--state-dir", states[0])
    cli("history-1", "history", "--state-dir", states[0])
    # 2: the fastly API refuses the token and echoes it: rolled back, exit 1
    two = cli(
        "run-console", "run", "canary.yml", "--env", "test", "--yes", *var,
        "--var", "http_on=false", "--state-dir", states[1],
    )  # fmt: skip
    assert two.returncode == RunExit.ROLLED_BACK, two.stdout + two.stderr
    cli("show-2", "show", run_id_of(two.stdout), "--state-dir", states[1])
    # 3: the probe is redirected to a javascript: URL holding the token: exit 1
    three = cli(
        "run-probe", "run", "canary.yml", "--env", "test", "--yes", *var,
        "--var", "http_on=false", "--var", "fastly_on=false", "--state-dir", states[2],
    )  # fmt: skip
    assert three.returncode == RunExit.ROLLED_BACK, three.stdout + three.stderr
    cli("show-3", "show", run_id_of(three.stdout), "--state-dir", states[2])
    cli("report-3", "report", run_id_of(three.stdout), "--state-dir", states[2])
    cli("history-3", "history", "--state-dir", states[2])
    # plan: the live diff (the prior value echoes the token) and the fastly refusal
    cli("plan", "plan", "canary.yml", "--env", "test", *var, "--state-dir", states[2])
    cli("plan-offline", "plan", "canary.yml", "--env", "test", "--offline", *var)
    cli("validate", "validate", "canary.yml", *var)
    # check: every format, on stdout and into a file
    for fmt in ("table", "json", "junit", "prometheus", "nagios"):
        cli(
            f"check-{fmt}", "check", "canary-checks.yml", "--env", "lab", "--format", fmt,
            "--state-dir", states[3],
        )  # fmt: skip
        cli(
            f"check-{fmt}-file", "check", "canary-checks.yml", "--env", "lab", "--format", fmt,
            "--output", work / f"report.{fmt}", "--state-dir", states[3],
        )  # fmt: skip
        outputs[f"report.{fmt}"] = (work / f"report.{fmt}").read_text(encoding="utf-8")
    assert codes["check-nagios"] == 2, outputs["check-nagios.stdout"]  # CRITICAL: bad_redirect
    return Captured(outputs, states)


def _leaks(outputs: dict[str, str], secret: str) -> list[str]:
    return [
        f"{name}: {line}"
        for name, text in outputs.items()
        for line in text.splitlines()
        if secret in line
    ]


@pytest.mark.slow
def test_the_canary_never_appears_in_any_output(captured: Captured) -> None:
    assert _leaks(captured.outputs, CANARY) == []


@pytest.mark.slow
def test_the_lab_token_never_appears_in_any_output(captured: Captured) -> None:
    assert _leaks(captured.outputs, LAB_TOKEN) == []


@pytest.mark.slow
def test_no_byte_of_the_state_directories_holds_a_secret(captured: Captured) -> None:
    """The journal (and its -wal and -shm, when present) and every other file. The lab's
    own state file keeps the lab's token by design: it *is* the lab's credential store."""
    files = captured.files()
    assert any(name.endswith("journal.db") for name in files)
    for secret in (CANARY, LAB_TOKEN):
        for encoding in ("utf-8", "utf-16-le"):
            needle = secret.encode(encoding)
            holding = [name for name, data in files.items() if needle in data]
            if secret == LAB_TOKEN:
                holding = [name for name in holding if Path(name).parent.name != "lab"]
            assert holding == []


@pytest.mark.slow
def test_every_channel_was_exercised_and_redacted(captured: Captured) -> None:
    """The canary was really there to leak: each channel shows the redaction mark."""
    out = captured.outputs
    # the shell step's output, in a JSON log line (before any backend used the secret)
    shell_logs = [
        json.loads(line)
        for line in out["run-json.stderr"].splitlines()
        if line.startswith("{") and "finished" in line
    ]
    assert shell_logs and all(REDACTED in log["stderr"] for log in shell_logs)
    # the refused PUT (the API's message echoes the token) and the failed undo's output
    assert (
        f"token Bearer {REDACTED} may not write" in out["run-json.stdout"] + out["run-json.stderr"]
    )
    assert f"token {REDACTED}" in out["show-1.stdout"]
    for fmt in ("json", "markdown", "html"):  # the run report reads the same journal
        assert REDACTED in out[f"report-1-{fmt}.stdout"], fmt
    assert f"javascript:alert(&#39;{REDACTED}&#39;)" in out["report-3.stdout"]  # HTML-escaped
    # the journaled prior state of the http step (GET answered the token)
    assert f"Bearer {REDACTED}" in out["plan.stdout"]
    # the fastly refusal
    assert f"Provided credentials are missing or invalid: {REDACTED}" in out["show-2.stdout"]
    # the probe's redirect to javascript:
    assert f"javascript:alert('{REDACTED}')" in out["show-3.stdout"]
    # the --var given on the command line, rendered into the shell step's arguments
    assert REDACTED in out["plan-offline.stdout"]
    # check reports: the lab token in a refused redirect, every format
    for fmt in ("table", "json", "junit", "prometheus", "nagios"):
        if fmt not in ("prometheus", "nagios"):  # counts and a summary, no details
            assert REDACTED in out[f"check-{fmt}.stdout"], fmt
            assert REDACTED in out[f"report.{fmt}"], fmt


@pytest.mark.slow
def test_status_names_the_run_needing_attention_without_the_secret(captured: Captured) -> None:
    status = captured.outputs["status-1.stdout"]
    assert "canary on test: needs_attention" in status
    assert "still applied: shell-first/a command that prints the token" in status


@pytest.mark.parametrize(
    ("suffix", "shown"),
    [
        # httpx refuses the header and quotes it as bytes: b'CANARY-…\n'
        # (in JSON lines its escaped newline may remain after the redacted value)
        ("\n", f"Illegal header value b'Bearer {REDACTED}"),
        # httpx cannot encode the header at all
        ("-\u00e9", "a request header (the token?) holds a character that is not ASCII"),
    ],
)
def test_a_token_httpx_refuses_is_not_quoted_back(
    leaky: str, tmp_path: Path, suffix: str, shown: str
) -> None:
    (tmp_path / "canary.yml").write_text(runbook(leaky), encoding="utf-8")
    env = cli_env({"CANARY_TOKEN": CANARY + suffix})
    proc = subprocess.run(
        [PY, "-m", "cutover", "--log-format", "json", "run", "canary.yml", "--env", "test",
         "--yes", "--var", "fastly_on=false", "--state-dir", "state"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == RunExit.ROLLED_BACK, proc.stdout + proc.stderr
    assert _leaks({"stdout": proc.stdout, "stderr": proc.stderr}, CANARY) == []
    assert shown in proc.stdout + proc.stderr
    files = Captured({}, [tmp_path / "state"]).files()
    assert [name for name, data in files.items() if CANARY.encode() in data] == []


SPELLING_SCRIPT = Path(__file__).with_name("secret_spellings.py")


def spelling_runbook(base: str, name: str) -> str:
    return f"""
version: 1
name: spelled
environments:
  test: {{description: loopback only}}
backends:
  sh: {{kind: shell, timeout: 20s}}
  api: {{kind: http, base_url: "{base}/spell/{name}/api", token: "env:SPELL_TOKEN", retries: 0}}
stages:
  - name: print
    steps:
      - name: a command that prints the spelling
        backend: sh
        command: ["{PY}", "{SPELLING_SCRIPT}", "{name}"]
        undo: ["{PY}", "{SPELLING_SCRIPT}", "{name}"]
  - name: http
    steps:
      - {{name: put a setting, backend: api, path: /setting, body: {{mode: new}}}}
rollback: {{automatic: true, verify: []}}
"""


def _cli(cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_cutover(*args, cwd=cwd, env={"SPELL_TOKEN": SPELL_TOKEN}, timeout=180)


def _escaped(piece: str) -> list[str]:
    """``piece`` as it is, and as a JSON text holds it (the journal's rows are JSON)."""
    return [piece, json.dumps(piece)[1:-1]]


#: spellings in the fast tier (`-m "not slow"`): one encoding, one split, one change of case
FAST_SPELLINGS = ("base64", "split-crlf", "upper")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=() if name in FAST_SPELLINGS else pytest.mark.slow)
        for name in sorted(SPELLINGS)
    ],
)
def test_every_spelling_is_redacted_in_every_channel(leaky: str, tmp_path: Path, name: str) -> None:
    """The run's stdout, its JSON logs (stderr), ``show``, every byte of the state
    directory and a check report: each shows the redaction mark, none a piece of the
    spelling. (A check's secret travels in a redirect's Location: a header cannot hold a
    line break, so the split spellings skip that channel.)"""
    (tmp_path / "spelled.yml").write_text(spelling_runbook(leaky, name), encoding="utf-8")
    (tmp_path / "checks.yml").write_text(checks(leaky, f"/spell/{name}/probe"), encoding="utf-8")
    state = tmp_path / "state"
    ran = _cli(
        tmp_path, "--log-format", "json", "run", "spelled.yml", "--env", "test", "--yes",
        "--state-dir", state,
    )  # fmt: skip
    # the PUT is refused, and so is its restore: a human must act
    assert ran.returncode == RunExit.NEEDS_ATTENTION, ran.stdout + ran.stderr
    shown = _cli(tmp_path, "show", "last", "--state-dir", state)
    assert shown.returncode == 0, shown.stderr
    outputs = {"run.stdout": ran.stdout, "run.stderr": ran.stderr, "show": shown.stdout}
    files = Captured({}, [state]).files()
    if name not in NOT_IN_HEADERS:
        checked = _cli(
            tmp_path, "check", "checks.yml", "--env", "lab", "--format", "json",
            "--state-dir", tmp_path / "state-check",
        )  # fmt: skip
        assert checked.returncode == 2, checked.stdout + checked.stderr  # bad_redirect
        outputs["check"] = checked.stdout
    # the refusal (stdout), the shell step's output (a JSON log line), the refusal in show;
    # what is left around the mark is not the secret's (a URL's user, base64 of `user:`)
    refusal = re.compile(r"token \S*" + re.escape(REDACTED) + r"\S* may not write")
    assert refusal.search(ran.stdout), ran.stdout
    logged = [json.loads(x) for x in ran.stderr.splitlines() if x.startswith("{")]
    assert any(REDACTED in str(log.get("stderr", "")) for log in logged), ran.stderr
    assert refusal.search(shown.stdout), shown.stdout
    assert any(REDACTED.encode() in data for data in files.values())
    if "check" in outputs:
        assert REDACTED in outputs["check"], outputs["check"]
    token_pieces = pieces(name, SPELL_TOKEN)
    lab_pieces = pieces(name, LAB_TOKEN)
    outputs["state files"] = b"".join(files.values()).decode("utf-8", "replace")
    for channel, text in outputs.items():
        for piece in token_pieces + lab_pieces:
            assert not any(p in text for p in _escaped(piece)), (channel, piece, text)
    for path, data in files.items():
        if Path(path).parent.name == "lab":
            continue  # the lab's own state file is its credential store
        for piece in token_pieces + lab_pieces:
            assert not any(p.encode() in data for p in _escaped(piece)), (path, piece)


STRADDLE_KEY = f"STRADDLE-{secrets.token_hex(16)}"


def _refusal(body: str, *, json_body: bool) -> str:
    """The message a control plane's 403 with ``body`` becomes."""

    def answer(request: httpx.Request) -> httpx.Response:
        if json_body:
            return httpx.Response(403, json=json.loads(body))
        return httpx.Response(403, text=body)

    api = ControlPlane("http://api.test", transport=httpx.MockTransport(answer), retries=0)
    with pytest.raises(RejectedActionError) as caught:
        api.request("PUT", "/x", json={})
    return caught.value.message


@pytest.mark.parametrize(
    ("where", "shorten", "limit", "before"),
    [
        ("a text body", lambda s: _refusal(s, json_body=False), MESSAGE_CHARS, 0),
        ("a JSON msg", lambda s: _refusal(json.dumps({"msg": s}), json_body=True),
         MESSAGE_CHARS, 0),
        ("a JSON list", lambda s: _refusal(json.dumps([s]), json_body=True), MESSAGE_CHARS, 2),
        ("an http value", lambda s: _show({"v": s}), SHOW_CHARS, 7),
        ("a shell tail", lambda s: tail(s), TAIL_CHARS, 0),
    ],
)  # fmt: skip
def test_a_secret_across_the_cut_leaves_no_half(
    where: str, shorten: Any, limit: int, before: int
) -> None:
    """The key starts 10 characters before the cut (at 190 of a 200-character message;
    ``before``: what the quoted form adds ahead of the text, ``['`` or ``{"v": "``): cut
    first, its first 10 characters would stay, and no later redaction knows them."""
    cutover_secrets.remember(STRADDLE_KEY)
    if where == "a shell tail":  # a tail is cut at its start: the key ends past it
        text = "x" * 50 + STRADDLE_KEY + "y" * (limit - 10)
    else:
        text = "x" * (limit - 10 - before) + STRADDLE_KEY + "y" * 100
    shown = shorten(text)
    assert REDACTED in shown, shown
    for size in (4, 6, 10):
        assert STRADDLE_KEY[:size] not in shown and STRADDLE_KEY[-size:] not in shown, shown


def test_a_straddling_refusal_reads_exactly(leaky: str) -> None:
    cutover_secrets.remember(STRADDLE_KEY)
    body = "e" * 190 + STRADDLE_KEY + "!" * 100
    assert _refusal(body, json_body=False) == (f"api: PUT /x refused: 403 {'e' * 190}{REDACTED}…")
