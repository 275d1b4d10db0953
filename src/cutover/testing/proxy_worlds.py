"""Worlds for the example runbooks ``runbooks/haproxy-ramp.yml`` and
``runbooks/varnish-switch.yml``: a real proxy on loopback, set up as the runbook expects.

A world is a context manager that starts the proxy (and its origins) in a temp
directory, gives the ``--env``/``--var`` arguments that point the runbook at it
(:meth:`run_args`), and reads back what a rollback must restore (:meth:`snapshot`). The
crash matrix (benchmarks/crash_matrix.py), the time-to-safety benchmark and the tests use
them.

- :class:`HaproxyWorld`: ``/packages/…`` redirected to ``legacy_target`` or, for the share
  of paths whose CRC32 mod 100 is below ``percent``, to ``new_target`` — both read from one
  map (``DIR/haproxy/downloads.map``); HAProxy itself answers ``/legacy/``, ``/new/``,
  ``/down/`` (503) and ``/loop/`` (redirects to itself);
- :class:`VarnishWorld`: two origins (``legacy``, ``new``) and a varnishd whose boot VCL
  sends every hostname to ``legacy``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from cutover.actions.haproxy_api import RuntimeApi
from cutover.actions.varnish_cli import VarnishCli
from cutover.events import EventKind
from cutover.testing.haproxy import HaproxyServer, running_haproxy
from cutover.testing.proxy_process import first_hop, local_run_args
from cutover.testing.varnish import VarnishServer, running_origin, running_varnish

HAPROXY_SECTIONS = """\
frontend downloads
    bind 127.0.0.1:{port}
    http-request set-var(txn.pct) str(percent),map({dir}/downloads.map,0)
    http-request set-var(txn.bucket) path,crc32,mod(100)
    http-request redirect code 302 location %[str(new_target),map({dir}/downloads.map)]%[path] \
if {{ path_beg /packages/ }} {{ var(txn.bucket),sub(txn.pct) -m int lt 0 }}
    http-request redirect code 302 location %[str(legacy_target),map({dir}/downloads.map)]%[path] \
if {{ path_beg /packages/ }}
    http-request return status 200 content-type text/plain string legacy if {{ path_beg /legacy/ }}
    http-request return status 200 content-type text/plain string new if {{ path_beg /new/ }}
    http-request return status 503 content-type text/plain string down if {{ path_beg /down/ }}
    http-request redirect code 302 location %[path] if {{ path_beg /loop/ }}
    http-request return status 404 content-type text/plain string "no such backend"
backend pool
    server a 127.0.0.1:9 weight 10
    server b 127.0.0.1:9 weight 10
"""

#: the map before any run: every path on the legacy backend (``new_target`` unset)
HAPROXY_MAP = (
    "# managed by cutover (runbooks/haproxy-ramp.yml)\npercent 0\nlegacy_target {origin}/legacy\n"
)

#: probe paths of the ramp, one per share: CRC32 mod 100 is 0, 3, 18 and 63
RAMP_PATHS = tuple(
    f"/packages/sampleproject-{v}.tar.gz" for v in ("0.35.0", "0.58.0", "0.1.0", "0.3.0")
)


def bucket(path: str) -> int:
    """The share a path falls in (HAProxy's ``path,crc32,mod(100)``)."""
    return zlib.crc32(path.encode()) % 100


class HaproxyWorld:
    """A real HAProxy on 127.0.0.1 with the downloads map, a temp directory and state dir."""

    def __init__(self, base: Path) -> None:
        self.directory = base / "haproxy"
        self.state_dir = base / "state"
        self.map_file = self.directory / "downloads.map"
        self.server: HaproxyServer | None = None
        self.client: httpx.Client | None = None
        self._stack = ExitStack()

    @property
    def origin(self) -> str:
        assert self.server is not None
        return self.server.origin

    @property
    def api(self) -> RuntimeApi:
        assert self.server is not None
        return RuntimeApi(str(self.server.socket), 5.0)

    def __enter__(self) -> HaproxyWorld:
        self.state_dir.mkdir(parents=True)
        with ExitStack() as stack:
            self.client = stack.enter_context(httpx.Client(timeout=5))
            stack.enter_context(
                running_haproxy(self.directory, HAPROXY_SECTIONS, before_start=self._write_map)
            )
            self._stack = stack.pop_all()
        return self

    def _write_map(self, server: HaproxyServer) -> None:
        self.server = server
        self.map_file.write_text(HAPROXY_MAP.format(origin=server.origin), encoding="utf-8")

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def run_args(self, extra_vars: Sequence[str]) -> list[str]:
        assert self.server is not None
        pairs = {
            "haproxy_socket": str(self.server.socket),
            "map_file": str(self.map_file),
            "origin": self.origin,
        }
        return local_run_args(pairs, extra_vars, self.origin)

    def answer(self, path: str) -> str:
        """The first hop HAProxy answers for ``path``: status and Location."""
        assert self.client is not None
        return first_hop(self.client, self.origin, path)

    def snapshot(self) -> dict[str, Any]:
        assert self.server is not None
        runtime = [f"{k} {v}" for k, v in self.api.show_map(str(self.map_file))]
        return {
            "map_file": self.map_file.read_text(encoding="utf-8").replace(self.origin, "{origin}"),
            "runtime": [line.replace(self.origin, "{origin}") for line in runtime],
            "serves": {path: self.answer(path) for path in RAMP_PATHS},
            "stray_files": sorted(p.name for p in self.directory.iterdir() if p.suffix != ".log"),
        }

    def activity(self) -> dict[str, int]:
        """Map transactions committed (HAProxy's ``curr_ver`` of the map)."""
        for line in self.api.command("show map").splitlines():
            if f"({self.map_file})" in line:
                return {"map_commits": int(line.split("curr_ver=")[1].split()[0])}
        raise AssertionError(f"haproxy does not list {self.map_file}")

    def expected_activity(self, start: dict[str, int], journal: Any) -> dict[str, int]:
        """One map commit per apply and one per undo (none for a not_applied step); a step
        found applied after a crash with no ``applied`` row committed once before it."""
        undone = sum(journal.count(EventKind.ROLLED_BACK).values())
        applied = journal.count(EventKind.APPLIED)
        unjournaled = {
            e.key
            for e in journal.events
            if e.kind == EventKind.RECONCILED
            and e.data.get("found") == "applied"
            and e.key not in applied
        }
        return {
            "map_commits": start["map_commits"] + sum(applied.values()) + undone + len(unjournaled)
        }


#: the VCL varnishd boots with: every hostname on the legacy origin
VARNISH_BOOT_VCL = """\
vcl 4.1;
backend legacy {{ .host = "127.0.0.1"; .port = "{legacy_port}"; }}
"""

VARNISH_HOSTS = ("downloads.example.org", "www.example.org")


class VarnishWorld:
    """Two origins and a real varnishd on 127.0.0.1, a temp directory and state dir."""

    def __init__(self, base: Path) -> None:
        self.directory = base / "varnish"
        self.state_dir = base / "state"
        self.server: VarnishServer | None = None
        self.ports: dict[str, int] = {}
        self.client: httpx.Client | None = None
        self._stack = ExitStack()

    def __enter__(self) -> VarnishWorld:
        self.state_dir.mkdir(parents=True)
        with ExitStack() as stack:
            self.client = stack.enter_context(httpx.Client(timeout=5))
            for name in ("legacy", "new"):
                self.ports[name] = stack.enter_context(running_origin(name)).port
            vcl = VARNISH_BOOT_VCL.format(legacy_port=self.ports["legacy"])
            self.server = stack.enter_context(running_varnish(self.directory, vcl))
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def cli(self) -> VarnishCli:
        assert self.server is not None
        return VarnishCli(self.server.admin, str(self.server.secret_file), 10.0)

    def run_args(self, extra_vars: Sequence[str]) -> list[str]:
        assert self.server is not None
        pairs = {
            "varnish_admin": self.server.admin,
            "secret_file": str(self.server.secret_file),
            "varnish_address": f"127.0.0.1:{self.server.port}",
            "legacy_port": str(self.ports["legacy"]),
            "new_port": str(self.ports["new"]),
        }
        return local_run_args(pairs, extra_vars, self.server.origin)

    def answer(self, host: str) -> str:
        assert self.client is not None and self.server is not None
        response = self.client.get(self.server.url("/packages/x"), headers={"Host": host})
        return f"{response.status_code} {response.text.strip()}"

    def snapshot(self) -> dict[str, Any]:
        with self.cli() as cli:
            active = cli.active_vcl()
        # cutover's VCL names come from the VCL's digest, which holds this world's ports
        shown = "cutover_…" if active and active.startswith("cutover_") else active
        return {"active": shown, "serves": {h: self.answer(h) for h in VARNISH_HOSTS}}

    def activity(self) -> dict[str, int]:
        return {}

    def expected_activity(self, start: dict[str, int], journal: Any) -> dict[str, int]:
        return {}
