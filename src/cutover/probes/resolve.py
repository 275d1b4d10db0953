"""The resolve map: send a hostname to another address on every hop, like ``curl --resolve``.

The map is applied where the connection is opened (an httpcore network backend), not by
rewriting URLs: the request keeps its real URL, so the ``Host`` header, the TLS server name
(SNI) and the certificate check all use the real hostname, connections are pooled per real
origin (a TLS connection made for one name is never reused for another), and relative
``Location`` headers resolve against the real URL.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable, Mapping

import httpcore
import httpx

_ADDRESS = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:/\[\]]+))(?::(?P<port>\d{1,5}))?$"
)

Address = tuple[str, int | None]


def parse_address(value: str) -> Address:
    """``"127.0.0.1:8080"`` → ``("127.0.0.1", 8080)``; ``"[::1]"`` → ``("::1", None)``."""
    match = _ADDRESS.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not address[:port] (e.g. 127.0.0.1:8080 or [::1]:8443)")
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"{value!r}: port {port} is out of range")
    return (match["v6"] or match["host"]), port


_KEY = re.compile(r"^(?P<name>[^\s:/\[\]]+?)\.?(?::(?P<port>\d{1,5}))?$")


def parse_resolve(resolve: Mapping[str, str]) -> dict[str, Address]:
    """Validate a resolve map. Raises ValueError.

    Keys are lowercased hostnames (every port of that name), or ``host:port`` (that
    origin only, which wins over the bare name): a dry run's copy of a server listening on
    two ports maps each port to its own.
    """
    parsed: dict[str, Address] = {}
    for host, address in resolve.items():
        match = _KEY.match(host.strip().lower())
        if not match or (match["port"] and not 0 < int(match["port"]) < 65536):
            raise ValueError(f"resolve: {host!r} is not a hostname (or hostname:port)")
        name = match["name"] + (f":{int(match['port'])}" if match["port"] else "")
        try:
            parsed[name] = parse_address(address)
        except ValueError as exc:
            raise ValueError(f"resolve: {host}: {exc}") from None
    return parsed


class ResolvingBackend(httpcore.SyncBackend):
    """Opens TCP connections to the mapped address of a hostname, or to the hostname itself."""

    def __init__(self, resolve: Mapping[str, Address]) -> None:
        self._resolve = dict(resolve)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        name = host.lower().rstrip(".")
        target = self._resolve.get(f"{name}:{port}") or self._resolve.get(name)
        if target is not None:
            host, port = target[0], target[1] if target[1] is not None else port
        return super().connect_tcp(host, port, timeout, local_address, socket_options)


def ssl_context(ca_bundle: str | None, *, verify: bool = True) -> ssl.SSLContext:
    """TLS settings of every probe: verification on, with ``ca_bundle`` when given."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=ca_bundle)
    return httpx.create_ssl_context()


class ResolvingTransport(httpx.HTTPTransport):
    """httpx's own transport, with its connection pool opened through :class:`ResolvingBackend`.

    Only the pool is replaced (``HTTPTransport`` keeps it as ``_pool``); request and
    exception mapping stay httpx's. ``tests/probes/test_resolve.py`` guards this seam.
    """

    def __init__(
        self, resolve: Mapping[str, Address], context: ssl.SSLContext, *, max_connections: int
    ) -> None:
        super().__init__(verify=context, retries=0)
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            retries=0,
            network_backend=ResolvingBackend(resolve),
        )
