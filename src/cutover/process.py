"""Who and where this process is, and whether another process still lives.

One small home for the facts the journal, the locks, the lab endpoint and the status
views all need: the host name, the user, and "is pid N alive on this host".
"""

from __future__ import annotations

import getpass
import os
import socket


def hostname() -> str:
    return socket.gethostname()


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def pid_alive(pid: int) -> bool:
    """Is a process with this pid running on this host?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive_here(host: str, pid: int) -> bool | None:
    """True/False for a process on this host; None when it is on another host."""
    if host != hostname():
        return None
    return pid_alive(pid)
