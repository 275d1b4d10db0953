"""Every benchmark runs, small, and prints the figures its issue asks for (no time asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def figures(script: str, *args: str) -> dict[str, str]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        cwd=ROOT,
    )
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def test_guard_stats_meets_its_targets_small() -> None:
    out = figures("guard_stats.py", "--stages", "300")
    assert out["target.false_rollback_le_0.001"] == "ok"
    assert out["target.full_failure_decided_le_10_probes"] == "ok"
    assert int(out["probe.fail1.probes_max"]) <= 10


@pytest.mark.slow
def test_lab_throughput_prints_hits_and_misses() -> None:
    out = figures("lab_throughput.py", "--seconds", "0.5", "--max-requests", "400")
    rates = sorted(k for k in out if "_per_s_" in k)
    assert rates == [
        "hits_per_s_16_clients",
        "hits_per_s_1_client",
        "misses_per_s_16_clients",
        "misses_per_s_1_client",
    ]
    assert float(out["hits_per_s_1_client"]) > 0 and float(out["misses_per_s_1_client"]) > 0
    assert [out[k] for k in sorted(k for k in out if "_failed_" in k)] == ["0", "0", "0", "0"]


@pytest.mark.slow
def test_time_to_safety_measures_both_runbooks() -> None:
    out = figures("time_to_safety.py", "--runs", "1")
    assert out["no_fix_runs"] == "1" and out["replay_runs"] == "1"
    assert float(out["no_fix_median_seconds_to_safety"]) > 0
    assert int(out["replay_median_probes_to_decide"]) >= 1


@pytest.mark.slow  # the fast tier keeps a quicker test of this area
def test_state_store_prints_sqlite_and_postgresql_figures_small(postgres_server: object) -> None:
    """(``postgres_server``: skipped, or failed in CI, like every PostgreSQL test.)"""
    out = figures("state_store.py", "--writes", "30", "--locks", "10", "--runs", "1")
    for kind in ("sqlite", "postgresql"):
        assert float(out[f"event_write_{kind}_p50_ms"]) > 0
        assert float(out[f"event_write_{kind}_p99_ms"]) >= float(out[f"event_write_{kind}_p50_ms"])
    for kind in ("host", "host_postgresql"):
        assert float(out[f"lock_round_{kind}_p50_ms"]) > 0
    stages = ("preflight", "files_to_new", "simple_to_new")
    assert sorted(k for k in out if k.endswith("_added_ms")) == sorted(
        f"stage_{s}_added_ms" for s in stages
    )
    assert float(out["run_wall_ratio"]) > 0


@pytest.mark.slow  # the fast tier keeps a quicker test of this area
def test_check_soak_prints_memory_descriptors_and_round_times_small() -> None:
    out = figures("check_soak.py", "--quick")
    for round_ in (2, 10, 20):
        assert float(out[f"rss_mb_round_{round_}"]) > 0
        assert int(out[f"fds_round_{round_}"]) > 0
    assert (out["rounds"], out["exit_code"], out["statuses"]) == ("20", "0", "OK:20")
    # --every 1ms: every round but the last overruns, and says so; nothing else on stderr
    assert (out["overrun_reports"], out["other_stderr_lines"]) == ("19", "0")
    assert float(out["round_ms_p99"]) >= float(out["round_ms_p50"]) > 0
    assert {out["target.rss_growth_le_10mb"], out["target.fds_flat"]} <= {"ok", "MISSED"}


@pytest.mark.slow
def test_control_latency_prints_poll_and_notification_figures_small() -> None:
    out = figures("control_latency.py", "--requests", "3", "--events", "2", "--timeout", "0.2")
    assert out["control_requests"] == "3" and out["notify_events"] == "2"
    assert float(out["control_seen_max_s"]) > 0
    # the offers are what the run waits for; the deliveries happen behind them
    assert float(out["notify_offer_total_s"]) < float(out["notify_deliveries_total_s"])


@pytest.mark.slow
def test_exporter_throughput_prints_both_sides_of_the_ratio() -> None:
    out = figures("exporter_throughput.py", "--quick")
    assert out["set"] == "files-hit"
    assert int(out["probes_per_round"]) == int(out["probes_per_set_request"]) > 0
    for name in ("check", "exporter_set", "exporter_target"):
        assert float(out[f"{name}_probes_per_s"]) > 0
    assert out["exporter_target_failed"] == "0"
    assert {out["target.ratio_set_ge_0.9"], out["target.ratio_target_ge_0.9"]} <= {"ok", "missed"}


@pytest.mark.slow
def test_metric_guard_prints_the_time_to_a_fail_decision_small() -> None:
    out = figures("metric_guard.py", "--runs", "1", "--only", "fastly_stats")
    assert out["fastly_stats_runs"] == "1"
    assert sorted(k for k in out if k.startswith("fastly_stats_")) == [
        "fastly_stats_max_scrape_intervals_after_settle",
        "fastly_stats_max_seconds_apply_to_fail",
        "fastly_stats_median_scrape_intervals_after_settle",
        "fastly_stats_median_seconds_apply_to_fail",
        "fastly_stats_runs",
        "fastly_stats_target_le_3_intervals",
    ]
