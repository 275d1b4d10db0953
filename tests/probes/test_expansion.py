"""Probe sets expanded from data: PyPI JSON files and URLs, CSV and YAML rows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cutover.probes import ExpansionError, ProbeRunner, Reason, expand_sets
from cutover.runbook.probe_models import ProbeSet
from cutover.testing import free_port
from cutover.testing import probe_server as ps

WHL = "sampleproject-4.0.0-py3-none-any.whl"
TGZ = "sampleproject-4.0.0.tar.gz"


def one_set(data: dict[str, Any]) -> dict[str, ProbeSet]:
    return {"files": ProbeSet.model_validate(data)}


def test_from_a_saved_pypi_json_file(tmp_path: Path) -> None:
    (tmp_path / "sampleproject.json").write_text(json.dumps(ps.pypi_json("https://files.test")))
    sets = one_set(
        {
            "probes": [{"url": "https://index.test/simple/sampleproject/"}],
            "expand": [
                {
                    "file": "sampleproject.json",
                    "probe": {"cache_bust": True, "expect": {"max_hops": 0}},
                }
            ],
        }
    )
    specs = expand_sets(sets, bases={"files": tmp_path})
    assert [(s, p.url) for s, p in specs] == [
        ("files", "https://index.test/simple/sampleproject/"),
        ("files", "https://files.test" + ps.hash_path(WHL)),
        ("files", "https://files.test" + ps.hash_path(TGZ)),
    ]
    whl = specs[1][1]
    assert (whl.name, whl.cache_bust, whl.expect.max_hops) == (WHL, True, 0)
    assert (whl.expect.sha256, whl.expect.size) == (ps.sha(ps.PACKAGES[WHL]), len(ps.PACKAGES[WHL]))
    assert whl.expect.status == [200]


def test_from_csv_with_rewrite_host_limit_and_set_defaults(tmp_path: Path) -> None:
    rows = "url,sha256,size\n" + "".join(
        f"https://files.test{ps.hash_path(n)},{ps.sha(d)},{len(d)}\n"
        for n, d in ps.PACKAGES.items()
    )
    (tmp_path / "files.csv").write_text(rows)
    sets = one_set(
        {
            "defaults": {"user_agent": "curl", "expect": {"final_host": "files.test"}},
            "expand": [
                {
                    "file": "files.csv",
                    "rewrite_host": "legacy.test:8080",
                    "limit": 1,
                    "probe": {"expect": {"max_hops": 2}},
                }
            ],
        }
    )
    ((_, spec),) = expand_sets(sets, bases={"files": tmp_path})
    assert spec.url == "https://legacy.test:8080" + ps.hash_path(WHL)
    assert spec.user_agent == "curl"
    assert (spec.expect.final_host, spec.expect.max_hops) == (["files.test"], 2)
    assert spec.expect.size == len(ps.PACKAGES[WHL])


def test_from_yaml_rows(tmp_path: Path) -> None:
    (tmp_path / "rows.yml").write_text(
        "files:\n  - url: http://a.test/file\n    sha256: "
        + ps.BODY_SHA256
        + "\n    size: 102400\n"
        "  - {url: http://a.test/other}\n"
    )
    specs = expand_sets(one_set({"expand": [{"file": "rows.yml"}]}), bases={"files": tmp_path})
    assert [(p.url, p.expect.sha256, p.expect.size, p.name) for _, p in specs] == [
        ("http://a.test/file", ps.BODY_SHA256, 102400, "file"),
        ("http://a.test/other", None, None, "other"),
    ]


def test_from_a_url_through_the_resolve_map_then_probed(server: Any) -> None:
    sets = one_set(
        {
            "expand": [
                {
                    "url": "http://index.test/pypi/sampleproject/json",
                    "probe": {"expect": {"final_host": "files.test"}},
                }
            ]
        }
    )
    with ProbeRunner(resolve=server.resolve(), concurrency=2) as runner:
        specs = expand_sets(sets, runner=runner)
        assert [p.name for _, p in specs] == [WHL, TGZ]
        results = runner.run(specs)
    assert [(r.reason, r.sha256) for r in results] == [
        (Reason.OK, ps.sha(ps.PACKAGES[WHL])),
        (Reason.OK, ps.sha(ps.PACKAGES[TGZ])),
    ]


def test_rewritten_to_the_index_host_follows_one_redirect(server: Any) -> None:
    sets = one_set(
        {
            "expand": [
                {
                    "url": "http://index.test/pypi/sampleproject/json",
                    "rewrite_host": "index.test",
                    "probe": {"expect": {"max_hops": 1, "final_host": "files.test"}},
                }
            ]
        }
    )
    with ProbeRunner(resolve=server.resolve(), concurrency=1) as runner:
        results = runner.run(expand_sets(sets, runner=runner))
    assert [(r.reason, [h.status for h in r.hops]) for r in results] == [
        (Reason.OK, [301, 200]),
        (Reason.OK, [301, 200]),
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://index.test/pypi/broken/json",
            "sets.files.expand[0]: http://index.test/pypi/broken/json:1:2: invalid JSON: ",
        ),
        (
            "http://index.test/pypi/nothing/json",
            "sets.files.expand[0]: http://index.test/pypi/nothing/json answered 404, expected 200",
        ),
    ],
)
def test_bad_data_from_a_url(server: Any, url: str, message: str) -> None:
    with ProbeRunner(resolve=server.resolve()) as runner, pytest.raises(ExpansionError) as err:
        expand_sets(one_set({"expand": [{"url": url}]}), runner=runner)
    assert err.value.message.startswith(message)


def test_unreachable_url() -> None:
    port = free_port()
    with (
        ProbeRunner(resolve={"index.test": f"127.0.0.1:{port}"}) as runner,
        pytest.raises(ExpansionError) as err,
    ):
        expand_sets(one_set({"expand": [{"url": "http://index.test/pypi/x/json"}]}), runner=runner)
    assert err.value.message.startswith(
        "sets.files.expand[0]: cannot fetch http://index.test/pypi/x/json: ConnectError: "
    )
    assert err.value.hint == "is the index reachable from here (and the resolve map right)?"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "a.json",
            '{"urls": [{"url": "ftp://x/y"}]}',
            "a.json: urls[0]: `url` must be an http(s) URL, got 'ftp://x/y'",
        ),
        ("b.json", '{"urls": 3}', "b.json: not a JSON API response (no `urls` list)"),
        ("c.yml", "just: text", "c.yml: expected a list of files (url, sha256, size)"),
        ("d.csv", "name,size\nx,1\n", "d.csv: a CSV needs a header row with a `url` column"),
        (
            "e.csv",
            "url,size\nhttp://a.test/x,big\n",
            "e.csv:2: `size` must be a whole number, got 'big'",
        ),
        (
            "f.yml",
            "- url: http://a.test/x\n  sha256: nothex\n",
            "file 1 (http://a.test/x): expect.sha256: String should match pattern",
        ),
    ],
)
def test_bad_data_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(ExpansionError) as err:
        expand_sets(one_set({"expand": [{"file": name}]}), bases={"files": tmp_path})
    assert err.value.message.startswith("sets.files.expand[0]: ")
    assert message in err.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ExpansionError) as err:
        expand_sets(one_set({"expand": [{"file": "nope.json"}]}), bases={"files": tmp_path})
    assert err.value.message == f"sets.files.expand[0]: no such file {tmp_path / 'nope.json'}"


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_a_data_file_that_is_not_a_regular_file_is_refused_unopened(
    tmp_path: Path, kind: str
) -> None:
    """`/dev/zero` never ends and a FIFO blocks: neither is opened, whatever its size says."""
    if kind == "device":
        target = Path("/dev/zero")
    elif kind == "fifo":
        target = tmp_path / "rows.fifo"
        os.mkfifo(target)
    else:
        target = tmp_path / "rows"
        target.mkdir()
    with pytest.raises(ExpansionError) as err:
        expand_sets(one_set({"expand": [{"file": str(target)}]}), bases={"files": tmp_path})
    assert err.value.message == (
        f"sets.files.expand[0]: {target} is not a regular file (a directory, device or FIFO);"
        " cutover does not open it"
    )
