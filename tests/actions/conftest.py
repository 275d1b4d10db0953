"""Fixtures for the action tests: a real nginx and a tiny REST server, on loopback
(both from :mod:`cutover.testing`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from cutover.runbook.backends import NginxSettings
from cutover.testing import NginxServer, RestServer, nginx_binary, running_nginx
from cutover.testing import running_rest_server as _running_rest_server

#: the server block: the file cutover manages is included (a glob: it may be absent)
SERVER = """\
include {prefix}/managed/*.conf;
location / {{ return 200 "legacy\\n"; }}
"""

LEGACY = "# no redirect: the legacy backend answers\n"


@dataclass
class Nginx:
    """A real nginx on 127.0.0.1, the file it includes, and a client for it."""

    server: NginxServer
    managed: Path
    client: httpx.Client = field(repr=False)

    @property
    def base(self) -> list[str]:
        return self.server.base_command

    def get(self, path: str = "/x") -> httpx.Response:
        return self.client.get(self.server.url(path))

    def answers_legacy(self) -> bool:
        response = self.get()
        return response.status_code == 200 and response.text == "legacy\n"

    def up(self) -> bool:
        try:
            return self.answers_legacy()
        except httpx.TransportError:
            return False

    def redirects_to(self, location: str) -> bool:
        response = self.get()
        return response.status_code == 302 and response.headers.get("location") == location

    def settings(self, **overrides: Any) -> NginxSettings:
        values: dict[str, Any] = {
            "file": str(self.managed),
            "test_command": self.server.test_command,
            "reload_command": self.server.reload_command,
            "timeout": 20,
        }
        values.update(overrides)
        return NginxSettings(**values)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    """A real nginx with a temp prefix whose server includes the managed file."""
    if nginx_binary() is None:
        pytest.skip("no nginx binary on PATH or in /usr/sbin (apt-get install nginx-light)")
    prefix = tmp_path / "nginx"
    managed = prefix / "managed" / "route.conf"

    def write_managed(_: NginxServer) -> None:
        managed.parent.mkdir(parents=True, exist_ok=True)
        managed.write_text(LEGACY)

    with httpx.Client(timeout=5) as client:

        def ready(server: NginxServer) -> bool:
            return Nginx(server, managed, client).up()

        with running_nginx(prefix, SERVER, before_start=write_managed, ready=ready) as server:
            yield Nginx(server, managed, client)


@pytest.fixture
def rest_server() -> Iterator[RestServer]:
    with _running_rest_server() as server:
        yield server
