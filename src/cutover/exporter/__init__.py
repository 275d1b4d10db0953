"""``cutover exporter``: cutover's probes on demand, in Prometheus's exposition format.

- :mod:`cutover.exporter.modules`: what a ``/probe`` request probes (target and module);
- :mod:`cutover.exporter.server`: the HTTP server, its bounds and its own metrics.

The probes are :mod:`cutover.probes`' (the same runner, expansion and reasons as
``cutover check``); the metric names are :mod:`cutover.report.prometheus`'. See
docs/exporter.md.
"""
