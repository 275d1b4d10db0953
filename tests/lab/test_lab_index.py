"""PyPI's index as the lab serves it: exact statuses, headers and bodies of the simple API
(PEP 503 / 592 / 691 / 700), PyPI's redirects, the JSON API and the project pages; the
world's ``simple_api`` setting; the in-tree build backend of the lab's sdists."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from cutover.lab.hostnames import FILES_HOST, LEGACY_HOST, WAREHOUSE_HOST
from cutover.lab.index_pages import HTML, V1_HTML, V1_JSON, negotiate
from cutover.lab.packages import PackageFile, default_catalog
from cutover.lab.state import LabState
from cutover.testing import LabClient

PIP_ACCEPT = (  # what pip 22.2+ sends for the simple API
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1,"
    " text/html; q=0.01"
)
W = f"http://{WAREHOUSE_HOST}"
L = f"http://{LEGACY_HOST}"

#: PyPI's JSON API ``info`` fields (pypi.org, 2025)
PYPI_INFO_FIELDS = {
    "author", "author_email", "bugtrack_url", "classifiers", "description",
    "description_content_type", "docs_url", "download_url", "downloads", "dynamic",
    "home_page", "keywords", "license", "license_expression", "license_files", "maintainer",
    "maintainer_email", "name", "package_url", "platform", "project_url", "project_urls",
    "provides_extra", "release_url", "requires_dist", "requires_python", "summary", "version",
    "yanked", "yanked_reason",
}  # fmt: skip


def today(world: LabClient) -> None:
    answer = world.call("PUT", "/lab/world", json={"simple_api": "today"})
    assert (answer.status_code, answer.json()) == (
        200,
        {"public_scheme": "http", "simple_api": "today"},
    )


@pytest.mark.parametrize(
    ("accept", "simple_api", "chosen"),
    [
        (PIP_ACCEPT, "2018", HTML),
        (PIP_ACCEPT, "today", V1_JSON),
        (None, "today", HTML),
        ("*/*", "today", HTML),
        ("text/html", "today", HTML),
        (V1_HTML, "today", V1_HTML),
        ("application/vnd.pypi.simple.latest+json", "today", V1_JSON),
        ("application/vnd.pypi.simple.latest+html", "today", V1_HTML),
        (f"{V1_JSON}; q=0.2, text/html; q=0.9", "today", HTML),
        (f"{V1_JSON}; q=0", "today", HTML),  # refused: the default
        ("application/json", "today", HTML),  # not offered: the default
        (f"{V1_JSON}; q=junk, text/html; q=0.5", "today", HTML),
        (f"{V1_HTML}, {V1_JSON}", "today", V1_JSON),  # equal quality: JSON first
    ],
)
def test_content_negotiation(accept: str | None, simple_api: str, chosen: str) -> None:
    assert negotiate(accept, simple_api) == chosen


def test_project_list_in_html_and_json(world: LabClient) -> None:
    names = sorted(p.name for p in default_catalog().projects.values())
    listed = world.get(f"{W}/simple/", headers={"Accept": PIP_ACCEPT})
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "text/html; charset=utf-8"
    assert "vary" not in listed.headers  # 2018: one representation
    assert listed.headers["x-pypi-last-serial"] == "1"
    links = "".join(f'    <a href="/simple/{n}/">{n}</a>\n' for n in names)
    assert listed.text == (
        "<!DOCTYPE html>\n<html>\n  <head>\n    <title>Simple index</title>\n  </head>\n"
        f"  <body>\n{links}  </body>\n</html>\n"
    )
    assert world.get(f"{L}/simple/").text == listed.text
    today(world)
    answer = world.get(f"{W}/simple/", headers={"Accept": PIP_ACCEPT})
    assert answer.headers["content-type"] == V1_JSON
    assert answer.headers["vary"] == "Accept"
    assert answer.json() == {
        "meta": {"_last-serial": 1, "api-version": "1.3"},
        "projects": [{"_last-serial": 1, "name": n} for n in names],
    }
    html = world.get(f"{W}/simple/")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert '<meta name="pypi:repository-version" content="1.3">' in html.text


@pytest.mark.parametrize(
    ("url", "location"),
    [
        (f"{W}/simple/sampleproject", f"{W}/simple/sampleproject/"),
        (f"{W}/simple/nope", f"{W}/simple/nope/"),  # the slash first, as PyPI; then 404
        (f"{L}/simple/sampleproject", f"{L}/simple/sampleproject/"),
        (f"{W}/simple/Hello_Lab", f"{W}/simple/Hello_Lab/"),  # then to the normalised name
        (f"{W}/simple/Hello_Lab/", f"{W}/simple/hello-lab/"),
        (f"{W}/simple/hello.lab/?x=1", f"{W}/simple/hello-lab/?x=1"),
        (f"{W}/pypi/SampleProject/json", f"{W}/pypi/sampleproject/json"),
        (f"{W}/pypi/SampleProject/1.3.1/json", f"{W}/pypi/sampleproject/1.3.1/json"),
        (f"{W}/project/SampleProject/", f"{W}/project/sampleproject/"),
        (f"{W}/project/sampleproject", f"{W}/project/sampleproject/"),
        (f"{W}/project/sampleproject/1.3.1", f"{W}/project/sampleproject/1.3.1/"),
    ],
)
def test_pypi_redirects(world: LabClient, url: str, location: str) -> None:
    answer = world.get(url)
    assert (answer.status_code, answer.headers["location"]) == (301, location)


@pytest.mark.parametrize(
    "path",
    [
        "/simple/nope/",
        "/simple/sampleproject/extra",
        "/pypi/nope/json",
        "/pypi/sampleproject/9.9/json",
        "/project/nope/",
        "/project/sampleproject/9.9/",
        "/project/sampleproject/1.3.1/x",
        "/elsewhere",
    ],
)
def test_unknown_index_paths_are_404(world: LabClient, path: str) -> None:
    answer = world.get(f"{W}{path}")
    assert answer.status_code == 404
    if path.startswith("/pypi/"):
        assert answer.json() == {"message": "Not Found"}


def test_simple_page_declares_requires_python_and_yanked(world: LabClient) -> None:
    project = default_catalog().project("lab-versions")
    assert project is not None
    one, yanked, two = project.files
    page = world.get(f"{W}/simple/lab-versions/", headers={"Accept": PIP_ACCEPT})
    assert page.headers["content-type"] == "text/html; charset=utf-8"

    def href(f: PackageFile) -> str:
        return f"http://{FILES_HOST}{f.url_path}#sha256={f.sha256}"

    assert page.text == (
        "<!DOCTYPE html>\n<html>\n  <head>\n    <title>Links for lab-versions</title>\n"
        "  </head>\n  <body>\n    <h1>Links for lab-versions</h1>\n"
        f'    <a href="{href(one)}" data-requires-python="&gt;=3.8">{one.filename}</a><br/>\n'
        f'    <a href="{href(yanked)}" data-yanked="broken build, use 1.0">'
        f"{yanked.filename}</a><br/>\n"
        f'    <a href="{href(two)}" data-requires-python="&gt;=3.99">{two.filename}</a><br/>\n'
        "  </body>\n</html>\n"
    )
    today(world)
    answer = world.get(f"{W}/simple/lab-versions/", headers={"Accept": PIP_ACCEPT})
    assert (answer.status_code, answer.headers["content-type"]) == (200, V1_JSON)

    def entry(f: PackageFile, requires: str | None, yank: bool | str) -> dict[str, object]:
        return {
            "core-metadata": False,
            "data-dist-info-metadata": False,
            "filename": f.filename,
            "hashes": {"sha256": f.sha256},
            "provenance": None,
            "requires-python": requires,
            "size": f.size,
            "upload-time": "2018-04-16T12:00:00.000000Z",
            "url": f"http://{FILES_HOST}{f.url_path}",
            "yanked": yank,
        }

    assert answer.json() == {
        "files": [
            entry(one, ">=3.8", False),
            entry(yanked, None, "broken build, use 1.0"),
            entry(two, ">=3.99", False),
        ],
        "meta": {"_last-serial": 1, "api-version": "1.3"},
        "name": "lab-versions",
        "versions": ["1.0", "1.1", "2.0"],
    }
    legacy = world.get(f"{L}/simple/lab-versions/", headers={"Accept": V1_JSON}).json()
    assert legacy["files"][0]["url"] == f"{L}{one.url_path}"  # legacy links to itself


def test_json_api_info_has_every_pypi_field(world: LabClient) -> None:
    payload = world.get(f"{W}/pypi/lab-versions/json").json()
    assert set(payload) == {"info", "last_serial", "releases", "urls", "vulnerabilities"}
    info = payload["info"]
    assert set(info) == PYPI_INFO_FIELDS
    assert (info["name"], info["version"], info["requires_python"]) == (
        "lab-versions",
        "2.0",
        ">=3.99",
    )
    assert info["release_url"] == f"{W}/project/lab-versions/2.0/"
    assert info["classifiers"] == [
        "License :: OSI Approved :: MIT License",
        "Programming Language :: Python :: 3",
    ]
    assert info["project_urls"] == {"Homepage": "https://example.invalid/"}
    assert (info["author"], info["license"], info["yanked"]) == ("The cutover lab", "MIT", False)
    assert list(payload["releases"]) == ["1.0", "1.1", "2.0"]
    assert [u["filename"] for u in payload["urls"]] == ["lab_versions-2.0-py3-none-any.whl"]
    yanked = world.get(f"{W}/pypi/lab-versions/1.1/json").json()
    assert set(yanked) == {"info", "last_serial", "urls", "vulnerabilities"}  # no releases
    assert (yanked["info"]["yanked"], yanked["info"]["yanked_reason"]) == (
        True,
        "broken build, use 1.0",
    )
    (url,) = yanked["urls"]
    assert (url["yanked"], url["yanked_reason"], url["requires_python"]) == (
        True,
        "broken build, use 1.0",
        None,
    )


def test_project_pages(world: LabClient) -> None:
    page = world.get(f"{W}/project/sampleproject/")
    assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert "<title>sampleproject · PyPI</title>" in page.text
    assert "<pre>pip install sampleproject==1.3.1</pre>" in page.text
    old = world.get(f"{W}/project/lab-versions/1.0/")
    assert old.status_code == 200 and "<h1>lab-versions 1.0</h1>" in old.text
    assert "lab_versions-1.0-py3-none-any.whl" in old.text
    assert "lab_versions-2.0" not in old.text


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"simple_api": "2019"}, 400, "simple_api must be '2018' (HTML only) or 'today'"),
        ({"public_scheme": "ftp"}, 400, "public_scheme must be 'http' or 'https'"),
        ({}, 400, "give public_scheme and/or simple_api"),
    ],
)
def test_world_settings_are_checked(
    world: LabClient, body: dict[str, str], status: int, message: str
) -> None:
    answer = world.call("PUT", "/lab/world", json=body)
    assert answer.status_code == status
    assert message in answer.text
    assert world.ok("GET", "/lab/state")["simple_api"] == "2018"  # nothing changed


def test_simple_api_setting_persists_and_defaults_to_2018() -> None:
    from cutover.lab.scenarios import SCENARIOS

    state = SCENARIOS["pypi-2018"].build()
    assert state.simple_api == "2018"
    state.simple_api = "today"
    assert LabState.from_json(json.loads(json.dumps(state.to_json()))).simple_api == "today"
    older = state.to_json()
    del older["simple_api"]  # a state file written before the setting existed
    assert LabState.from_json(older).simple_api == "2018"


def test_warm_puts_the_warm_set_back(world: LabClient) -> None:
    assert world.ok("POST", "/lab/purge")["status"] == "ok"
    assert world.ok("GET", "/lab/state")["caches"]["cache-lab-edge1"] == 0
    warmed = world.ok("POST", "/lab/warm")
    assert warmed == {"status": "ok", "warmed": len(default_catalog().files)}
    assert world.ok("GET", "/lab/state")["caches"]["cache-lab-edge1"] == len(
        default_catalog().files
    )
    wheel = world.file("sampleproject-1.3.1-py2.py3-none-any.whl")
    assert world.get(world.hash_url(wheel)).headers["x-cache"] == "MISS, HIT"


@pytest.mark.parametrize("project", ["sampleproject", "peppercorn", "hello-lab"])
def test_sdists_build_with_their_in_tree_backend(tmp_path: Path, project: str) -> None:
    """PEP 517 as a frontend drives it, in a fresh interpreter: the backend comes from
    ``backend-path``, requires nothing, and builds a wheel whose RECORD is right."""
    sdist = next(
        f for f in default_catalog().files if f.project == project and f.packagetype == "sdist"
    )
    with tarfile.open(fileobj=io.BytesIO(sdist.content)) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / f"{project}-{sdist.version}"
    pyproject = (root / "pyproject.toml").read_text()
    assert pyproject.startswith(
        '[build-system]\nrequires = []\nbuild-backend = "lab_build"\n'
        'backend-path = ["_lab_build"]\n'
    )
    out = tmp_path / "dist"
    out.mkdir()
    hook = (
        "import sys; sys.path[:0] = ['_lab_build']; import lab_build; "
        "assert lab_build.get_requires_for_build_wheel() == []; "
        f"print(lab_build.build_wheel({str(out)!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", hook], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    module = project.replace("-", "_")
    assert done.stdout.strip() == f"{module}-{sdist.version}-py3-none-any.whl"
    with zipfile.ZipFile(out / done.stdout.strip()) as wheel:
        names = sorted(wheel.namelist())
        info = f"{module}-{sdist.version}.dist-info"
        assert names == sorted(
            [f"{module}/__init__.py", f"{info}/METADATA", f"{info}/WHEEL", f"{info}/RECORD"]
        )
        assert wheel.read(f"{info}/METADATA") == (root / "PKG-INFO").read_bytes()
        for line in wheel.read(f"{info}/RECORD").decode().splitlines():
            path, digest, _ = line.split(",")
            if digest:
                raw = hashlib.sha256(wheel.read(path)).digest()
                assert digest == "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
