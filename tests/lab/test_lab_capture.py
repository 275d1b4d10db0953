"""``cutover lab capture`` and ``cutover lab serve --scenario FILE``: capture a served lab,
serve the capture, recapture it and compare; secrets never reach the file; bad input is
refused with exit 2 (or 3 when the API cannot be read) and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cutover import secrets
from cutover.actions.control import ControlPlane
from cutover.cli.lab import lab_app
from cutover.errors import DocumentError, InputError
from cutover.lab import LabHandle, start_lab
from cutover.lab.capture import CaptureError, capture_services, write_scenario
from cutover.lab.scenario_document import ScenarioDocument, dump_scenario
from cutover.scenario_files import load_scenario_document, scenario_from_file
from cutover.testing import LabClient

runner = CliRunner()
RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "pypi-files.yml"


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CUTOVER_STATE_DIR", str(tmp_path / "state"))


def _client(
    lab: LabHandle, monkeypatch: pytest.MonkeyPatch, token: str | None = None
) -> ControlPlane:
    """A client as the CLI builds it: the token resolved from a secret reference."""
    monkeypatch.setenv("CAPTURE_TEST_TOKEN", token or lab.token)
    return ControlPlane(
        lab.api_url,
        headers={"Fastly-Key": secrets.resolve("env:CAPTURE_TEST_TOKEN")},
        timeout=2,
        retries=0,
        name="fastly",
    )


def _capture(
    lab: LabHandle, monkeypatch: pytest.MonkeyPatch, name: str = "copy"
) -> ScenarioDocument:
    client = _client(lab, monkeypatch)
    try:
        return capture_services(client, list(lab.service_ids.values()), name=name)
    finally:
        client.close()


@pytest.fixture
def source(lab: LabHandle) -> Iterator[LabHandle]:
    """The pypi-2018 lab with a dynamic snippet and a second dictionary, so every
    resource kind the capture reads is present."""
    with LabClient(lab) as world:
        sid = world.sid("files")
        world.ok("PUT", f"/service/{sid}/version/1/clone")
        world.ok(
            "POST",
            f"/service/{sid}/version/2/snippet",
            data={"name": "dyn", "type": "deliver", "dynamic": "1", "content": "# v1\n"},
        )
        world.ok("POST", f"/service/{sid}/version/2/dictionary", data={"name": "flags"})
        world.ok(
            "POST",
            f"/service/{sid}/version/2/condition",
            data={"name": "is-beta", "statement": 'req.http.X-Beta == "1"', "type": "RESPONSE"},
        )
        world.ok(
            "POST",
            f"/service/{sid}/version/2/header",
            data={
                "name": "beta-mark",
                "action": "set",
                "type": "response",
                "dst": "http.X-Beta-Seen",
                "src": '"yes"',
                "response_condition": "is-beta",
                "priority": "5",
            },
        )
        world.ok("PUT", f"/service/{sid}/version/2/activate")
        snippet = world.ok("GET", f"/service/{sid}/version/2/snippet/dyn")
        world.ok("PUT", f"/service/{sid}/snippet/{snippet['id']}", data={"content": "# live\n"})
        flags = world.ok("GET", f"/service/{sid}/version/2/dictionary/flags")["id"]
        world.ok("PUT", f"/service/{sid}/dictionary/{flags}/item/beta", data={"item_value": "on"})
    yield lab


def test_capture_serve_recapture_gives_the_same_document(source, monkeypatch, tmp_path):
    first = _capture(source, monkeypatch)
    files = next(s for s in first.services if s.name == "files")
    assert files.version == 2
    assert {d.name: d.items for d in files.dictionaries} == {"flags": {"beta": "on"}}
    assert [(s.name, s.dynamic, s.content) for s in files.snippets if s.dynamic] == [
        ("dyn", True, "# live\n")
    ]
    assert first.origins["pypi-files.s3.amazonaws.com"] == "object_store"
    assert [(c.name, c.type, c.statement) for c in files.conditions] == [
        ("is-beta", "RESPONSE", 'req.http.X-Beta == "1"')
    ]
    assert [(h.name, h.dst, h.src, h.response_condition, h.priority) for h in files.headers] == [
        ("beta-mark", "http.X-Beta-Seen", '"yes"', "is-beta", 5)
    ]
    path = tmp_path / "lab" / "scenarios" / "copy.yml"
    write_scenario(first, path)
    assert load_scenario_document(path) == first

    with start_lab(scenario_from_file(path)) as copy:
        assert copy.service_ids == source.service_ids  # ids kept: runbooks work unchanged
        assert set(copy.hostnames) >= {"pypi.org", "files.pythonhosted.org", "pypi.python.org"}
        second = _capture(copy, monkeypatch)
    assert second == first
    rewritten = tmp_path / "again.yml"
    write_scenario(second, rewritten)
    assert rewritten.read_bytes() == path.read_bytes()


def test_the_served_capture_answers_as_the_source(source, monkeypatch, tmp_path):
    path = tmp_path / "copy.yml"
    write_scenario(_capture(source, monkeypatch), path)
    with start_lab(scenario_from_file(path)) as copy, LabClient(source) as a, LabClient(copy) as b:
        wheel = a.hash_url(a.file(".whl"))
        for url in (
            wheel + "?miss=1",  # through the shield to the object store (signed)
            "http://pypi.org/simple/sampleproject/",
            "http://pypi.python.org/simple/sampleproject/",
        ):
            left, right = a.get(url), b.get(url)
            assert (right.status_code, right.content) == (left.status_code, left.content), url
            assert right.headers["x-served-by"] == left.headers["x-served-by"]


def test_secrets_never_reach_the_file(lab, monkeypatch, tmp_path):
    """Canary: the API token and another resolved secret, planted in a dictionary item,
    a key and a dynamic snippet, are absent from the written file."""
    monkeypatch.setenv("CAPTURE_CANARY", "canary-7f3e9b1c2d")
    canary = secrets.resolve("env:CAPTURE_CANARY")
    with LabClient(lab) as world:
        sid = world.sid("legacy")
        did = world.ok("GET", f"/service/{sid}/version/1/dictionary/redirects")["id"]
        base = f"/service/{sid}/dictionary/{did}/item"
        world.ok("PUT", f"{base}/token", data={"item_value": lab.token})
        world.ok("PUT", f"{base}/{canary}", data={"item_value": f"x-{canary}-y"})
    path = tmp_path / "copy.yml"
    doc = _capture(lab, monkeypatch)
    written = write_scenario(doc, path)
    text = path.read_text()
    assert lab.token not in text and canary not in text
    assert path.stat().st_mode & 0o777 == 0o600
    assert "[REDACTED]" in text
    legacy = next(s for s in written.services if s.name == "legacy")
    assert legacy.dictionaries[0].items["token"] == "[REDACTED]"


# -- errors: nothing written -----------------------------------------------------------


def test_unknown_service_is_invalid_input(lab, monkeypatch):
    client = _client(lab, monkeypatch)
    with (
        closing(client),
        pytest.raises(InputError, match="no service 'NoSuchService' at the API") as caught,
    ):
        capture_services(client, [lab.service_ids["files"], "NoSuchService"])
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("why", "url", "token", "message"),
    [
        ("refused token", None, "wrong-token", "refused: 401"),
        ("unreachable", "http://127.0.0.1:9", None, "failed"),
    ],
)
def test_unreadable_api_is_exit_3(lab, monkeypatch, why, url, token, message):
    monkeypatch.setenv("CAPTURE_TEST_TOKEN", token or lab.token)
    client = ControlPlane(
        url or lab.api_url,
        headers={"Fastly-Key": secrets.resolve("env:CAPTURE_TEST_TOKEN")},
        timeout=1,
        retries=0,
    )
    with closing(client), pytest.raises(CaptureError) as caught:
        capture_services(client, [lab.service_ids["files"]])
    assert caught.value.exit_code == 3
    assert message in caught.value.message
    assert "nothing was written" in (caught.value.hint or "")


def _cli_capture(tmp_path: Path, *extra: str) -> tuple[int, str, Path]:
    out = tmp_path / "lab" / "scenarios" / "prod-copy.yml"
    result = runner.invoke(
        lab_app,
        ["capture", str(RUNBOOK), "--env", "lab", "-o", str(out), *extra],
    )
    return result.exit_code, result.output, out


def test_cli_capture_writes_the_named_services_and_serves(tmp_path):
    code, output, out = _cli_capture(tmp_path, "--service", "files", "--service", "warehouse")
    assert code == 0, output
    assert f"captured 2 service(s) into {out}: files (version 1), warehouse (version 1)" in output
    assert f"serve it with: cutover lab serve --scenario {out}" in output
    doc = load_scenario_document(out)
    assert (doc.name, [s.name for s in doc.services]) == ("prod-copy", ["files", "warehouse"])
    served = runner.invoke(
        lab_app, ["serve", "--scenario", str(out), "--port", "0", "--api-port", "0", "--for", "0.2"]
    )
    assert served.exit_code == 0, served.output
    assert "cutover lab: scenario file prod-copy" in served.output
    assert "hostnames: files.pythonhosted.org, pypi.org" in served.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--service", "nope"], 2, "no service 'nope' at the API"),
        (["--name", "pypi-2018"], 2, "cannot name a scenario 'pypi-2018'"),
        (["--name", "Bad Name"], 2, "cannot name a scenario 'Bad Name'"),
    ],
)
def test_cli_capture_refusals_write_nothing(tmp_path, args, code, message):
    exit_code, output, out = _cli_capture(tmp_path, *args)
    assert exit_code == code, output
    assert message in output
    assert "Traceback" not in output
    assert not out.exists()


# -- scenario files: located errors, exit 2 --------------------------------------------

GOOD = dump_scenario(
    ScenarioDocument.model_validate(
        {
            "name": "tiny",
            "origins": {"app.example.com": "generic"},
            "services": [
                {
                    "id": "S1",
                    "name": "www",
                    "domains": [{"name": "www.example.com"}],
                    "backends": [{"name": "app", "address": "app.example.com", "shield": "iad"}],
                }
            ],
        }
    )
)


BAD_SNIPPET = "  snippets:\n  - {id: X, name: bad, type: recv, content: 'frobnicate;'}"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (GOOD.replace("format: 1", "format: 2"), "bad.yml:1:9: format:", "invalid value 2"),
        (
            GOOD.replace("name: tiny", "name: pypi-2018"),
            "bad.yml:2:7: name:",
            "'pypi-2018' is a built-in scenario's name",
        ),
        (
            GOOD.replace("app.example.com: generic", "app.example.com: mars"),
            "bad.yml:5:20: origins.app.example.com:",
            "invalid value 'mars'",
        ),
        (
            GOOD.replace("  domains:", "  domainz:"),
            "bad.yml:11:3: services[0].domainz:",
            "unknown key 'domainz'",
        ),
        (
            GOOD.replace("  snippets: []", BAD_SNIPPET),
            "bad.yml:26:3: services[0].snippets:",
            "snippet bad:1:1: refused: 'frobnicate'",
        ),
    ],
)
def test_bad_scenario_files_are_located_exit_2(tmp_path, text, where, message):
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(DocumentError) as caught:
        load_scenario_document(path)
    rendered = caught.value.render()
    assert where in rendered, rendered
    assert message in rendered, rendered
    result = runner.invoke(
        lab_app, ["serve", "--scenario", str(path), "--port", "0", "--api-port", "0", "--for", "0"]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_unknown_origins_are_answered_by_the_generic_origin(tmp_path):
    path = tmp_path / "tiny.yml"
    path.write_text(GOOD)
    with start_lab(scenario_from_file(path)) as lab:
        data = httpx.Client(base_url=f"http://{lab.data_address}", timeout=5)
        with data:
            first = data.get("/a/page", headers={"Host": "www.example.com"})
            again = data.get("/a/page", headers={"Host": "www.example.com"})
            missing = data.get("/gone/404", headers={"Host": "www.example.com"})
    assert first.status_code == 200
    assert first.text == "lab generic origin\nhost: www.example.com\npath: /a/page\n"
    assert first.headers["x-lab-origin"] == "generic"
    # shielded: the edge asked the shield, which fetched from the origin; then a hit
    assert (first.headers["x-cache"], again.headers["x-cache"]) == ("MISS, MISS", "MISS, HIT")
    assert missing.status_code == 404


def test_items_are_paged_as_fastly_pages_them(lab, monkeypatch):
    """More items than a page: capture reads every page (Fastly's 100 per page)."""
    with LabClient(lab) as world:
        sid = world.sid("legacy")
        did = world.ok("GET", f"/service/{sid}/version/1/dictionary/redirects")["id"]
        ops = [{"op": "upsert", "item_key": f"k{i:03}", "item_value": str(i)} for i in range(250)]
        world.ok("PATCH", f"/service/{sid}/dictionary/{did}/items", json={"items": ops})
        first = world.ok("GET", f"/service/{sid}/dictionary/{did}/items")
        third = world.ok("GET", f"/service/{sid}/dictionary/{did}/items", params={"page": "3"})
    assert (len(first), len(third)) == (100, 54)
    doc = _capture(lab, monkeypatch)
    legacy = next(s for s in doc.services if s.name == "legacy")
    assert len(legacy.dictionaries[0].items) == 254


def test_the_documented_scenario_file_loads_and_serves(tmp_path):
    """docs/lab.md's example scenario file is a valid one the lab serves."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "lab.md").read_text()
    start = text.index("format: 1\nname: prod-cdn")
    path = tmp_path / "prod-cdn.yml"
    path.write_text(text[start : text.index("```", start)])
    with start_lab(scenario_from_file(path)) as lab:
        assert lab.hostnames == ["www.example.com"]
        with httpx.Client(base_url=f"http://{lab.data_address}", timeout=5) as data:
            answer = data.get("/", headers={"Host": "www.example.com"})
    assert (answer.status_code, answer.headers["x-lab-origin"]) == (200, "generic")


def test_a_new_capture_served_starts_fresh_not_from_the_old_state(tmp_path):
    """The state file of a served scenario file is named after its content: serving a
    changed file never resumes the world of the previous one."""
    import json

    path = tmp_path / "tiny.yml"
    path.write_text(GOOD)
    args = ["serve", "--scenario", str(path), "--port", "0", "--api-port", "0", "--for", "0.1"]
    assert runner.invoke(lab_app, args).exit_code == 0
    path.write_text(GOOD.replace("name: www.example.com", "name: new.example.com"))
    assert runner.invoke(lab_app, args).exit_code == 0
    files = sorted((tmp_path / "state" / "lab").glob("tiny-*.json"))
    assert len(files) == 2
    domains = [
        json.loads(f.read_text())["services"][0]["versions"][0]["domains"][0]["name"]
        for f in files
    ]
    assert sorted(domains) == ["new.example.com", "www.example.com"]
