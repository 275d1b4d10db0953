"""Metric guards: checks of a stage's metrics from Prometheus, Fastly's real-time stats
or a plugin's source, judged beside the probes (docs/guards.md, "Metric guards")."""
