"""``cutover exporter`` in its own process, on a free loopback port, for tests.

:func:`running_exporter` starts ``cutover exporter --port 0 ARGS`` (the real command),
reads the address from its first line, and on exit stops it with SIGTERM and checks that
it said so and exited 0::

    with running_exporter("--checks", checks, "--env", "lab", "--state-dir", lab.state_dir) as ex:
        httpx.get(ex.url("/probe"), params={"target": url, "module": "files-hit"})
        ex.address  # "127.0.0.1:PORT", for a Prometheus scrape job

Import it as ``cutover.testing.exporter`` (not re-exported by ``cutover.testing``).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cutover.testing.cli import STOP_TIMEOUT_S, cli_env, cutover_argv, stop_process
from cutover.testing.net import port_closed, wait_for

START_TIMEOUT_S = 60.0
_BANNER = re.compile(r"^cutover exporter: .* on http://(127\.0\.0\.1:\d+) ")


@dataclass
class ExporterProcess:
    process: subprocess.Popen[bytes]
    address: str  #: ``127.0.0.1:PORT``
    output: Path  #: its stdout and stderr (removed once it has stopped)
    final: str | None = None  #: what it printed, once it has stopped

    def url(self, path: str = "/") -> str:
        return f"http://{self.address}{path}"

    def log(self) -> str:
        """Its stdout and stderr so far (all of it once it has stopped)."""
        if self.final is not None:
            return self.final
        return self.output.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_exporter(*args: str | Path) -> Iterator[ExporterProcess]:
    """``cutover exporter --host 127.0.0.1 --port 0 ARGS`` until the block ends."""
    with tempfile.TemporaryDirectory(prefix="cutover-exporter-") as directory:
        output = Path(directory) / "exporter.log"
        argv = cutover_argv("exporter", "--host", "127.0.0.1", "--port", "0", *args)
        with output.open("wb") as out:
            process = subprocess.Popen(
                argv, env=cli_env(), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

        def banner() -> str | None:
            text = output.read_text(encoding="utf-8", errors="replace")
            found = _BANNER.match(text)
            if found is None and process.poll() is not None:
                raise AssertionError(f"cutover exporter exited {process.returncode}: {text}")
            return found.group(1) if found else None

        try:
            address = wait_for("cutover exporter's address", banner, START_TIMEOUT_S)
        except BaseException:
            stop_process(process)
            raise
        running = ExporterProcess(process, address, output)
        try:
            yield running
        finally:
            stop_process(process)
            running.final = running.log()
        if process.returncode != 0 or "cutover exporter stopped" not in running.log():
            raise AssertionError(f"cutover exporter exited {process.returncode}: {running.log()}")
        wait_for(f"port {address} to close", lambda: port_closed(address), STOP_TIMEOUT_S)
