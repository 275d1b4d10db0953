"""``cutover.testing``: importable without test tools, and its helpers keep their word."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import cutover.testing as t


def test_importable_without_pytest_or_hypothesis() -> None:
    code = (
        "import sys, cutover.testing, cutover.testing.probe_server; "
        "print(sorted(m for m in ('pytest', '_pytest', 'hypothesis') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=t.cli_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_every_public_name_exists() -> None:
    assert sorted(t.__all__) == t.__all__
    missing = [name for name in t.__all__ if not hasattr(t, name)]
    assert missing == []


def test_wait_for_returns_the_first_truthy_answer() -> None:
    answers = iter([None, 0, {"port": 1}])
    assert t.wait_for("an answer", lambda: next(answers), timeout=5) == {"port": 1}


def test_wait_for_names_what_it_waited_for() -> None:
    with pytest.raises(t.WaitTimeout, match="timed out after 0 s waiting for the moon"):
        t.wait_for("the moon", lambda: None, timeout=0.1)


def test_run_id_of_reads_the_plain_and_the_json_first_line() -> None:
    assert t.run_id_of("run 20261201-1200-ab12: pypi-files on lab\n...") == "20261201-1200-ab12"
    assert t.run_id_of('{"event": "run", "run_id": "20261201-1200-cd34"}\n') == (
        "20261201-1200-cd34"
    )


def test_the_subprocess_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in t.cli.SCRUBBED:
        monkeypatch.setenv(name, "leak")
    env = t.cli_env({"EXTRA": "1"})
    assert [name for name in t.cli.SCRUBBED if name in env] == []
    assert env["EXTRA"] == "1" and env["NO_COLOR"] == "1"
    assert env["PYTHONPATH"].split(":")[0] == str(t.cli.SOURCE)


def test_the_rest_store_answers_and_records() -> None:
    with t.running_rest_server() as rest, httpx.Client(base_url=rest.url) as client:
        auth = {"Authorization": "Bearer x"}
        assert client.put("/settings/a", json={"on": True}, headers=auth).status_code == 200
        assert client.patch("/settings/a", json={"level": 2}).json() == {"on": True, "level": 2}
        assert client.put("/readonly/b", json=1).status_code == 403
        assert client.get("/settings/none").status_code == 404
    assert rest.store == {"/settings/a": {"on": True, "level": 2}}
    assert rest.requests == [
        ("PUT", "/settings/a", "Bearer x"),
        ("PATCH", "/settings/a", None),
        ("PUT", "/readonly/b", None),
        ("GET", "/settings/none", None),
    ]
    assert t.port_closed(rest.url.removeprefix("http://"))


@pytest.mark.nginx
def test_running_nginx_serves_then_stops_and_frees_its_port(tmp_path: Path) -> None:
    if t.nginx_binary() is None:
        pytest.skip("no nginx binary on PATH or in /usr/sbin (apt-get install nginx-light)")
    server = 'location / {{ return 200 "port {port}\\n"; }}'
    with t.running_nginx(tmp_path / "nginx", server) as nginx:
        answer = httpx.get(nginx.url("/"), timeout=5)
        assert (answer.status_code, answer.text) == (200, f"port {nginx.port}\n")
        assert subprocess.run(nginx.test_command, capture_output=True, timeout=30).returncode == 0
        assert nginx.reloads() == 0
    assert t.port_closed(f"127.0.0.1:{nginx.port}")
