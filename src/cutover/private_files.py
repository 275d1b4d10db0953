"""State at rest is private: the one way cutover makes its state directories and files.

A state directory (the store's, ``logs/``, ``lab/``, and any missing folder above them that
cutover makes) is ``0700`` and every file in it (the
journal with its ``-wal`` and ``-shm``, run logs, the lab's state, a served lab's
endpoint) ``0600``, whatever the umask, with no instant at which it is wider: a directory
is made with mode ``0700`` (a umask only narrows it) and then set to exactly that; a file is
created by ``os.open`` with mode ``0600`` and set to exactly that through its descriptor.
An existing directory or file that is wider (made by an earlier version, or by hand) is
tightened, with a notice on stderr saying what was changed.

The host-wide lock directory is the exception, by design (:mod:`cutover.lock`): other
users must take and read its locks, so its records say only who holds what.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a directory of mode 0700; every missing directory above it is made 0700
    too (a state directory's folders are made before it in any order: ``STATE/lab``)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by another process just now
            directory.mkdir(mode=DIR_MODE)
            directory.chmod(DIR_MODE)  # exact, whatever the umask (which only ever narrowed it)
    if path not in missing:
        tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` exists as a file of mode 0600 (created empty, or an existing one tightened),
    in a directory of mode 0700."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        tighten(path, FILE_MODE)
        return path
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def tighten(path: Path, mode: int) -> None:
    """Take every permission beyond ``mode`` away from ``path`` (a file or a directory this
    user owns), with a notice. Left alone: a path of another user, and a shared directory
    (sticky, like ``/tmp``) named as a state directory: it is not cutover's to close."""
    with contextlib.suppress(FileNotFoundError):
        info = path.stat()
        current = stat.S_IMODE(info.st_mode)
        shared = stat.S_ISDIR(info.st_mode) and current & stat.S_ISVTX
        if current & ~mode == 0 or info.st_uid != os.getuid() or shared:
            return
        try:
            path.chmod(current & mode)
        except PermissionError:
            return
        now = current & mode
        sys.stderr.write(f"notice: {path} was open to others (mode {current:04o}); now {now:04o}\n")
