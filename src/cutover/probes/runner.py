"""Running many probes with bounded concurrency: a thread pool, one httpx client per thread.

Chosen by measurement (``docs/probes.md``, "Concurrency model"): on 2 cores against a local
nginx serving 100 KB, a plain ``httpx.Client`` loop does about 2,000 downloads/s, threads
with a client each about 1,300/s at 8 and 1,100/s at 32, threads sharing one client less,
and ``httpx.AsyncClient`` about 1,050/s at 8 but 350/s at 32. So: at concurrency 1 the
probes run in the calling thread with one client (no hand-off at all); above it, that many
worker threads pull the next probe from a shared index and each uses its own client (its
own connection pool, no lock contention inside httpcore). Probes talk to the transport
directly (see :mod:`cutover.probes.probe`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from types import TracebackType

import httpx

from cutover.probes.probe import run_probe
from cutover.probes.resolve import ResolvingTransport, parse_resolve, ssl_context
from cutover.probes.result import ProbeResult
from cutover.runbook.probe_models import ProbeSpec

ResultCallback = Callable[[ProbeResult], None]
Specs = Sequence[tuple[str, ProbeSpec]]


class ProbeRunner:
    """Runs probes through a resolve map with at most ``concurrency`` in flight.

    ``transport`` (tests: an :class:`httpx.MockTransport`) replaces the network for every
    thread. A runner is reusable across rounds (connections are kept between them) and is
    closed with :meth:`close` or by leaving its ``with`` block.
    """

    def __init__(
        self,
        resolve: Mapping[str, str] | None = None,
        ca_bundle: str | None = None,
        concurrency: int = 8,
        *,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.resolve = parse_resolve(resolve or {})
        self.concurrency = concurrency
        self._context = ssl_context(ca_bundle, verify=verify)
        self._transport = transport
        self._local = threading.local()
        self._transports: list[httpx.BaseTransport] = []
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def transport(self) -> httpx.BaseTransport:
        """This thread's transport (created on first use; each has its own pool)."""
        transport: httpx.BaseTransport | None = getattr(self._local, "transport", None)
        if transport is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the probe runner is closed")
                transport = self._transport or ResolvingTransport(
                    self.resolve, self._context, max_connections=4
                )
                self._transports.append(transport)
            self._local.transport = transport
        return transport

    def get(self, url: str, *, max_bytes: int, timeout: float) -> tuple[int, bytes]:
        """A plain GET through the resolve map (no redirects): status and body.

        For data a probe set is expanded from. Raises ``httpx.HTTPError`` (or ValueError
        when the body is over ``max_bytes``).
        """
        request = httpx.Request(
            "GET",
            url,
            headers={"Accept": "application/json"},
            extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )
        response = self.transport().handle_request(request)
        try:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise ValueError(f"{url}: body over {max_bytes} bytes")
            return response.status_code, bytes(body)
        finally:
            response.close()

    def probe(self, spec: ProbeSpec, set_name: str = "") -> ProbeResult:
        """Run one probe in the calling thread."""
        return run_probe(self.transport(), spec, set_name)

    def run(
        self,
        specs: Specs,
        on_result: ResultCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[ProbeResult]:
        """Run every ``(set name, spec)``; results come back in the order of ``specs``.

        ``on_result`` is called once per finished result, never from two threads at once.
        When ``cancel`` is set (e.g. by ``on_result``, once the evidence is in), no new probe
        starts, the ones in flight finish, and only the finished results are returned.
        On KeyboardInterrupt no new probe starts, the ones in flight finish (each bounded by
        its timeout), and the interrupt propagates.
        """
        results: list[ProbeResult | None] = [None] * len(specs)
        if not specs:
            return []
        workers = min(self.concurrency, len(specs))
        callback_lock = threading.Lock()
        stop = cancel if cancel is not None else threading.Event()
        cursor = iter(range(len(specs)))
        cursor_lock = threading.Lock()

        def work() -> None:
            transport = self.transport()
            while not stop.is_set():
                with cursor_lock:
                    index = next(cursor, None)
                if index is None:
                    return
                set_name, spec = specs[index]
                result = run_probe(transport, spec, set_name)
                results[index] = result
                if on_result is not None:
                    with callback_lock:
                        on_result(result)

        if workers == 1:
            work()
        else:
            executor = self._pool()
            futures: list[Future[None]] = [executor.submit(work) for _ in range(workers)]
            try:
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            except BaseException:
                stop.set()
                wait(futures)
                raise
            for future in done:
                if future.exception() is not None:
                    stop.set()
                    wait(futures)
                    future.result()  # re-raise the worker's error here
        return [r for r in results if r is not None]

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the probe runner is closed")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.concurrency, thread_name_prefix="cutover-probe"
                )
            return self._executor

    def close(self) -> None:
        """Stop the worker threads and close every connection (idempotent)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            transports, self._transports = self._transports, []
        if executor is not None:
            executor.shutdown(wait=True)
        for transport in transports:
            transport.close()

    def __enter__(self) -> ProbeRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
