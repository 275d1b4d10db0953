"""One atomic write for every writer: unique temp name, fsync, rename; each caller's mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest

from cutover.fileio import atomic_write
from cutover.report.files import write_atomically


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "a.conf"
    atomic_write(target, "one\n", mode=0o644)
    atomic_write(target, b"two\n", mode=0o644)
    assert target.read_text() == "two\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.conf"]


@pytest.mark.parametrize(
    ("write", "mode"),
    [
        (lambda p: atomic_write(p, "x", mode=0o600), 0o600),
        (lambda p: atomic_write(p, "x", mode=0o640), 0o640),
        (lambda p: write_atomically(p, "x"), 0o644),  # reports: a collector reads them
    ],
)
def test_each_caller_gets_its_mode(
    tmp_path: Path, write: Callable[[Path], None], mode: int
) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    target.chmod(0o606)
    write(target)
    assert (target.read_text(), _mode(target)) == ("x", mode)


def test_keep_existing_keeps_the_files_mode_and_new_files_get_the_default(tmp_path: Path) -> None:
    old, new = tmp_path / "old.conf", tmp_path / "new.conf"
    old.write_text("a")
    old.chmod(0o640)
    atomic_write(old, "b", mode=0o644, keep_existing=True)
    atomic_write(new, "b", mode=0o644, keep_existing=True)
    assert (_mode(old), _mode(new)) == (0o640, 0o644)


def test_data_is_fsynced_before_the_rename(tmp_path: Path) -> None:
    target = tmp_path / "f"
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, Path.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(self: Path, other: Path) -> Path:
        calls.append("rename")
        return real_replace(self, other)

    with mock.patch("os.fsync", fsync), mock.patch.object(Path, "replace", replace):
        atomic_write(target, "x", mode=0o600)
    assert calls == ["fsync", "rename", "fsync"]  # the data, the rename, the directory


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    failing = mock.patch("os.fsync", side_effect=OSError(28, "No space left on device"))
    with failing, pytest.raises(OSError, match="No space"):
        atomic_write(target, "new", mode=0o600)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_no_writer_renames_a_temp_file_itself() -> None:
    """Every atomic replace in src goes through cutover.fileio (one home, fsync included)."""
    src = Path(__file__).resolve().parents[1] / "src" / "cutover"
    offenders = [
        str(path.relative_to(src))
        for path in sorted(src.rglob("*.py"))
        if path.name != "fileio.py"
        and any(word in path.read_text() for word in ("mkstemp", "os.replace", '.tmp"'))
    ]
    assert offenders == []
