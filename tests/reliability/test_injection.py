"""Injection: shell metacharacters stay literal, the template sandbox holds, probes refuse
non-http(s) redirects and cap what they read. Loopback only; exact outcomes."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cutover.actions.shell import ShellAction
from cutover.errors import DocumentError
from cutover.probes import Reason, run_probe
from cutover.runbook.loader import VarOverrides, load_runbook
from cutover.runbook.probe_models import ProbeSpec
from cutover.testing import cli_env, server_url, serving

PY = sys.executable
#: the command under test writes the arguments it received, exactly, to argv.json
WRITE_ARGV = "import json, sys; open('argv.json', 'w').write(json.dumps(sys.argv[1:]))"

PAYLOADS = [
    "; touch pwned #",
    "; rm -rf / #",
    "$(touch pwned)",
    "`touch pwned`",
    "x\ntouch pwned\n",
    "| touch pwned",
    "&& touch pwned",
    "> pwned",
    "'; touch pwned; echo '",
    '"; touch pwned; echo "',
    "${IFS}touch${IFS}pwned",
    "-c touch pwned",
    "*",
]


def shell_runbook(directory: Path) -> str:
    return f"""
version: 1
name: injection
vars: {{payload: "", flag: "{{{{ payload }}}}"}}
environments:
  test: {{description: loopback only}}
backends:
  sh: {{kind: shell, cwd: "{directory}"}}
stages:
  - name: only
    steps:
      - name: write argv
        backend: sh
        command:
          - "{PY}"
          - "-c"
          - "{WRITE_ARGV}"
          - "{{{{ payload }}}}"
          - "a {{{{ payload }}}} b"
          - "{{{{ flag }}}}"
        undo: ["{PY}", "-c", "pass"]
rollback: {{automatic: true, verify: []}}
"""


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return cli_env(extra)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_template_value_with_shell_metacharacters_is_one_literal_argument(
    tmp_path: Path, payload: str
) -> None:
    path = tmp_path / "injection.yml"
    path.write_text(shell_runbook(tmp_path), encoding="utf-8")
    loaded = load_runbook(
        path, environment="test", overrides=VarOverrides(pairs=(f"payload={payload}",))
    )
    step = loaded.model.stages[0].steps[0]
    action = ShellAction(loaded.model.backends["sh"], step)
    assert action.apply(action.snapshot()) == {"returncode": 0}
    argv = json.loads((tmp_path / "argv.json").read_text(encoding="utf-8"))
    assert argv == [payload, f"a {payload} b", payload]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["argv.json", "injection.yml"]


def test_the_cli_run_passes_a_hostile_var_literally(tmp_path: Path) -> None:
    payload = "; touch pwned # $(touch pwned2) `touch pwned3`\ntouch pwned4"
    (tmp_path / "injection.yml").write_text(shell_runbook(tmp_path), encoding="utf-8")
    proc = subprocess.run(
        [PY, "-m", "cutover", "run", "injection.yml", "--env", "test", "--yes",
         "--var", f"payload={payload}", "--state-dir", "state"],
        cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    argv = json.loads((tmp_path / "argv.json").read_text(encoding="utf-8"))
    assert argv == [payload, f"a {payload} b", payload]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["argv.json", "injection.yml", "state"]


# --- the template sandbox -------------------------------------------------------------------

UNSAFE = "template refused by the sandbox: "
ESCAPES = [
    (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        UNSAFE + "access to attribute '__class__' of 'str' object is unsafe.",
    ),
    (
        "{{ cycler.__init__.__globals__ }}",
        UNSAFE + "access to attribute '__init__' of 'type' object is unsafe.",
    ),
    (
        "{{ joiner.__init__.__globals__['os'].system('touch pwned') }}",
        UNSAFE + "access to attribute '__init__' of 'type' object is unsafe.",
    ),
    (
        "{{ self._TemplateReference__context }}",
        UNSAFE + "access to attribute '_TemplateReference__context' of "
        "'TemplateReference' object is unsafe.",
    ),
    (
        "{{ namespace.__init__.__globals__ }}",
        UNSAFE + "access to attribute '__init__' of 'type' object is unsafe.",
    ),
    (
        "{{ '{0.__class__.__base__}'.format('') }}",
        UNSAFE + "access to attribute '__class__' of 'str' object is unsafe.",
    ),
    (
        "{{ '{0.__init__.__globals__}'.format(cycler) }}",
        UNSAFE + "access to attribute '__init__' of 'type' object is unsafe.",
    ),
    (
        "{{ '%s' % ''.__class__ }}",
        UNSAFE + "access to attribute '__class__' of 'str' object is unsafe.",
    ),
    (
        "{{ ().__class__.__bases__[0].__subclasses__() }}",
        UNSAFE + "access to attribute '__class__' of 'tuple' object is unsafe.",
    ),
    (
        "{{ [].append(1) }}",
        UNSAFE + "access to attribute 'append' of 'list' object is unsafe.",
    ),
    ("{{ lipsum.__globals__ }}", "template: 'lipsum' is undefined"),
    # memory and CPU bombs: refused before they are computed
    ("{{ 9 ** (9 ** 9) }}", UNSAFE + "9 ** 387420489 needs more than 100,000 bits"),
    (
        "{{ 'a' * 1000 * 1000 * 1000 }}",
        UNSAFE + "repeating a value would build a value over 1,048,576 characters",
    ),
    (
        "{{ '{:>999999999}'.format(1) }}",
        UNSAFE + "format() would build a value over 1,048,576 characters",
    ),
    (
        "{{ '%0999999999d' % 1 }}",
        UNSAFE + "'%' formatting would build a value over 1,048,576 characters",
    ),
    (
        "{{ 'x' | center(999999999) }}",
        UNSAFE + "filter 'center' would build a value over 1,048,576 characters",
    ),
    (  # the loop budget (100,000 iterations) is reached before the range budget
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        UNSAFE + "loops ran more than 100,000 iterations in one template",
    ),
    (
        "{{ " + " + ".join(["range(100000) | list | length"] * 11) + " }}",  # no loop
        UNSAFE + "ranges over more than 1,000,000 items in one template",
    ),
    (
        "{% set ns = namespace(x='a') %}{% for i in range(64) %}"
        "{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x }}",
        UNSAFE + "namespace attribute 'x' would build a value over 1,048,576 characters",
    ),
]


def sandbox_runbook(template: str) -> str:
    quoted = json.dumps(template)
    return f"""version: 1
name: sandbox
environments:
  test: {{description: loopback only}}
stages:
  - name: only
    description: {quoted}
"""


@pytest.mark.parametrize(("template", "message"), ESCAPES)
def test_the_sandbox_refuses_escapes_with_a_located_error(
    tmp_path: Path, template: str, message: str
) -> None:
    path = tmp_path / "sandbox.yml"
    path.write_text(sandbox_runbook(template), encoding="utf-8")
    with pytest.raises(DocumentError) as caught:
        load_runbook(path, environment="test")
    problems = [(p.line, p.column, p.path, p.message) for p in caught.value.problems]
    assert problems == [(7, 18, "stages[0].description", message)]


def test_validate_refuses_a_sandbox_escape_with_exit_2(tmp_path: Path) -> None:
    template = "{{ cycler.__init__.__globals__.os.system('touch pwned') }}"
    (tmp_path / "sandbox.yml").write_text(sandbox_runbook(template), encoding="utf-8")
    proc = subprocess.run(
        [PY, "-m", "cutover", "validate", "sandbox.yml"],
        cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "sandbox.yml:7:18: stages[0].description: template refused by the sandbox: "
        "access to attribute '__init__' of 'type' object is unsafe.\n"
    )
    assert not (tmp_path / "pwned").exists()


# --- probes: redirect schemes and the size cap ---------------------------------------------


class _Origin(BaseHTTPRequestHandler):
    """``/to?location=…`` redirects there; ``/endless`` streams forever (no length);
    ``/declared`` declares a huge Content-Length."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/to?"):
            location = parse_qs(urlsplit(self.path).query)["location"][0]
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/endless":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while True:
                    self.wfile.write(chunk)
            except OSError:
                return
        elif self.path == "/declared":
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    server.daemon_threads = True
    with serving(server):
        yield server_url(server)


class Recording(httpx.HTTPTransport):
    """A real transport that remembers every URL it was asked to fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return super().handle_request(request)


@pytest.mark.parametrize(
    ("location", "scheme"),
    [
        ("file:///etc/passwd", "file"),
        ("ftp://127.0.0.1/pub/x.whl", "ftp"),
        ("javascript:alert(1)", "javascript"),
        ("data:text/html,<script>alert(1)</script>", "data"),
        ("gopher://127.0.0.1:70/_x", "gopher"),
    ],
)
def test_redirects_to_other_schemes_are_refused_and_never_fetched(
    origin: str, location: str, scheme: str
) -> None:
    transport = Recording()
    first = str(httpx.URL(f"{origin}/to").copy_merge_params({"location": location}))
    with transport:
        result = run_probe(transport, ProbeSpec(url=first), "injection")
    assert result.reason is Reason.BAD_REDIRECT
    assert result.detail == f"refused redirect to scheme {scheme!r}: {location} (from {first})"
    assert transport.urls == [first]  # only the first hop was requested
    assert [(h.status, h.location) for h in result.hops] == [(302, location)]


def test_an_endless_body_is_cut_at_the_cap_with_bounded_memory(origin: str) -> None:
    cap = 1_000_000
    tracemalloc.start()
    try:
        with httpx.HTTPTransport() as transport:
            result = run_probe(transport, ProbeSpec(url=f"{origin}/endless", max_bytes=cap))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.reason, result.detail) == (
        Reason.TOO_LARGE,
        f"body over the cap of {cap} bytes",
    )
    assert result.ok is False
    assert peak < 4 * cap  # streamed and hashed, never held


def test_a_declared_huge_body_is_refused_before_reading(origin: str) -> None:
    with httpx.HTTPTransport() as transport:
        result = run_probe(transport, ProbeSpec(url=f"{origin}/declared", max_bytes=1024))
    assert (result.reason, result.detail) == (
        Reason.TOO_LARGE,
        "Content-Length 1000000000000 is over the cap of 1024 bytes",
    )
    assert result.size is None


def test_probe_urls_other_than_http_are_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "checks.yml"
    path.write_text(
        "version: 1\nname: c\nsets:\n  s:\n    probes:\n      - url: file:///etc/passwd\n",
        encoding="utf-8",
    )
    from cutover.runbook.loader import load_checks

    with pytest.raises(DocumentError) as caught:
        load_checks(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.column, problem.path) == (6, 14, "sets.s.probes[0].url")
    assert problem.message == "String should match pattern '^https?://'"
