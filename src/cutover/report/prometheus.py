"""Prometheus text exposition (for node_exporter's textfile collector), via prometheus_client.

Per probe (labels ``check``, ``set``, ``name``, ``url``): ``cutover_probe_success``,
``cutover_probe_duration_seconds``, ``cutover_probe_redirects``, ``cutover_probe_status_code``
and ``cutover_probe_reason`` (1 for its one reason). Per check: ``cutover_check_status``
(the Nagios code), ``cutover_check_probes`` by reason (every reason, zeros included, so an
alert expression never meets a missing series), ``cutover_check_failure_ratio``,
``cutover_check_duration_seconds``, ``cutover_check_last_run_timestamp_seconds``,
``cutover_check_overran`` (1 when the round took longer than ``--every``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from cutover.reasons import Reason
from cutover.report.check_round import CheckRound


def render(round_: CheckRound) -> str:
    registry = CollectorRegistry()
    labels = ["check", "set", "name", "url"]

    def gauge(name: str, doc: str, names: list[str]) -> Gauge:
        return Gauge(name, doc, names, registry=registry)

    success = gauge("cutover_probe_success", "1 when the probe passed (ok or flaky)", labels)
    duration = gauge("cutover_probe_duration_seconds", "time of the probe's last attempt", labels)
    redirects = gauge("cutover_probe_redirects", "redirects followed", labels)
    status = gauge("cutover_probe_status_code", "status of the last answer (0: none)", labels)
    reason = gauge("cutover_probe_reason", "the probe's reason (value 1)", [*labels, "reason"])
    for r in round_.results:
        key = (round_.check, r.set, r.name, r.url)
        success.labels(*key).set(1 if r.ok else 0)
        duration.labels(*key).set(r.elapsed_ms / 1000.0)
        redirects.labels(*key).set(r.redirects)
        status.labels(*key).set(r.status or 0)
        reason.labels(*key, r.reason.value).set(1)
    check = [round_.check]
    gauge("cutover_check_status", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN", ["check"]).labels(
        *check
    ).set(int(round_.status))
    by_reason = gauge(
        "cutover_check_probes", "probes of the last round by reason", ["check", "reason"]
    )
    for each in Reason:
        by_reason.labels(round_.check, each.value).set(round_.reasons.get(each, 0))
    gauge("cutover_check_failure_ratio", "failed probes / probes", ["check"]).labels(*check).set(
        round_.failure_rate
    )
    gauge("cutover_check_duration_seconds", "time of the round", ["check"]).labels(*check).set(
        round_.duration
    )
    gauge("cutover_check_last_run_timestamp_seconds", "when the round started", ["check"]).labels(
        *check
    ).set(round_.started)
    gauge("cutover_check_overran", "1 when the round took longer than --every", ["check"]).labels(
        *check
    ).set(1 if round_.overran else 0)
    text: bytes = generate_latest(registry)
    return text.decode("utf-8")
