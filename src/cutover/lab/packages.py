"""The package files the lab serves: small, real, deterministic.

Each file is generated from a fixed recipe (a wheel is a real zip with a dist-info
``RECORD``; an sdist is a real gzip'd tarball), with fixed timestamps and no
compression in the zip, so the bytes and the sha256 digests are the same on every run
of one machine. The JSON API, the simple index, the conveyor and the object store all
read this one :class:`Catalog`.

Hash path layout (as on files.pythonhosted.org): ``sha256[:2]/sha256[2:4]/sha256[4:]/filename``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import tarfile
import zipfile
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources

_ZIP_TIME = (2018, 4, 16, 12, 0, 0)
_TAR_MTIME = 1523880000  # 2018-04-16T12:00:00Z

_HASH_PATH = re.compile(r"^/packages/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60}/[^/]+$")


def is_hash_path(path: str) -> bool:
    """Whether a URL path is a files.pythonhosted.org hash path."""
    return _HASH_PATH.match(path) is not None


def normalize_name(name: str) -> str:
    """PEP 503 normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class PackageFile:
    """One distribution file with its digests."""

    project: str
    version: str
    filename: str
    packagetype: str  #: ``bdist_wheel`` or ``sdist``
    python_version: str  #: ``py2.py3`` / ``py3`` for wheels, ``source`` for sdists
    content: bytes
    requires_python: str | None = None  #: PEP 345 ``Requires-Python`` (PEP 503 attribute)
    yanked: str | None = None  #: PEP 592: None = not yanked, else the reason ("" = none given)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @cached_property
    def md5(self) -> str:
        return hashlib.md5(self.content).hexdigest()  # PyPI still reports md5

    @cached_property
    def blake2b_256(self) -> str:
        return hashlib.blake2b(self.content, digest_size=32).hexdigest()

    @property
    def size(self) -> int:
        return len(self.content)

    @cached_property
    def hash_path(self) -> str:
        """``ab/cd/<60 hex>/filename``."""
        digest = self.sha256
        return f"{digest[:2]}/{digest[2:4]}/{digest[4:]}/{self.filename}"

    @cached_property
    def url_path(self) -> str:
        """The path on files.pythonhosted.org (and the object-store key, with ``/``)."""
        return f"/packages/{self.hash_path}"

    @property
    def conveyor_path(self) -> str:
        """The legacy-style path the conveyor redirects: ``/packages/<pyver>/<l>/<name>/<file>``."""
        return f"/packages/{self.python_version}/{self.project[0]}/{self.project}/{self.filename}"

    @property
    def content_type(self) -> str:
        return "application/zip" if self.filename.endswith(".whl") else "application/x-tar"


@dataclass(frozen=True)
class ProjectMeta:
    """The core metadata the JSON API's ``info`` reports beyond name, version, summary."""

    author: str = "The cutover lab"
    author_email: str = "lab@example.invalid"
    license: str = "MIT"
    home_page: str = "https://example.invalid/"
    keywords: str = "rehearsal lab"
    classifiers: tuple[str, ...] = (
        "License :: OSI Approved :: MIT License",
        "Programming Language :: Python :: 3",
    )
    requires_dist: tuple[str, ...] | None = None
    project_urls: tuple[tuple[str, str], ...] = (("Homepage", "https://example.invalid/"),)


@dataclass(frozen=True)
class Project:
    """A project: ``version`` is its latest release; ``files`` are those of every release."""

    name: str
    version: str
    summary: str
    files: tuple[PackageFile, ...]
    meta: ProjectMeta = field(default_factory=ProjectMeta)

    @property
    def versions(self) -> tuple[str, ...]:
        """Every release, in upload order (each once)."""
        return tuple(dict.fromkeys(f.version for f in self.files))

    def release(self, version: str) -> tuple[PackageFile, ...]:
        """The files of one release (empty when there is no such release)."""
        return tuple(f for f in self.files if f.version == version)


class Catalog:
    """All projects and files, indexed the ways the origins need."""

    def __init__(self, projects: tuple[Project, ...]) -> None:
        self.projects = {normalize_name(p.name): p for p in projects}
        self.files = tuple(f for p in projects for f in p.files)
        self._by_url_path = {f.url_path: f for f in self.files}

    def project(self, name: str) -> Project | None:
        return self.projects.get(normalize_name(name))

    def by_url_path(self, path: str) -> PackageFile | None:
        return self._by_url_path.get(path)

    def for_conveyor(
        self, python_version: str, letter: str, name: str, filename: str
    ) -> PackageFile | None:
        """What the conveyor finds for a legacy-style path, or None (it answers 404)."""
        project = self.project(name)
        if project is None or letter != project.name[0]:
            return None
        for f in project.files:
            if f.filename == filename and f.python_version == python_version:
                return f
        return None


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _metadata(name: str, version: str, summary: str, requires_python: str | None = None) -> bytes:
    requires = f"Requires-Python: {requires_python}\n" if requires_python else ""
    return (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n"
        f"Home-page: https://example.invalid/\nLicense: MIT\n{requires}"
    ).encode()


def _module_source(name: str, version: str) -> bytes:
    doc = f'"""{name}: a package file of the cutover rehearsal lab."""\n'
    return f'{doc}\n__version__ = "{version}"\n'.encode()


def build_wheel(
    name: str,
    version: str,
    summary: str,
    tag: str,
    build: str | None = None,
    *,
    requires_python: str | None = None,
    yanked: str | None = None,
) -> PackageFile:
    """A real (stored, uncompressed) wheel with METADATA, WHEEL and RECORD.

    ``build`` is a PEP 427 build tag (it starts with a digit): it makes files of one
    release distinct, with their own bytes and digests. ``requires_python`` goes into
    METADATA and the index; ``yanked`` (a reason) only into the index.
    """
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    members: list[tuple[str, bytes]] = [
        (f"{module}/__init__.py", _module_source(name, version) + _build_line(build)),
        (f"{dist_info}/METADATA", _metadata(name, version, summary, requires_python)),
        (
            f"{dist_info}/WHEEL",
            (
                "Wheel-Version: 1.0\nGenerator: cutover-lab\nRoot-Is-Purelib: true\n"
                f"Tag: {tag}-none-any\n"
            ).encode(),
        ),
    ]
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in members)
    record += f"{dist_info}/RECORD,,\n"
    members.append((f"{dist_info}/RECORD", record.encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path, data in members:
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    build_part = f"-{build}" if build else ""
    filename = f"{module}-{version}{build_part}-{tag}-none-any.whl"
    return PackageFile(
        name, version, filename, "bdist_wheel", tag, buffer.getvalue(), requires_python, yanked
    )


def _build_line(build: str | None) -> bytes:
    return f'__build__ = "{build}"\n'.encode() if build else b""


#: the in-tree PEP 517 backend every lab sdist carries (``backend-path``), so that pip's
#: default build isolation needs nothing from the index to build it
SDIST_BACKEND = "lab_build"


def _sdist_pyproject(name: str, version: str) -> bytes:
    return (
        f'[build-system]\nrequires = []\nbuild-backend = "{SDIST_BACKEND}"\n'
        'backend-path = ["_lab_build"]\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
    ).encode()


def build_sdist(name: str, version: str, summary: str) -> PackageFile:
    """A real gzip'd tarball with PKG-INFO, pyproject.toml, the module and its in-tree
    build backend (``_lab_build/lab_build.py``: PEP 517, standard library only)."""
    module = name.replace("-", "_")
    root = f"{name}-{version}"
    backend = resources.files("cutover.lab").joinpath(f"{SDIST_BACKEND}.py").read_bytes()
    members = [
        (f"{root}/PKG-INFO", _metadata(name, version, summary)),
        (f"{root}/pyproject.toml", _sdist_pyproject(name, version)),
        (f"{root}/_lab_build/{SDIST_BACKEND}.py", backend),
        (f"{root}/{module}/__init__.py", _module_source(name, version)),
    ]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for path, data in members:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = _TAR_MTIME
            info.mode = 0o644
            info.uname = info.gname = "lab"
            archive.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return PackageFile(name, version, f"{root}.tar.gz", "sdist", "source", packed.getvalue())


FLEET_FILES = 200  #: files in the latest release of ``lab-fleet``


def fleet_project() -> Project:
    """A project whose latest release has many files (build tags 1…200).

    A percentage ramp redirects a deterministic share of *paths*: with five files, 1 %
    of paths is most likely none of them. With 200, a 1 % stage redirects a few real
    files, as it would among PyPI's millions, so probes can see a 1 % stage misbehave.
    """
    summary = "Many builds of one release, for percentage ramps"
    files = tuple(
        build_wheel("lab-fleet", "2.0", summary, "py3", build=str(n))
        for n in range(1, FLEET_FILES + 1)
    )
    return Project("lab-fleet", "2.0", summary, files)


@cache
def default_catalog() -> Catalog:
    """The files of the pypi-2018 scenario (built once per process)."""
    projects = (
        Project(
            "sampleproject",
            "1.3.1",
            "A sample Python project",
            (
                build_wheel("sampleproject", "1.3.1", "A sample Python project", "py2.py3"),
                build_sdist("sampleproject", "1.3.1", "A sample Python project"),
            ),
        ),
        Project(
            "peppercorn",
            "0.6",
            "A library for converting a token stream into a data structure",
            (
                build_wheel("peppercorn", "0.6", "Token streams to data structures", "py3"),
                build_sdist("peppercorn", "0.6", "Token streams to data structures"),
            ),
        ),
        Project(
            "hello-lab",
            "1.0.0",
            "Says hello from the rehearsal lab",
            (build_sdist("hello-lab", "1.0.0", "Says hello from the rehearsal lab"),),
        ),
        fleet_project(),
        versions_project(),
    )
    return Catalog(projects)


def versions_project() -> Project:
    """A project whose releases a client must choose among: 2.0 requires a Python nobody
    has (PEP 503 ``data-requires-python``), 1.1 is yanked (PEP 592), so an unpinned
    install takes 1.0; ``==1.1`` still installs the yanked release, with a warning."""
    summary = "Releases for an installer to choose among"
    name = "lab-versions"
    return Project(
        name,
        "2.0",
        summary,
        (
            build_wheel(name, "1.0", summary, "py3", requires_python=">=3.8"),
            build_wheel(name, "1.1", summary, "py3", yanked="broken build, use 1.0"),
            build_wheel(name, "2.0", summary, "py3", requires_python=">=3.99"),
        ),
    )
