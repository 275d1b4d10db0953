"""Replacing a file atomically: the one way cutover writes a file a reader may be watching.

A temp file with a unique name beside the target (``.NAME.XXXX.tmp``, so an
``include dir/*.conf`` or a textfile collector never reads it), written, given its mode,
fsynced, renamed over the target, then the directory fsynced. A reader sees the old file or
the new one, never half of one; after a crash the file is one or the other.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, *, mode: int, keep_existing: bool = False) -> None:
    """Replace ``path`` with ``data`` (text is UTF-8) atomically, with file mode ``mode``.

    With ``keep_existing``, an existing file keeps its own mode and (when allowed) owner;
    ``mode`` is then for a new file only.
    """
    owner: tuple[int, int] | None = None
    if keep_existing:
        with contextlib.suppress(FileNotFoundError):
            old = path.stat()
            mode, owner = stat.S_IMODE(old.st_mode), (old.st_uid, old.st_gid)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if owner is not None:
                with contextlib.suppress(PermissionError):
                    os.fchown(handle.fileno(), *owner)
            os.fsync(handle.fileno())
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename or an unlink in ``directory`` durable (where the platform can)."""
    with contextlib.suppress(OSError):  # not every platform can fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
