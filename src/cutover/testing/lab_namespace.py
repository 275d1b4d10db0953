"""The lab as real clients see it: a private network and mount namespace in which
pypi.org, pypi.python.org and files.pythonhosted.org resolve to loopback and the lab
serves on port 80, so pip (or uv, curl, a browser) runs unmodified against it.

:class:`LabNamespace` creates the namespaces itself (``unshare --net --mount``: loopback
up, a private hosts file bind-mounted over ``/etc/hosts``; the host's own network and
hosts file are untouched), serves the lab there (``cutover lab serve --port 80``), and
runs commands inside (``nsenter``). It needs root (CI is root); :func:`unavailable`
says why it cannot run elsewhere. It stops only the processes it started; the
namespaces vanish with them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cutover.lab.hostnames import PUBLIC_HOSTS
from cutover.testing.cli import cli_env, cutover_argv, stop_process
from cutover.testing.net import wait_for

DATA_PORT = 80  #: the lab's data plane inside the namespace, where clients expect HTTP
API_PORT = 8081  #: the lab's API inside the namespace
START_TIMEOUT_S = 30.0
_TOOLS = ("unshare", "nsenter", "ip", "mount")

#: inside the namespace: a client call to the lab's API (method, path, JSON body), with the
#: endpoint file's URL and token; prints the status and the body
_API_CALL = """
import json, sys, urllib.error, urllib.request
endpoint = json.load(open(sys.argv[1]))
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
request = urllib.request.Request(endpoint["api_url"] + sys.argv[3], data=body,
    method=sys.argv[2], headers={"Fastly-Key": endpoint["token"],
    "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=10) as answer:
        print(answer.status, answer.read().decode())
except urllib.error.HTTPError as error:
    print(error.code, error.read().decode())
"""
#: inside the namespace: GET a URL following redirects (as a client would); prints the status
_GET = """
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as answer:
        answer.read()
        print(answer.status)
except urllib.error.HTTPError as error:
    print(error.code)
"""


def unavailable() -> str | None:
    """Why a lab namespace cannot be made here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root to create a network and mount namespace (CI runs as root)"
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)} (util-linux, iproute2)"
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "ip", "link", "set", "lo", "up"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if probe.returncode != 0:
        return f"cannot create a network namespace here: {probe.stderr.strip()}"
    return None


def hosts_file() -> str:
    """The namespace's ``/etc/hosts``: the lab's public hostnames on loopback."""
    return f"127.0.0.1 localhost\n127.0.0.1 {' '.join(PUBLIC_HOSTS)}\n::1 localhost\n"


class LabNamespace:
    """A namespace with the lab served on port 80 for ``state_dir``; a context manager.

    Commands given ``--state-dir STATE_DIR`` and run inside (:meth:`run`) attach to that
    lab, as they would to a real CDN.
    """

    def __init__(self, state_dir: Path, work_dir: Path) -> None:
        self.state_dir = state_dir
        self.work_dir = work_dir
        self.holder: subprocess.Popen[str] | None = None
        self.lab: subprocess.Popen[bytes] | None = None
        self.endpoint = state_dir / "lab" / "endpoint.json"

    def __enter__(self) -> LabNamespace:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        hosts = self.work_dir / "hosts"
        hosts.write_text(hosts_file())
        script = (
            f"ip link set lo up && mount --bind {hosts} /etc/hosts && echo ready"
            " && exec sleep 3600"
        )
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the namespace did not come up: {self.holder.communicate()[1]}")
        argv = cutover_argv(
            "lab", "serve", "--state-dir", self.state_dir,
            "--port", str(DATA_PORT), "--api-port", str(API_PORT),
        )  # fmt: skip
        with (self.work_dir / "lab-serve.log").open("wb") as log:
            self.lab = subprocess.Popen(
                self.enter(argv),
                env=cli_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for("the lab's endpoint file", self._published, START_TIMEOUT_S)

    def _published(self) -> bool:
        assert self.lab is not None
        if self.lab.poll() is not None:
            log = (self.work_dir / "lab-serve.log").read_text(errors="replace")
            raise RuntimeError(f"the lab exited {self.lab.returncode} early: {log[-2000:]}")
        try:
            info = json.loads(self.endpoint.read_text("utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(info, dict) and info.get("pid") == self.lab.pid

    def enter(self, argv: Sequence[str | Path], cwd: Path | None = None) -> list[str]:
        """``argv`` as run inside the namespace (nsenter execs it: same pid)."""
        assert self.holder is not None
        where = str(cwd or Path.cwd())
        return [
            "nsenter", "-t", str(self.holder.pid), "--net", "--mount", f"--wd={where}", "--",
            *(str(a) for a in argv),
        ]  # fmt: skip

    def run(
        self,
        argv: Sequence[str | Path],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace; ``env`` replaces the environment whole."""
        return subprocess.run(
            self.enter(argv, cwd),
            env=dict(env) if env is not None else cli_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        """A call to the lab's API from inside the namespace: (status, body)."""
        argv = [sys.executable, "-c", _API_CALL, str(self.endpoint), method, path]
        if body is not None:
            argv.append(json.dumps(body))
        done = self.run(argv, timeout=30)
        status, _, text = done.stdout.partition(" ")
        if done.returncode != 0 or not status.isdigit():
            raise RuntimeError(f"lab API {method} {path}: {done.stdout}{done.stderr}")
        return int(status), text.strip()

    def get(self, url: str) -> int:
        """GET ``url`` inside the namespace, following redirects: the final status."""
        done = self.run([sys.executable, "-c", _GET, url], timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"GET {url}: {done.stdout}{done.stderr}")
        return int(done.stdout.strip())

    def stop(self) -> None:
        if self.lab is not None:
            stop_process(self.lab)
            self.lab = None
        if self.holder is not None:
            stop_process(self.holder)
            for pipe in (self.holder.stdout, self.holder.stderr):
                if pipe is not None:
                    pipe.close()
            self.holder = None
