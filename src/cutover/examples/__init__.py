"""The examples ``cutover init`` writes: runbooks, checks and a README, shipped as package data.

The files under ``runbooks/`` and ``checks/`` here are the repository's own ``runbooks/``
and ``checks/`` (a test asserts they are identical), so an installed cutover, without the
repository, can still write the example a README or a doc names.

In the repository a runbook includes ``../checks/…``: that is inside the repository (an
include root, :mod:`cutover.runbook.includes`). An example directory is usually not a
repository, so its include root is the runbook's own folder: the runbook is written at
the top of the directory, the checks under ``checks/``, and the repository's paths in the
runbooks' text are rewritten to match (:func:`relocate`), so it validates and rehearses
as-is.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cutover.errors import InputError
from cutover.fileio import atomic_write
from cutover.hints import did_you_mean

README = "README.md"
#: the repository's paths in an example's text, and what they are in an example directory
LAYOUT = (("../checks/", "checks/"), ("runbooks/", ""))


@dataclass(frozen=True)
class Example:
    name: str
    summary: str
    files: tuple[str, ...]  #: paths in this package (and in the repository)

    @property
    def runbook(self) -> str:
        """The runbook's path in an example directory."""
        return relocate(self.files[0])


EXAMPLES: dict[str, Example] = {
    example.name: example
    for example in (
        Example(
            "pypi-files",
            "the careful PyPI cutover, rehearsed against the embedded lab (exit 0)",
            ("runbooks/pypi-files.yml", "checks/pypi-files.yml"),
        ),
        Example(
            "pypi-2018-replay",
            "the 2018 change as it was made: cutover rolls it back (exit 1)",
            ("runbooks/pypi-2018-replay.yml", "checks/pypi-files.yml"),
        ),
        Example(
            "nginx-switch",
            "move /files/ and /simple/ to a new backend behind an nginx you run",
            ("runbooks/nginx-switch.yml",),
        ),
        Example(
            "haproxy-ramp",
            "ramp /packages/ to a new backend behind an HAProxy you run, live through its map",
            ("runbooks/haproxy-ramp.yml",),
        ),
        Example(
            "varnish-switch",
            "move a hostname to a new backend behind a Varnish you run, by a VCL switch",
            ("runbooks/varnish-switch.yml",),
        ),
    )
}


def _packaged(relative: str) -> bytes:
    return resources.files(__name__).joinpath(relative).read_bytes()


def relocate(text: str) -> str:
    """``text`` (a path, or a file's content) with the repository's paths made the example
    directory's."""
    for repository, example in LAYOUT:
        text = text.replace(repository, example)
    return text


def example_files(name: str) -> dict[str, bytes]:
    """``{path in the example directory: content}`` of the example ``name``, README last."""
    example = find_example(name)
    files = {
        relocate(packaged): relocate(_packaged(packaged).decode("utf-8")).encode("utf-8")
        for packaged in example.files
    }
    files[README] = _packaged(f"readmes/{name}.md")
    return files


def find_example(name: str) -> Example:
    if name not in EXAMPLES:
        raise InputError(f"no example named {name!r}", hint=did_you_mean(name, EXAMPLES))
    return EXAMPLES[name]


def write_example(name: str, directory: Path, *, force: bool = False) -> list[Path]:
    """Write the example ``name`` into ``directory``; the paths written, in order.

    Refuses (and writes nothing) when a file it would write exists, unless ``force``.
    """
    files = example_files(name)
    targets = {directory / relative: content for relative, content in files.items()}
    existing = [path for path in targets if path.exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing)
        raise InputError(
            f"{shown}: already there (nothing written)",
            hint=f"choose an empty directory, or overwrite with: cutover init {name} "
            f"{directory} --force",
        )
    for path, content in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, content, mode=0o644)
    return list(targets)
