"""An nginx backend's rehearsal: the server's configuration, copied, run on loopback.

1. ``nginx -T`` (the backend's own ``test_command`` with ``-T`` for ``-t``) lists every
   file of the running configuration; each is read (never written) and copied below a
   private root, with the main configuration's directory copied whole (certificates,
   maps and snippets it refers to) and the managed file too.
2. Paths inside the copies that name copied directories are rewritten to the copy;
   ``listen`` sockets become ``127.0.0.1:<free port>`` (one per original port; IPv6 and
   unix sockets are left out and said so); ``pid``, logs and temporary files go to the
   private root, so the copy shares nothing writable with production.
3. A private nginx master runs the copy (our child, not daemonised) until the dry run
   ends; the backend's ``file``, ``test_command`` and ``reload_command`` point at it, and
   probes reach it through ``host:port`` resolve entries for each original port.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path, PurePosixPath

from cutover.actions.shell import run_command
from cutover.dryrun.copies import Copy, Need, NotRehearsable
from cutover.runbook.backends import NginxSettings

MAX_FILES = 2_000  #: a configuration directory larger than this is not copied
MAX_BYTES = 64 * 1024 * 1024
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0

_HEADER = re.compile(r"^# configuration file (?P<path>/[^\n]*):\n", re.MULTILINE)
_LISTEN = re.compile(r"(?m)^(?P<indent>[ \t]*)listen[ \t]+(?P<addr>[^\s;]+)(?P<rest>[^;]*);")
_RUNTIME = re.compile(r"(?m)^[ \t]*(?:pid|daemon|lock_file)[ \t][^;]*;")
_LOG = re.compile(r"(?m)^(?P<head>[ \t]*(?:error_log|access_log)[ \t]+)(?P<path>/[^\s;]+)")
_TEMPS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_SERVER_NAME = re.compile(r"(?m)^[ \t]*server_name[ \t]+([^;]+);")


def rehearse(need: Need, stack: ExitStack) -> Copy:
    settings = need.settings
    assert isinstance(settings, NginxSettings)
    binary, options = _nginx_command(settings.test_command, need.backend)
    files = _configuration_files(binary, options, settings.timeout, need.backend)
    main = files[0]
    root = need.workdir / "root"
    dirs = _copy_tree(main.parent, root, need.backend)
    for path in [*files, Path(settings.file)]:
        if not _inside(path, dirs):
            dirs.append(path.parent)
            _copy_file(path, _mapped(root, path))
    ports: dict[int, int] = {}
    dropped: list[str] = []
    names: set[str] = set()
    for path in _copied_files(root, files, settings.file):
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        names.update(_server_names(text))
        text = _rewrite(text, root, dirs, ports, dropped)
        if path == _mapped(root, main):
            text = _runtime(root) + _RUNTIME.sub("", text)
            text = _with_temp_paths(text, root)
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
    if not ports:
        raise NotRehearsable(
            f"backends.{need.backend}: nginx's configuration listens on no TCP port"
            " the copy can serve"
        )
    prefix = _mapped(root, Path(options.get("-p") or main.parent))
    prefix.mkdir(parents=True, exist_ok=True)
    conf = _mapped(root, main)
    base = [binary, "-p", str(prefix), "-c", str(conf), "-e", "stderr"]
    stack.enter_context(_Running(base, root, list(ports.values())))
    copied = settings.model_copy(
        update={
            "file": str(_mapped(root, Path(settings.file))),
            "test_command": [*base, "-t", "-q"],
            "reload_command": [*base, "-s", "reload"],
        }
    )
    hosts = sorted(need.probe_hosts | names | {"127.0.0.1", "localhost"})
    resolve = {f"{h}:{old}": f"127.0.0.1:{new}" for h in hosts for old, new in ports.items()}
    where = ", ".join(f":{old} → 127.0.0.1:{new}" for old, new in sorted(ports.items()))
    limits = [f"nginx listens left out of the copy: {', '.join(dropped)}"] if dropped else []
    return Copy(
        need.backend,
        copied,
        f"a private nginx ({where}) running a copy of {main} ({len(files)} files)",
        resolve,
        limits,
    )


# -- reading the real configuration (read-only) ---------------------------------------------


def _nginx_command(test_command: list[str], backend: str) -> tuple[str, dict[str, str]]:
    """The nginx binary and its ``-p``/``-c``/``-g`` options, from ``test_command``."""
    if not test_command or PurePosixPath(test_command[0]).name != "nginx":
        raise NotRehearsable(
            f"backends.{backend}.test_command does not run nginx itself"
            f" ({test_command[:1]}): the dry run needs the nginx binary to copy its"
            " configuration",
            hint="make test_command start with the nginx binary (e.g. [/usr/sbin/nginx, -t])",
        )
    options: dict[str, str] = {}
    args = test_command[1:]
    for i, arg in enumerate(args):
        if arg in ("-p", "-c", "-g") and i + 1 < len(args):
            options[arg] = args[i + 1]
    if "-g" in options:
        raise NotRehearsable(
            f"backends.{backend}.test_command passes -g directives: the copy cannot place them",
            hint="move them into the configuration file",
        )
    return test_command[0], options


def _configuration_files(
    binary: str, options: dict[str, str], timeout: float, backend: str
) -> list[Path]:
    argv = [binary]
    for flag in ("-p", "-c"):
        if flag in options:
            argv += [flag, options[flag]]
    ran = run_command([*argv, "-T", "-q"], timeout=timeout)
    if not ran.ok:
        raise NotRehearsable(
            f"backends.{backend}: `{' '.join(argv)} -T` could not read nginx's"
            f" configuration: {ran.tail()}",
            hint="the dry run reads the configuration as the real run would test it",
        )
    files = [Path(m["path"]) for m in _HEADER.finditer(ran.stdout)]
    if not files:
        raise NotRehearsable(f"backends.{backend}: `nginx -T` listed no configuration file")
    return files


def _copy_tree(source: Path, root: Path, backend: str) -> list[Path]:
    size = 0
    for count, path in enumerate(sorted(source.rglob("*")), start=1):
        if count > MAX_FILES:
            raise NotRehearsable(
                f"backends.{backend}: {source} holds more than {MAX_FILES} files;"
                " the dry run copies the configuration directory whole"
            )
        if path.is_dir():
            _mapped(root, path).mkdir(parents=True, exist_ok=True)  # temp and log dirs
        elif path.is_file():
            size += path.stat().st_size
            if size > MAX_BYTES:
                raise NotRehearsable(f"backends.{backend}: {source} is over 64 MiB")
            _copy_file(path, _mapped(root, path))
    return [source]


def _copy_file(source: Path, target: Path) -> None:
    if not source.is_file():
        return  # the managed file before its first step: the copy has none either
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _copied_files(root: Path, files: list[Path], managed: str) -> list[Path]:
    wanted = {_mapped(root, p) for p in [*files, Path(managed)]}
    return sorted(p for p in wanted if p.is_file())


def _server_names(text: str) -> set[str]:
    names: set[str] = set()
    for match in _SERVER_NAME.finditer(text):
        names.update(
            n.lower() for n in match[1].split() if re.fullmatch(r"[A-Za-z0-9.-]+", n) and "." in n
        )
    return names


# -- rewriting the copy ------------------------------------------------------------------------


def _mapped(root: Path, path: Path) -> Path:
    return root / str(path.resolve() if path.is_absolute() else path).lstrip("/")


def _inside(path: Path, dirs: list[Path]) -> bool:
    return any(path == d or d in path.parents for d in dirs)


def _rewrite(
    text: str, root: Path, dirs: list[Path], ports: dict[int, int], dropped: list[str]
) -> str:
    for directory in sorted(dirs, key=lambda d: len(str(d)), reverse=True):
        pattern = re.compile(rf"(?<=[\s\"'=]){re.escape(str(directory))}(?=[/\s;\"'*]|$)")
        text = pattern.sub(str(_mapped(root, directory)).replace("\\", "\\\\"), text)
    text = _LOG.sub(lambda m: m["head"] + str(root / "logs" / Path(m["path"]).name), text)
    return _LISTEN.sub(lambda m: _listen(m, ports, dropped), text)


def _listen(match: re.Match[str], ports: dict[int, int], dropped: list[str]) -> str:
    addr = match["addr"]
    if addr.startswith(("[", "unix:")):
        dropped.append(addr)
        return f"{match['indent']}# listen {addr} (left out of the dry-run copy)"
    port_text = addr.rsplit(":", 1)[-1] if ":" in addr else addr
    if not port_text.isdigit():  # `listen example.org;` is port 80
        port_text = "80"
    port = int(port_text)
    if port not in ports:
        ports[port] = _free_port()
    rest = match["rest"].replace(" reuseport", "")
    return f"{match['indent']}listen 127.0.0.1:{ports[port]}{rest};"


def _runtime(root: Path) -> str:
    (root / "logs").mkdir(parents=True, exist_ok=True)
    return f"pid {root / 'nginx.pid'};\n"


def _with_temp_paths(text: str, root: Path) -> str:
    lines = []
    for name in _TEMPS:
        path = root / "tmp" / name
        path.mkdir(parents=True, exist_ok=True)
        if f"{name}_temp_path" not in text:
            lines.append(f"    {name}_temp_path {path};")
    return re.sub(r"(?m)^(\s*http\s*\{)", lambda m: m[1] + "\n" + "\n".join(lines), text, count=1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- running the copy ----------------------------------------------------------------------------


class _Running:
    """The copy's nginx master, our child: started, waited for, stopped with its workers."""

    def __init__(self, base: list[str], root: Path, ports: list[int]) -> None:
        self.base, self.root, self.ports = base, root, ports
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Running:
        log = (self.root / "logs" / "master.log").open("wb")
        with log:
            self.proc = subprocess.Popen(
                [*self.base, "-g", "daemon off;"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if all(_answers(p) for p in self.ports):
                return self
            time.sleep(0.05)
        said = (self.root / "logs" / "master.log").read_text(errors="replace")[-1500:]
        self.__exit__(None, None, None)
        raise NotRehearsable(
            f"the dry run's copy of nginx did not start: {said.strip() or 'no output'}",
            hint="the copy runs the real configuration with its listens moved to loopback",
        )

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGQUIT)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
