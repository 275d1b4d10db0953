"""Prometheus text exposition of probe results (via prometheus_client): one home for the
metric names of ``cutover check --format prometheus`` and ``cutover exporter``.

Series of one probe (:class:`ProbeSeries`; labelled ``check``, ``set``, ``name``, ``url``
in ``check --per-url``, unlabelled in the exporter's ``/probe?target=``, where Prometheus
adds ``instance``): ``cutover_probe_success``, ``cutover_probe_reason`` (1 for its one
reason), ``cutover_probe_duration_seconds`` (the last attempt) and
``cutover_probe_phase_duration_seconds`` by ``phase``, ``cutover_probe_hops``,
``cutover_probe_redirects``, ``cutover_probe_status_code``, ``cutover_probe_final_host``
(1, the host in a label), ``cutover_probe_bytes`` and ``cutover_probe_sha256_match``
(when known), ``cutover_probe_attempts``.

Per set (labels ``check``, ``set``): ``cutover_set_status`` (the set's own Nagios code),
``cutover_set_probes`` by reason (every reason, zeros included), ``cutover_set_failure_ratio``,
``cutover_set_slowest_probe_seconds``. Per check: ``cutover_check_status`` (the Nagios
code), ``cutover_check_probes`` by reason, ``cutover_check_failure_ratio``,
``cutover_check_duration_seconds``, ``cutover_check_last_run_timestamp_seconds``,
``cutover_check_overran`` (1 when the round took longer than ``--every``).

The ``reason`` label is bounded: one value per :class:`~cutover.reasons.Reason`, and
``other`` for anything else.
"""

from __future__ import annotations

from collections.abc import Sequence

from httpx import URL
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from cutover.probes.result import ProbeResult
from cutover.reasons import Reason
from cutover.report.check_round import CheckRound

OTHER_REASON = "other"
#: every value the ``reason`` label can take
REASON_LABELS: tuple[str, ...] = (*(r.value for r in Reason), OTHER_REASON)
#: the phases of one probe a result can tell apart (``phase`` label values)
PHASES = ("redirects", "first_byte", "transfer")
PROBE_LABELS = ("check", "set", "name", "url")


def reason_label(value: str) -> str:
    """``value`` if it is a known reason, else ``other`` (the label stays bounded)."""
    return value if value in REASON_LABELS else OTHER_REASON


def phase_seconds(result: ProbeResult) -> dict[str, float]:
    """Seconds per phase: ``redirects`` (every request before the final answer, until its
    headers), ``first_byte`` (the final request until its headers: connect, TLS and the
    server's time included) and ``transfer`` (the final body). Empty without hops."""
    if not result.hops:
        return {}
    before = sum(hop.elapsed_ms for hop in result.hops[:-1]) / 1000.0
    first_byte = result.hops[-1].elapsed_ms / 1000.0
    transfer = max(result.elapsed_ms / 1000.0 - before - first_byte, 0.0)
    return {"redirects": before, "first_byte": first_byte, "transfer": transfer}


def exposition(registry: CollectorRegistry) -> str:
    text: bytes = generate_latest(registry)
    return text.decode("utf-8")


class ProbeSeries:
    """The per-probe families on ``registry``, each labelled with ``labels``."""

    def __init__(self, registry: CollectorRegistry, labels: Sequence[str] = ()) -> None:
        names = list(labels)

        def gauge(name: str, doc: str, extra: Sequence[str] = ()) -> Gauge:
            return Gauge(name, doc, [*names, *extra], registry=registry)

        self.success = gauge("cutover_probe_success", "1 when the probe passed (ok or flaky)")
        self.reason = gauge("cutover_probe_reason", "the probe's reason (value 1)", ["reason"])
        self.duration = gauge(
            "cutover_probe_duration_seconds", "time of the probe's last attempt, body included"
        )
        self.phase = gauge(
            "cutover_probe_phase_duration_seconds",
            "the last attempt by phase: redirects, first_byte, transfer",
            ["phase"],
        )
        self.hops = gauge("cutover_probe_hops", "requests in the chain (redirects + 1)")
        self.redirects = gauge("cutover_probe_redirects", "redirects followed")
        self.status = gauge("cutover_probe_status_code", "status of the last answer (0: none)")
        self.final_host = gauge(
            "cutover_probe_final_host", "the host of the chain's last request (value 1)", ["host"]
        )
        self.bytes = gauge("cutover_probe_bytes", "bytes of the final body (when read)")
        self.sha256 = gauge(
            "cutover_probe_sha256_match", "1 when the body's sha256 matched the expected one"
        )
        self.attempts = gauge("cutover_probe_attempts", "attempts made (retries + 1 at most)")

    def add(self, result: ProbeResult, *key: str) -> None:
        self.success.labels(*key).set(1 if result.ok else 0)
        self.reason.labels(*key, reason_label(result.reason.value)).set(1)
        self.duration.labels(*key).set(result.elapsed_ms / 1000.0)
        for phase, seconds in phase_seconds(result).items():
            self.phase.labels(*key, phase).set(seconds)
        self.hops.labels(*key).set(len(result.hops))
        self.redirects.labels(*key).set(result.redirects)
        self.status.labels(*key).set(result.status or 0)
        final = result.final_url
        if final is not None:
            self.final_host.labels(*key, URL(final).host).set(1)
        if result.size is not None:
            self.bytes.labels(*key).set(result.size)
        if result.sha256_match is not None:
            self.sha256.labels(*key).set(1 if result.sha256_match else 0)
        self.attempts.labels(*key).set(result.attempts)


def _counts(round_: CheckRound) -> dict[str, int]:
    counts = dict.fromkeys(REASON_LABELS, 0)
    for reason, n in round_.reasons.items():
        counts[reason_label(reason.value)] += n
    return counts


def add_set_series(registry: CollectorRegistry, round_: CheckRound) -> None:
    """Per-set aggregates of ``round_`` (a bounded number of series per set)."""
    labels = ["check", "set"]
    status = Gauge("cutover_set_status", "the set alone: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
                   labels, registry=registry)  # fmt: skip
    probes = Gauge("cutover_set_probes", "probes of the set by reason", [*labels, "reason"],
                   registry=registry)  # fmt: skip
    ratio = Gauge("cutover_set_failure_ratio", "failed probes / probes of the set", labels,
                  registry=registry)  # fmt: skip
    slowest = Gauge("cutover_set_slowest_probe_seconds", "the set's slowest probe", labels,
                    registry=registry)  # fmt: skip
    for name, part in round_.by_set().items():
        key = (round_.check, name)
        status.labels(*key).set(int(part.status))
        for reason, n in _counts(part).items():
            probes.labels(*key, reason).set(n)
        ratio.labels(*key).set(part.failure_rate)
        slowest.labels(*key).set(max((r.elapsed_ms for r in part.results), default=0.0) / 1000.0)


def add_check_series(registry: CollectorRegistry, round_: CheckRound) -> None:
    """The check's own series: its status, probes by reason, ratio, time, freshness."""

    def gauge(name: str, doc: str, extra: Sequence[str] = ()) -> Gauge:
        return Gauge(name, doc, ["check", *extra], registry=registry)

    check = round_.check
    gauge("cutover_check_status", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN").labels(check).set(
        int(round_.status)
    )
    by_reason = gauge("cutover_check_probes", "probes of the last round by reason", ["reason"])
    for reason, n in _counts(round_).items():
        by_reason.labels(check, reason).set(n)
    gauge("cutover_check_failure_ratio", "failed probes / probes").labels(check).set(
        round_.failure_rate
    )
    gauge("cutover_check_duration_seconds", "time of the round").labels(check).set(round_.duration)
    gauge("cutover_check_last_run_timestamp_seconds", "when the round started").labels(check).set(
        round_.started
    )
    gauge("cutover_check_overran", "1 when the round took longer than --every").labels(check).set(
        1 if round_.overran else 0
    )


def render(round_: CheckRound, per_url: bool = False) -> str:
    """``cutover check --format prometheus``: the check's and each set's series; with
    ``per_url``, one series per probe as well (labels ``check``, ``set``, ``name``, ``url``:
    as many series as probes, so only on request)."""
    registry = CollectorRegistry()
    if per_url:
        series = ProbeSeries(registry, PROBE_LABELS)
        for r in round_.results:
            series.add(r, round_.check, r.set, r.name, r.url)
    add_set_series(registry, round_)
    add_check_series(registry, round_)
    return exposition(registry)


def render_probe(result: ProbeResult) -> str:
    """The exporter's ``/probe?target=URL``: one probe's series, unlabelled."""
    registry = CollectorRegistry()
    ProbeSeries(registry).add(result)
    return exposition(registry)


def render_set(round_: CheckRound) -> str:
    """The exporter's ``/probe?set=NAME``: ``cutover_probe_success`` (1 when every probe of
    the set passed), ``cutover_probe_duration_seconds`` (the whole set) and the set's series."""
    registry = CollectorRegistry()
    passed = round_.error is None and bool(round_.results) and round_.failed == 0
    Gauge("cutover_probe_success", "1 when every probe of the set passed",
          registry=registry).set(1 if passed else 0)  # fmt: skip
    Gauge("cutover_probe_duration_seconds", "time to expand and probe the whole set",
          registry=registry).set(round_.duration)  # fmt: skip
    add_set_series(registry, round_)
    return exposition(registry)
