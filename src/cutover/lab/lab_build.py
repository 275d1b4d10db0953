"""The in-tree PEP 517 build backend of the lab's sdists (``backend-path``).

Every sdist the lab serves carries this file as ``_lab_build/lab_build.py`` and names it
in ``pyproject.toml`` with ``requires = []``, so pip's default build isolation installs
nothing from the index to build it (the index has no setuptools). Standard library only;
it builds a pure-Python wheel of the sdist's packages with its PKG-INFO as METADATA.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

_ROOT = Path.cwd()  # a PEP 517 frontend runs the backend in the sdist's root


def _metadata() -> tuple[str, str, bytes]:
    raw = (_ROOT / "PKG-INFO").read_bytes()
    fields = Parser().parsestr(raw.decode())
    return fields["Name"], fields["Version"], raw


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings: dict[str, Any] | None = None) -> list[str]:
    return []


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    """A wheel of every package directory (one with ``__init__.py``) but the backend's."""
    name, version, metadata = _metadata()
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    members: list[tuple[str, bytes]] = []
    for path in sorted(_ROOT.rglob("*.py")):
        relative = path.relative_to(_ROOT).as_posix()
        if not relative.startswith("_lab_build/") and (path.parent / "__init__.py").exists():
            members.append((relative, path.read_bytes()))
    wheel = b"Wheel-Version: 1.0\nGenerator: lab_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    members += [(f"{dist_info}/METADATA", metadata), (f"{dist_info}/WHEEL", wheel)]
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in members)
    members.append((f"{dist_info}/RECORD", (record + f"{dist_info}/RECORD,,\n").encode()))
    filename = f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / filename, "w") as archive:
        for member, data in members:
            archive.writestr(member, data)
    return filename
