"""Every relative link in README.md, CHANGELOG.md and docs/*.md resolves.

A link is a markdown inline link ``[text](target)``, a reference definition
``[name]: target``, or a bare ``page.md#anchor`` in prose. Its path must name an existing
file or directory (relative to the page), and its ``#anchor`` a heading of the target
page, slugged as GitHub does. Links to other sites (``scheme:``) are not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
INLINE = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
BARE = re.compile(r"(?<![\w/(.#-])((?:[\w.-]+/)*[\w.-]+\.md#[\w-]+)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class Link:
    page: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}: {self.target}"


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def links(page: Path) -> list[Link]:
    found = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        reference = REFERENCE.match(line)
        if reference is not None:
            targets = [reference.group(1)]
        else:
            targets = [m.group(1) for m in INLINE.finditer(line)]
            targets += [m.group(1) for m in BARE.finditer(INLINE.sub("", line))]
        found += [Link(page, number, t) for t in targets if not SCHEME.match(t)]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed
    (letters, digits, ``-`` and ``_`` kept), each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[*~]", "", text).lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor; repeated slugs get ``-1``, ``-2``… as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def problem(link: Link) -> str | None:
    """Why ``link`` does not resolve, or None when it does."""
    path, _, anchor = link.target.partition("#")
    target = (link.page.parent / path).resolve() if path else link.page
    if not target.exists():
        return f"{link}: no such file {path}"
    if anchor and target.suffix == ".md" and anchor not in anchors(target):
        return f"{link}: no heading #{anchor} in {target.relative_to(ROOT)}"
    return None


ALL_LINKS = [link for page in PAGES for link in links(page)]


def test_the_pages_have_links() -> None:
    assert len(PAGES) >= 10
    assert len(ALL_LINKS) >= 20


@pytest.mark.parametrize("link", ALL_LINKS, ids=str)
def test_relative_link_resolves(link: Link) -> None:
    assert problem(link) is None, problem(link)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Exit codes", "exit-codes"),
        ("The lab across commands (`--env lab`)", "the-lab-across-commands---env-lab"),
        ("Rollback that fails", "rollback-that-fails"),
        ("What `cutover.testing` offers", "what-cutovertesting-offers"),
        ("Crash at every journal boundary: **kill -9**", "crash-at-every-journal-boundary-kill--9"),
        ("A [link](x.md) in it", "a-link-in-it"),
        ("snake_case and 2018-04-16", "snake_case-and-2018-04-16"),
        ("Résumé", "résumé"),
    ],
)
def test_slugs_follow_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_broken_links_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "b.md").write_text("# Title\n\n## Same\n\n## Same\n", encoding="utf-8")
    page = tmp_path / "a.md"
    page.write_text(
        "[ok](b.md#same-1) [gone](c.md) [bad](b.md#nope) see b.md#title and b.md#absent\n"
        "[self](#here)\n\n## Here\n\n```\n[in code](missing.md)\n```\n"
        "[ref]: b.md#same\n[web](https://example.org/x.md#y)\n",
        encoding="utf-8",
    )
    found = links(page)
    assert [link.target for link in found] == [
        "b.md#same-1", "c.md", "b.md#nope", "b.md#title", "b.md#absent", "#here", "b.md#same",
    ]  # fmt: skip
    assert [problem(link) for link in found] == [
        None,
        "a.md:1: c.md: no such file c.md",
        "a.md:1: b.md#nope: no heading #nope in b.md",
        None,
        "a.md:1: b.md#absent: no heading #absent in b.md",
        None,
        None,
    ]
