"""Origins and package files: real archives, digests the JSON API reports, redirect ramp."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile

from hypothesis import given
from hypothesis import strategies as st

from cutover.lab.hostnames import FILES_HOST, LEGACY_HOST, WAREHOUSE_HOST
from cutover.lab.messages import Request
from cutover.lab.objectstore import ObjectStore, sign_request
from cutover.lab.packages import (
    FLEET_FILES,
    build_sdist,
    build_wheel,
    default_catalog,
    is_hash_path,
)
from cutover.lab.scenarios import path_bucket


def test_files_are_real_archives_and_deterministic():
    catalog = default_catalog()
    assert len(catalog.files) == 5 + FLEET_FILES + 3  # + lab-versions 1.0, 1.1, 2.0
    assert len({f.sha256 for f in catalog.files}) == len(catalog.files)
    for f in catalog.files:
        assert is_hash_path(f.url_path)
        assert f.hash_path == f"{f.sha256[:2]}/{f.sha256[2:4]}/{f.sha256[4:]}/{f.filename}"
        if f.filename.endswith(".whl"):
            archive = zipfile.ZipFile(io.BytesIO(f.content))
            assert archive.testzip() is None
            record = next(n for n in archive.namelist() if n.endswith("/RECORD"))
            for line in archive.read(record).decode().splitlines():
                path, digest, _size = line.split(",")
                if digest:
                    raw = hashlib.sha256(archive.read(path)).digest()
                    assert digest == "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        else:
            with tarfile.open(fileobj=io.BytesIO(f.content)) as archive:
                names = archive.getnames()
            assert f"{f.project}-{f.version}/PKG-INFO" in names
    again = build_wheel("peppercorn", "0.6", "Token streams to data structures", "py3")
    assert again.sha256 == catalog.project("peppercorn").files[0].sha256
    assert (
        build_sdist("hello-lab", "1.0.0", "x").sha256
        == build_sdist("hello-lab", "1.0.0", "x").sha256
    )


def test_json_api_shape(world):
    payload = world.get(f"http://{WAREHOUSE_HOST}/pypi/sampleproject/json").json()
    assert payload["info"]["name"] == "sampleproject"
    assert payload["info"]["version"] == "1.3.1"
    by_name = {u["filename"]: u for u in payload["urls"]}
    for f in world.catalog.project("sampleproject").files:
        entry = by_name[f.filename]
        assert entry["url"] == f"http://{FILES_HOST}{f.url_path}"
        assert entry["digests"]["sha256"] == f.sha256
        assert entry["digests"]["md5"] == f.md5
        assert entry["size"] == f.size
        assert entry["packagetype"] == f.packagetype
    assert payload["releases"] == {"1.3.1": payload["urls"]}
    missing = world.get(f"http://{WAREHOUSE_HOST}/pypi/nope/json")
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})


def test_simple_index_normalises_and_legacy_links_to_itself(world):
    redirect = world.get(f"http://{WAREHOUSE_HOST}/simple/Hello_Lab/")
    assert redirect.status_code == 301
    assert redirect.headers["location"] == f"http://{WAREHOUSE_HOST}/simple/hello-lab/"
    legacy = world.get(f"http://{LEGACY_HOST}/simple/hello-lab/")
    f = world.file("hello-lab-1.0.0.tar.gz")
    assert f'href="http://{LEGACY_HOST}{f.url_path}#sha256={f.sha256}"' in legacy.text
    served = world.get(f"http://{LEGACY_HOST}{f.url_path}")
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == f.sha256


def test_conveyor_redirects_known_files_and_404s_the_rest(world):
    f = world.file("peppercorn-0.6.tar.gz")
    found = world.get(f"http://{FILES_HOST}/packages/source/p/peppercorn/peppercorn-0.6.tar.gz")
    assert found.status_code == 302
    assert found.headers["location"] == f"http://{FILES_HOST}{f.url_path}"
    for path in (
        "/packages/source/x/peppercorn/peppercorn-0.6.tar.gz",
        "/packages/py3/p/peppercorn/peppercorn-0.6.tar.gz",
        "/packages/source/p/peppercorn/peppercorn-9.9.tar.gz",
        "/packages/junk",
    ):
        assert world.get(f"http://{FILES_HOST}{path}").status_code == 404


def test_object_store_checks_host_and_signature():
    store = ObjectStore(default_catalog())
    f = default_catalog().files[0]
    signed = sign_request(Request("GET", f.url_path, headers={"host": FILES_HOST}))
    assert signed.headers["host"] == "pypi-files.s3.amazonaws.com"
    ok = store.handle(signed)
    assert (ok.status, ok.body) == (200, f.content)
    wrong_host = store.handle(signed.with_headers(host=FILES_HOST))
    assert (wrong_host.status, b"NoSuchBucket" in wrong_host.body) == (404, True)
    unsigned = store.handle(Request("GET", f.url_path, headers={"host": signed.headers["host"]}))
    assert (unsigned.status, b"AccessDenied" in unsigned.body) == (403, True)
    tampered = store.handle(signed.with_headers(date="Mon, 16 Apr 2018 15:00:00 GMT"))
    assert (tampered.status, b"SignatureDoesNotMatch" in tampered.body) == (403, True)
    other_path = sign_request(Request("GET", "/packages/aa/bb/x/none.whl", headers={}))
    missing = store.handle(other_path)
    assert (missing.status, b"NoSuchKey" in missing.body) == (404, True)


@given(st.text(min_size=1, max_size=80), st.integers(0, 100), st.integers(0, 100))
def test_redirect_ramp_only_adds_paths(path, low, high):
    low, high = sorted((low, high))
    bucket = path_bucket("/" + path)
    assert 0 <= bucket < 100
    if bucket < low:
        assert bucket < high  # a path redirected at 10 % stays redirected at 50 %


def test_percentage_and_prefixes(world):
    world.set_redirect(mode="301", percent="50", prefixes="/simple/,/pypi/")
    names = [f"/simple/p{i}/" for i in range(200)]
    redirected = [n for n in names if world.get(f"http://{LEGACY_HOST}{n}").status_code == 301]
    assert redirected == [n for n in names if path_bucket(n) < 50]
    assert 60 < len(redirected) < 140
    assert world.get(f"http://{LEGACY_HOST}/").status_code == 200  # not under a prefix


def test_fleet_puts_real_files_in_every_ramp_bucket():
    """A 1 % ramp must redirect at least one real file, or probes could not see it."""
    fleet = default_catalog().project("lab-fleet")
    assert fleet is not None
    buckets = [path_bucket(f.url_path) for f in fleet.files]
    assert [sum(b < pct for b in buckets) for pct in (1, 10, 50, 100)] == [1, 24, 101, 200]
