"""Every hash-path probe in the shipped runbooks and checks files has the real shape.

A files.pythonhosted.org hash path is ``/packages/<2 hex>/<2 hex>/<60 hex>/<filename>``
(the file's sha256 split 2/2/60). A probe whose path only looks like one (58 hex
characters, say) is routed by the CDN to the conveyor, never to the object store, so it
passes where a well-formed path fails: the `missing` probe once did, and stayed OK after
the 2018 flip, when every well-formed missing path looped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cutover.lab.packages import is_hash_path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    p
    for folder in ("checks", "runbooks", "src/cutover/examples", "docs/examples")
    for p in (ROOT / folder).rglob("*.yml")
)
#: anything shaped /packages/<hex>/<hex>/<hex>/<name>: a hash path, or meant to be one
_LOOKS_LIKE = re.compile(r"/packages/[0-9a-f]+/[0-9a-f]+/[0-9a-f]{8,}/[^\s\"'/{}]+")


def hash_like_paths(text: str) -> list[str]:
    return _LOOKS_LIKE.findall(text)


@pytest.mark.parametrize(
    ("path", "real"),
    [
        (f"/packages/00/00/{'0' * 60}/missing-0.0.tar.gz", True),
        (f"/packages/00/00/{'0' * 58}/missing-0.0.tar.gz", False),  # main's old probe
        (f"/packages/00/00/{'0' * 61}/missing-0.0.tar.gz", False),
        (f"/packages/000/00/{'0' * 60}/missing-0.0.tar.gz", False),
        (f"/packages/00/0/{'0' * 60}/missing-0.0.tar.gz", False),
    ],
)
def test_the_detector_finds_each_malformed_shape(path: str, real: bool) -> None:
    assert hash_like_paths(f'url: "http://h{path}"') == [path]
    assert is_hash_path(path) is real


@pytest.mark.parametrize("file", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_hash_path_probe_has_the_real_shape(file: Path) -> None:
    malformed = [p for p in hash_like_paths(file.read_text()) if not is_hash_path(p)]
    assert malformed == [], f"{file}: not /packages/xx/yy/<60 hex>/file: {malformed}"


def test_the_missing_probe_is_a_well_formed_hash_path() -> None:
    found = hash_like_paths((ROOT / "checks" / "pypi-files.yml").read_text())
    assert found == [f"/packages/00/00/{'0' * 60}/missing-0.0.tar.gz"]
