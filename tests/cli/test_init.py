"""``cutover init`` and ``cutover --version``: what an installed cutover brings without the
repository. The shipped examples are the repository's runbooks and checks, byte for byte."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cutover
from cutover.cli import init as init_cli
from cutover.cli.app import app
from cutover.errors import RunExit
from cutover.examples import EXAMPLES, README, example_files, relocate

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = Path(cutover.__file__).parent / "examples"
SHARED = ("runbooks", "checks")  #: folders the repository and the package both hold


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("folder", SHARED)
def test_the_repositorys_examples_are_the_shipped_ones(folder: str) -> None:
    in_repo = {p.name: p.read_bytes() for p in (ROOT / folder).glob("*.yml")}
    shipped = {p.name: p.read_bytes() for p in (PACKAGED / folder).glob("*.yml")}
    assert sorted(shipped) == sorted(in_repo)
    for name, content in in_repo.items():
        assert shipped[name] == content, (
            f"{folder}/{name} differs from src/cutover/examples/{folder}/{name}: copy it over"
        )


def test_every_shipped_file_belongs_to_an_example() -> None:
    used = {f for example in EXAMPLES.values() for f in example.files}
    shipped = {str(p.relative_to(PACKAGED)) for f in SHARED for p in (PACKAGED / f).glob("*")}
    assert shipped == used
    readmes = {p.stem for p in (PACKAGED / "readmes").glob("*.md")}
    assert readmes == set(EXAMPLES)
    assert ", ".join(EXAMPLES) == init_cli._NAMES


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_init_writes_an_example_that_validates(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "new" / "dir"
    code, out, err = invoke("init", name, target)
    assert code == RunExit.OK, err
    files = example_files(name)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == sorted(
        files
    )
    for relative, content in files.items():
        assert (target / relative).read_bytes() == content
        assert f"wrote {target / relative}\n" in out
    assert out.endswith(f"next: cd {target} && cutover validate {name}.yml, then see README.md\n")
    # not a repository: the runbook's own folder is its only include root
    monkeypatch.chdir(target)
    code, out, err = invoke("validate", *files.keys() - {README})
    assert (code, err) == (RunExit.OK, "")
    assert f"{name}.yml: ok (runbook, " in out


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_an_example_is_the_repositorys_files_with_the_example_directorys_paths(
    name: str,
) -> None:
    files = example_files(name)
    for packaged in EXAMPLES[name].files:
        repository = (ROOT / packaged).read_text(encoding="utf-8")
        written = files[relocate(packaged)].decode("utf-8")
        changed = [
            (a, b)
            for a, b in zip(repository.splitlines(), written.splitlines(), strict=True)
            if a != b
        ]
        # only the repository's paths differ: ../checks/ is checks/, runbooks/X.yml is X.yml
        for before, after in changed:
            assert "../checks/" in before or "runbooks/" in before
            assert after == before.replace("../checks/", "checks/").replace("runbooks/", "")


def test_init_into_the_current_directory_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("init")
    assert code == RunExit.OK, err
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.*")) == [
        "README.md", "checks/pypi-files.yml", "pypi-files.yml"
    ]  # fmt: skip


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("mine\n", encoding="utf-8")
    code, out, err = invoke("init", "pypi-files", tmp_path)
    assert (code, out) == (RunExit.INVALID, "")
    assert err == (
        f"error: {tmp_path / 'README.md'}: already there (nothing written)\n"
        f"  hint: choose an empty directory, or overwrite with: cutover init pypi-files"
        f" {tmp_path} --force\n"
    )
    assert readme.read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]  # nothing else written
    code, _, err = invoke("init", "pypi-files", tmp_path, "--force")
    assert code == RunExit.OK, err
    assert readme.read_bytes() == example_files("pypi-files")[README]


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("pypi-file", "did you mean 'pypi-files'?"),
        ("nginx", "did you mean 'nginx-switch'?"),
        (
            "zzz",
            "expected one of: haproxy-ramp, nginx-switch, pypi-2018-replay, pypi-files,"
            " varnish-switch",
        ),
    ],
)
def test_an_unknown_example_is_invalid_input(name: str, hint: str, tmp_path: Path) -> None:
    code, out, err = invoke("init", name, tmp_path / "x")
    assert (code, out) == (RunExit.INVALID, "")
    assert err == f"error: no example named {name!r}\n  hint: {hint}\n"
    assert not (tmp_path / "x").exists()


def test_version_comes_from_the_package_metadata() -> None:
    code, out, _ = invoke("--version")
    assert code == 0
    assert out == f"cutover {importlib.metadata.version('cutover')}\n"
    assert importlib.metadata.version("cutover") == cutover.__version__
