"""The exporter's HTTP server: blackbox_exporter's multi-target pattern, cutover's verdict.

- ``GET /probe?target=URL&module=NAME[&sha256=HEX&size=N]``: one probe of ``URL`` with a
  module's expectations (:mod:`cutover.exporter.modules`), answered as the unlabelled
  series of :func:`cutover.report.prometheus.render_probe`;
- ``GET /probe?set=NAME``: one round of a probe set (expanded as ``cutover check`` does),
  answered by :func:`cutover.report.prometheus.render_set`;
- ``GET /metrics``: the exporter's own process metrics and counters;
- ``GET /-/healthy``: ``OK``; ``GET /``: what it serves.

A failing probe is an answer (HTTP 200, ``cutover_probe_success 0``, its reason); only a
request that cannot be probed is an error: 400 for a bad target, module or parameter,
503 when every probe slot stayed busy for the whole budget or a set's data could not be
read (the round is UNKNOWN, so Prometheus records ``up 0`` rather than a verdict), 504
when the answer is not ready within the budget.

Bounds: at most ``concurrency`` /probe requests run at once (each holds a slot until its
probes end, even after its scraper gave up); a set's probes share the probe runner's
pool of ``concurrency``. A request's budget is the scraper's
``X-Prometheus-Scrape-Timeout-Seconds`` less :data:`TIMEOUT_OFFSET_S`, as
blackbox_exporter does (:data:`UNTIMED_BUDGET_S` without it); each probe's timeout per
attempt is its own, capped by ``--timeout`` and cut so that its attempts fit the budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
)

from cutover.exporter.modules import RequestError, checked_target, expected_file, probe_for
from cutover.probes.rounds import ChosenSets, run_round
from cutover.report import prometheus as exposition
from cutover.secrets import redact

if TYPE_CHECKING:
    from cutover.probes.runner import ProbeRunner
    from cutover.runbook.loader import Loaded
    from cutover.runbook.probe_models import ChecksFile, ProbeSpec

TIMEOUT_OFFSET_S = 0.5  #: kept from the scraper's timeout for the answer to travel back
MIN_TIMEOUT_S = 0.1
UNTIMED_BUDGET_S = 60.0  #: the budget of a request without a scrape timeout header
GRACE_S = 0.25  #: waited past the budget for a probe that ends on its own timeout
SCRAPE_TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
#: the classic text format, which every Prometheus 2.x parses (what generate_latest writes)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: path → the ``endpoint`` label of the exporter's own request counter (bounded)
ENDPOINTS = {"/probe": "probe", "/metrics": "metrics", "/-/healthy": "healthy", "/": "index"}


class ProbeFailed(Exception):
    """A /probe request answered with an error status (and a one-line message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Settings:
    concurrency: int = 8  #: /probe requests at once, and a set's probes at once
    timeout: float = 10.0  #: every probe's timeout per attempt is capped at this (seconds)


class OwnMetrics:
    """``/metrics``: the process, and what the exporter did (bounded labels only)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self.requests = Counter(
            "cutover_exporter_requests", "HTTP requests answered", ["endpoint", "code"],
            registry=self.registry,
        )  # fmt: skip
        self.probes = Counter(
            "cutover_exporter_probes", "probes run, by reason", ["reason"], registry=self.registry
        )
        self.in_flight = Gauge(
            "cutover_exporter_probe_requests_in_flight", "/probe requests holding a slot",
            registry=self.registry,
        )  # fmt: skip
        self.slots = Gauge(
            "cutover_exporter_probe_slots", "/probe requests allowed at once",
            registry=self.registry,
        )  # fmt: skip


class Exporter:
    """The probing side of the server: one runner, a bounded number of probe requests."""

    def __init__(self, loaded: Loaded[ChecksFile], runner: ProbeRunner, settings: Settings) -> None:
        self.loaded = loaded
        self.runner = runner
        self.settings = settings
        self.metrics = OwnMetrics()
        self.metrics.slots.set(settings.concurrency)
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        # probe requests run on these threads (never on the server's one-per-request
        # threads): the runner keeps one connection pool per thread that probes
        self._lanes = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="cutover-lane")

    def budget(self, scrape_timeout: str | None) -> float:
        """Seconds a /probe request may take: the scraper's timeout less the offset, or
        :data:`UNTIMED_BUDGET_S` for a client that does not say."""
        if not scrape_timeout:
            return UNTIMED_BUDGET_S
        try:
            seconds = float(scrape_timeout)
        except ValueError:
            raise ProbeFailed(400, f"{SCRAPE_TIMEOUT_HEADER} is not a number") from None
        return max(seconds - TIMEOUT_OFFSET_S, MIN_TIMEOUT_S)

    def probe(self, query: dict[str, list[str]], budget: float) -> str:
        """Answer one /probe request's query (a text exposition) or raise ProbeFailed."""
        params = _single(query, ("target", "module", "set", "sha256", "size"))
        try:
            if "set" in params:
                if len(params) > 1:
                    raise RequestError("set= stands alone (no target, module, sha256 or size)")
                return self._probe_set(params["set"], budget)
            target = checked_target(params.get("target", ""))
            module = params.get("module")
            if not module:
                raise RequestError("module is missing: name a probe set or probe of the file")
            row = expected_file(params.get("sha256"), params.get("size"))
            set_name, spec = probe_for(self.loaded.model, module, target, row)
        except RequestError as exc:
            raise ProbeFailed(400, str(exc)) from None
        spec = _capped(spec, budget, self.settings.timeout)
        result = self._in_lane(lambda: self.runner.probe(spec, set_name), budget)
        self.metrics.probes.labels(exposition.reason_label(result.reason.value)).inc()
        return exposition.render_probe(result)

    def _probe_set(self, name: str, budget: float) -> str:
        model = self.loaded.model
        if name not in model.sets:
            raise RequestError(f"no probe set {name!r} in the checks file (sets: "
                               f"{', '.join(model.sets)})")  # fmt: skip
        chosen = ChosenSets(
            self.loaded, {name: model.sets[name]}, model.thresholds.warning,
            model.thresholds.critical,
        )  # fmt: skip
        cancel, cap = threading.Event(), self.settings.timeout
        try:
            round_ = self._in_lane(
                lambda: run_round(chosen, self.runner, adjust=lambda s: _capped(s, budget, cap),
                                  cancel=cancel),
                budget,
            )  # fmt: skip
        except ProbeFailed:
            cancel.set()  # no new probe of this set starts; those in flight end
            raise
        if round_.error is not None:
            raise ProbeFailed(503, f"set {name!r} could not run: {round_.error}")
        for reason, n in round_.reasons.items():
            self.metrics.probes.labels(exposition.reason_label(reason.value)).inc(n)
        return exposition.render_set(round_)

    def _in_lane(self, work: Callable[[], Any], budget: float) -> Any:
        """Run ``work`` on a lane while holding a slot; wait for it within the budget."""
        deadline = time.monotonic() + budget
        if not self._slots.acquire(timeout=budget):
            raise ProbeFailed(503, f"every probe slot ({self.settings.concurrency}) stayed busy")
        self.metrics.in_flight.inc()

        def held() -> Any:
            try:
                return work()
            finally:
                self.metrics.in_flight.dec()
                self._slots.release()

        try:
            future: Future[Any] = self._lanes.submit(held)
        except RuntimeError:  # shutting down
            self.metrics.in_flight.dec()
            self._slots.release()
            raise ProbeFailed(503, "the exporter is stopping") from None
        try:
            # every attempt's timeout is capped to fit the budget; a little for the rest
            return future.result(timeout=deadline - time.monotonic() + GRACE_S)
        except FutureTimeout:
            raise ProbeFailed(504, f"no answer within {budget:.1f} s") from None

    def close(self) -> None:
        self._lanes.shutdown(wait=True, cancel_futures=True)


def _single(query: dict[str, list[str]], known: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise ProbeFailed(400, f"unknown parameter {unknown[0]!r} (known: {', '.join(known)})")
    twice = sorted(name for name, values in query.items() if len(values) > 1)
    if twice:
        raise ProbeFailed(400, f"parameter {twice[0]!r} given more than once")
    return {name: values[0] for name, values in query.items()}


def _capped(spec: ProbeSpec, budget: float, cap: float) -> ProbeSpec:
    """``spec`` with its timeout per attempt at most ``cap`` (``--timeout``), and cut so
    that every attempt fits in ``budget``."""
    timeout = min(float(spec.timeout), cap, budget / (spec.retries + 1))
    return spec if timeout == spec.timeout else spec.model_copy(update={"timeout": timeout})


class Handler(BaseHTTPRequestHandler):
    """GET only; every answer has a Content-Length (keep-alive works for scrapers)."""

    server: ExporterServer
    protocol_version = "HTTP/1.1"
    #: headers and body go in two writes: without TCP_NODELAY, Nagle's algorithm and the
    #: scraper's delayed ACK hold every answer for 40 ms (measured: 46 ms per request)
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        exporter = self.server.exporter
        endpoint = ENDPOINTS.get(parts.path, "other")
        status, body, kind = 200, "", CONTENT_TYPE
        try:
            if endpoint == "probe":
                budget = exporter.budget(self.headers.get(SCRAPE_TIMEOUT_HEADER))
                query = parse_qs(parts.query, keep_blank_values=True)
                body = exporter.probe(query, budget)
            elif endpoint == "metrics":
                body = exposition.exposition(exporter.metrics.registry)
            elif endpoint == "healthy":
                body, kind = "OK\n", "text/plain; charset=utf-8"
            elif endpoint == "index":
                body, kind = _index(exporter), "text/plain; charset=utf-8"
            else:
                status, body, kind = 404, "not found\n", "text/plain; charset=utf-8"
        except ProbeFailed as exc:
            status, body, kind = exc.status, redact(exc.message) + "\n", "text/plain; charset=utf-8"
        except Exception as exc:  # a defect: answered (500), the exporter keeps serving
            text = redact(f"internal error: {type(exc).__name__}: {exc}")
            status, body, kind = 500, text + "\n", "text/plain; charset=utf-8"
        exporter.metrics.requests.labels(endpoint, str(status)).inc()
        self._answer(status, body, kind)

    def _answer(self, status: int, body: str, kind: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: scrapes come every second; ``/metrics`` counts them."""


def _index(exporter: Exporter) -> str:
    from cutover.exporter.modules import module_names

    model = exporter.loaded.model
    return (
        f"cutover exporter: {model.name} ({exporter.loaded.source})\n"
        "  /probe?target=URL&module=NAME   one probe of URL with a module's expectations\n"
        "  /probe?set=NAME                 one round of a probe set\n"
        "  /metrics                        the exporter's own metrics\n"
        f"sets: {', '.join(model.sets)}\n"
        f"modules: {', '.join(module_names(model))}\n"
    )


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], exporter: Exporter) -> None:
        self.exporter = exporter
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A scraper that hung up before its answer: nothing to print (no traceback)."""

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


def serve(server: ExporterServer, stop: threading.Event, poll: float = 0.5) -> None:
    """Serve until ``stop`` is set; then stop accepting, and let probes in flight end."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="cutover-exporter", daemon=True)  # fmt: skip
    thread.start()
    try:
        while not stop.wait(poll):
            if not thread.is_alive():
                break
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        server.exporter.close()
