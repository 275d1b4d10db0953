"""The real ``cutover`` command in a subprocess: its environment, a bounded run, stopping.

The subprocess imports the same ``cutover`` as the caller (its source directory is put
first on ``PYTHONPATH``) and inherits nothing that would change where it keeps state or
when it crashes on purpose.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cutover

#: the directory that holds the ``cutover`` package the caller imported
SOURCE = Path(cutover.__file__).resolve().parents[1]
#: variables of the caller that must not leak into a cutover subprocess
SCRUBBED = (
    "CUTOVER_TEST_CRASH_AT",
    "CUTOVER_STATE_DIR",
    "CUTOVER_STATE",
    "CUTOVER_LAB_TOKEN",
    "COLUMNS",
)
CLI_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 15.0


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a cutover subprocess: this cutover, no colour, ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env["PYTHONPATH"] = str(SOURCE) + os.pathsep + env.get("PYTHONPATH", "")
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def cutover_argv(*args: str | Path) -> list[str]:
    """``python -m cutover ARGS`` with this interpreter."""
    return [sys.executable, "-m", "cutover", *map(str, args)]


def run_cutover(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = CLI_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cutover ARGS`` to completion, bounded by ``timeout`` seconds.

    Without ``input``, stdin is closed (no TTY: gates need ``--yes``).
    """
    return subprocess.run(
        cutover_argv(*args),
        cwd=cwd,
        env=cli_env(env),
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_id_of(stdout: str) -> str:
    """The run id from the first line of ``cutover run`` (``run ID: RUNBOOK on ENV``, or
    with ``--log-format json`` a JSON object naming ``run_id``)."""
    first = stdout.splitlines()[0] if stdout else ""
    if first.startswith("{"):
        return str(json.loads(first)["run_id"])
    assert first.startswith("run "), f"no run line in: {stdout[:500]!r}"
    return first.split()[1].rstrip(":")


def kill_group(proc: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    """Signal a process started with ``start_new_session=True`` and all its children."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def stop_process(proc: subprocess.Popen[Any], *, group: bool = False) -> None:
    """SIGTERM a process we started (its whole session with ``group``), then SIGKILL it
    if it has not stopped within :data:`STOP_TIMEOUT_S`."""
    if proc.poll() is not None:
        return
    if group:
        kill_group(proc, signal.SIGTERM)
    else:
        proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        if group:
            kill_group(proc, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


def on_terminal(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    answers: Mapping[bytes, bytes] | None = None,
    timeout: float = CLI_TIMEOUT_S,
) -> tuple[int, str]:
    """Run ``python -m cutover ARGS`` on a pseudo-terminal (stdin, stdout and stderr):
    its exit code and everything it wrote. When the screen shows a key of ``answers``,
    its value is typed, once."""
    import pty
    import time

    master, slave = pty.openpty()
    term = {"TERM": "xterm", "COLUMNS": "120", **(env or {})}
    proc = subprocess.Popen(
        cutover_argv(*args), cwd=cwd, env=cli_env(term), stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    pending = dict(answers or {})
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:
                break  # the child closed the terminal
            if not data:
                break
            chunks.append(data)
            screen = b"".join(chunks)
            for prompt in [p for p in pending if p in screen]:
                os.write(master, pending.pop(prompt))
        code = proc.wait(timeout=STOP_TIMEOUT_S)
    finally:
        os.close(master)
        stop_process(proc)
    return code, b"".join(chunks).decode("utf-8", "replace")
