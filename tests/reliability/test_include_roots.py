"""Includes stay inside the project and never echo a foreign file.

A hostile runbook names, in ``include:``, files it should never read or show: system files
by absolute path, ``../`` escapes, symbolic links (to a file or a folder) pointing out of
the project, a device, a named pipe, a folder; or a file inside the project that is not a
checks file (a list, a secrets file, plain text, invalid YAML) whose lines the schema
errors would quote. Each is one problem, located at the runbook's ``include:`` key, with
an exact message; no line of the foreign file reaches a problem, and ``cutover validate``
exits 2 with none of it on stdout or stderr.

Layout of each case: ``project/`` (a repository: it holds ``.git``) with the runbook in
``project/runbooks/`` and a real checks file in ``project/checks/``; ``outside/`` next to
it holds the same secret-bearing files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cutover.errors import DocumentError, Problem, RunExit
from cutover.runbook.includes import ROOTS_ENV
from cutover.runbook.loader import VarOverrides, check_runbook

SRC = Path(__file__).resolve().parents[2] / "src"
SECRET = "hunter2-NEVER-SHOWN"
OUTSIDE_HINT = (
    "move the checks file into the runbook's folder or repository, "
    f"or name its folder with --include-root DIR (or ${ROOTS_ENV})"
)
SHAPE_HINT = "if it is one, `cutover validate {}` shows its problems"
KIND_HINT = "name a checks file (a YAML file with `sets`)"

RUNBOOK = """\
version: 1
name: inc
environments:
  test: {{}}
probes:
  p: {{include: "{include}"}}
stages:
  - name: s
    probes: [p]
"""

CHECKS = "version: 1\nname: c\nsets:\n  p:\n    probes:\n      - url: http://127.0.0.1:1/x\n"

#: files whose lines must never be shown: name → content
FOREIGN = {
    "secrets.yml": f"DB_PASSWORD: {SECRET}\nAPI_KEY: {SECRET}\n",
    "list.yml": f"- {SECRET}\n- password: {SECRET}\n",
    "shadow": f"root:$6${SECRET}$hash:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n",
    "text": f"the password is {SECRET}\nand so on\n",
    "broken.yml": f"password: {SECRET}\n  - [{SECRET}: \t{{\n",
    "dupes.yml": f"{SECRET}: 1\n{SECRET}: 2\n",
    "near-miss.yml": f"version: 1\nname: {SECRET}\nsets: {SECRET}\n",
    "empty.yml": "",
}


@dataclass(frozen=True)
class Layout:
    project: Path
    runbooks: Path
    outside: Path


def _layout(tmp: Path) -> Layout:
    project, outside = tmp / "project", tmp / "outside"
    runbooks = project / "runbooks"
    for folder in (project / ".git", runbooks, project / "checks", outside):
        folder.mkdir(parents=True)
    (project / "checks" / "real.yml").write_text(CHECKS, encoding="utf-8")
    for name, content in FOREIGN.items():
        (runbooks / name).write_text(content, encoding="utf-8")
        (outside / name).write_text(content, encoding="utf-8")
    return Layout(project, runbooks, outside)


def _problems(layout: Layout, include: str, roots: tuple[Path, ...] = ()) -> list[Problem]:
    runbook = layout.runbooks / "inc.yml"
    runbook.write_text(RUNBOOK.format(include=include), encoding="utf-8")
    try:
        return check_runbook(runbook, VarOverrides(include_roots=roots))
    except DocumentError as exc:  # pragma: no cover - a document-level failure is a finding
        return exc.problems


def _prepare(layout: Layout, case: str) -> str:
    """Make what ``case`` needs inside the runbook's folder; the include it names."""
    rb, out = layout.runbooks, layout.outside
    if case == "symlink-file":
        (rb / "link.yml").symlink_to(out / "secrets.yml")
        return "link.yml"
    if case == "symlink-folder":
        (rb / "shared").symlink_to(out, target_is_directory=True)
        return "shared/secrets.yml"
    if case == "fifo":
        os.mkfifo(rb / "pipe.yml")
        return "pipe.yml"
    if case == "folder":
        (rb / "folder.yml").mkdir()
        return "folder.yml"
    raise AssertionError(case)


#: case → (the include, or a case for _prepare; the message after "INCLUDE: "; hint)
REFUSED: dict[str, tuple[str, str, str | None]] = {
    "absolute /etc/passwd": ("/etc/passwd", "outside", OUTSIDE_HINT),
    "absolute /etc/shadow": ("/etc/shadow", "outside", OUTSIDE_HINT),
    "absolute /dev/zero": ("/dev/zero", "outside", OUTSIDE_HINT),
    "absolute outside file": ("{outside}/secrets.yml", "outside", OUTSIDE_HINT),
    "../ escape": ("../../outside/secrets.yml", "outside", OUTSIDE_HINT),
    "../ escape of a list": ("../../outside/list.yml", "outside", OUTSIDE_HINT),
    "deep ../ escape": ("../" * 40 + "etc/passwd", "outside", OUTSIDE_HINT),
    "symlink to a file outside": ("@symlink-file", "outside", OUTSIDE_HINT),
    "symlink to a folder outside": ("@symlink-folder", "outside", OUTSIDE_HINT),
    "named pipe": (
        "@fifo",
        "is a named pipe (FIFO); cutover does not open it (reading would wait forever)",
        KIND_HINT,
    ),
    "folder": ("@folder", "is a directory, not a checks file", KIND_HINT),
    "secrets mapping": (
        "secrets.yml",
        "not a checks file: 2 of its top-level keys are not checks file keys",
        "shape",
    ),
    "YAML list": ("list.yml", "not a checks file: its top level is a list, not a mapping", "shape"),
    # `...:7:::` ends with a colon: each line is a key, as the attack's "unknown key" showed
    "a shadow file": (
        "shadow",
        "not a checks file: 2 of its top-level keys are not checks file keys",
        "shape",
    ),
    "plain text": (
        "text",
        "not a checks file: its top level is text, not a mapping",
        "shape",
    ),
    "invalid YAML": (
        "broken.yml",
        "not a checks file: it cannot be read as YAML (line 2, column 25)",
        "shape",
    ),
    "duplicate keys": (
        "dupes.yml",
        "not a checks file: it cannot be read as YAML (line 2, column 1)",
        "shape",
    ),
    "sets is not a mapping": (
        "near-miss.yml", "not a checks file: it has no `sets` mapping", "shape"
    ),
    "empty file": (
        "empty.yml", "not a checks file: its top level is empty, not a mapping", "shape"
    ),
}  # fmt: skip


def _expected(layout: Layout, case: str) -> tuple[str, str, str | None]:
    raw, message, hint = REFUSED[case]
    include = raw.format(outside=layout.outside)
    if include.startswith("@"):
        include = _prepare(layout, include[1:])
    if message == "outside":
        message = (
            "outside the folders an include may read from "
            f"({layout.runbooks.resolve()}, {layout.project.resolve()})"
        )
    if hint == "shape":
        hint = SHAPE_HINT.format(layout.runbooks.resolve() / include)
    return include, f"{include}: {message}", hint


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_forbidden_include_is_one_located_problem_quoting_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    layout = _layout(tmp_path)
    include, message, hint = _expected(layout, case)
    problems = _problems(layout, include)
    found = [(p.line, p.column, p.path, p.message, p.hint) for p in problems]
    assert found == [(6, 16, "probes.p.include", message, hint)]
    assert problems[0].file.endswith("inc.yml")
    assert all(SECRET not in p.render() for p in problems)


@pytest.mark.parametrize(
    "case", ["absolute /etc/shadow", "symlink to a folder outside", "named pipe", "secrets mapping"]
)
def test_validate_exits_2_and_prints_no_foreign_line(tmp_path: Path, case: str) -> None:
    layout = _layout(tmp_path)
    include, message, _ = _expected(layout, case)
    runbook = layout.runbooks / "inc.yml"
    runbook.write_text(RUNBOOK.format(include=include), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(SRC), NO_COLOR="1")
    env.pop(ROOTS_ENV, None)
    proc = subprocess.run(
        [sys.executable, "-m", "cutover", "validate", str(runbook)],
        cwd=SRC.parent, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == RunExit.INVALID, proc.stdout + proc.stderr
    assert f"inc.yml:6:16: probes.p.include: {message}" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_device_and_its_own_message_when_its_folder_is_a_root(tmp_path: Path) -> None:
    """``--include-root /dev`` lets ``/dev/zero`` past the roots: its kind still refuses it,
    unread (reading it would never end)."""
    layout = _layout(tmp_path)
    problems = _problems(layout, "/dev/zero", roots=(Path("/dev"),))
    found = [(p.line, p.column, p.path, p.message, p.hint) for p in problems]
    message = "/dev/zero: is a device, not a checks file; cutover does not read it"
    assert found == [(6, 16, "probes.p.include", message, KIND_HINT)]


@pytest.mark.parametrize("how", ["option", "environment", "repository", "symlink inside"])
def test_an_include_inside_a_root_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The checks file outside the runbook's folder is read when its folder is a root:
    named by ``--include-root``, by ``$CUTOVER_INCLUDE_ROOTS``, or (``../checks``, like the
    shipped runbooks) the repository holding the runbook; a symlink resolving inside is
    followed."""
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    layout = _layout(tmp_path)
    (layout.outside / "real.yml").write_text(CHECKS, encoding="utf-8")
    roots: tuple[Path, ...] = ()
    include = f"{layout.outside}/real.yml"
    if how == "option":
        roots = (layout.outside,)
    elif how == "environment":
        monkeypatch.setenv(ROOTS_ENV, f"/nonexistent{os.pathsep}{layout.outside}")
    elif how == "repository":
        include = "../checks/real.yml"
    else:
        (layout.runbooks / "here.yml").symlink_to(layout.project / "checks" / "real.yml")
        include = "here.yml"
    assert _problems(layout, include, roots) == []


def test_the_same_include_without_the_repository_is_refused(tmp_path: Path) -> None:
    """Without ``.git`` the runbook's folder alone is the root: ``../checks`` is outside."""
    layout = _layout(tmp_path)
    (layout.project / ".git").rmdir()
    problems = _problems(layout, "../checks/real.yml")
    assert [p.message for p in problems] == [
        "../checks/real.yml: outside the folders an include may read from "
        f"({layout.runbooks.resolve()})"
    ]


def test_include_root_on_the_command_line(tmp_path: Path) -> None:
    """``validate --include-root DIR`` admits a checks file in DIR; without it, exit 2."""
    layout = _layout(tmp_path)
    (layout.outside / "real.yml").write_text(CHECKS, encoding="utf-8")
    runbook = layout.runbooks / "inc.yml"
    runbook.write_text(RUNBOOK.format(include=f"{layout.outside}/real.yml"), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(SRC), NO_COLOR="1")
    env.pop(ROOTS_ENV, None)

    def validate(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cutover", "validate", str(runbook), *extra],
            cwd=SRC.parent, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    refused = validate()
    assert refused.returncode == RunExit.INVALID
    assert "probes.p.include" in refused.stderr and "--include-root DIR" in refused.stderr
    admitted = validate("--include-root", str(layout.outside))
    assert admitted.returncode == RunExit.OK, admitted.stderr
    assert f"{runbook}: ok (runbook, 1 stages, 0 steps, environments: test)" in admitted.stdout
