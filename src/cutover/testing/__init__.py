"""Test helpers for cutover and its plugins: real servers on loopback, the real CLI.

Like ``structlog.testing``: import what you need in your tests or benchmarks. Nothing
here imports pytest; wrap these in fixtures in your own ``conftest.py``. Everything binds
127.0.0.1 only, is bounded in time, and stops only the processes it started.

- :mod:`cutover.testing.net`: :func:`free_port`, :func:`port_closed`, :func:`wait_for`,
  :func:`serving` (an ``http.server`` on a thread);
- :mod:`cutover.testing.cli`: :func:`run_cutover` (``python -m cutover`` in a subprocess,
  bounded), :func:`cli_env`, :func:`run_id_of`, :func:`stop_process`;
- :mod:`cutover.testing.journal`: the journal read with plain SQL (:func:`events`,
  :func:`run_row`, :func:`run_ids`, :func:`applied_twice`);
- :mod:`cutover.testing.served_lab`: :class:`ServedLab` (``cutover lab serve`` in its own
  process), :func:`fingerprint` of the lab's settings, and :func:`migrated`, what
  ``runbooks/pypi-files.yml`` leaves;
- :mod:`cutover.testing.lab_client`: :class:`LabClient` for a lab started in-process
  with :func:`cutover.lab.start_lab`;
- :mod:`cutover.testing.nginx`: :func:`running_nginx`, a real nginx with a temp prefix;
- :mod:`cutover.testing.rest_server`: :func:`running_rest_server`, a JSON settings store;
- :mod:`cutover.testing.probe_server`: :func:`running_server`, an origin that misbehaves
  in every way a probe must name.

See docs/testing.md.
"""

from __future__ import annotations

from cutover.testing.cli import (
    cli_env,
    cutover_argv,
    kill_group,
    run_cutover,
    run_id_of,
    stop_process,
)
from cutover.testing.journal import Event, applied_twice, events, run_ids, run_row
from cutover.testing.lab_client import Hop, LabClient
from cutover.testing.net import WaitTimeout, free_port, port_closed, server_url, serving, wait_for
from cutover.testing.nginx import NginxServer, nginx_binary, running_nginx
from cutover.testing.rest_server import RestServer, running_rest_server
from cutover.testing.served_lab import (
    Fingerprint,
    ServedLab,
    draft_versions,
    fingerprint,
    locked_versions,
    migrated,
)

__all__ = [
    "Event",
    "Fingerprint",
    "Hop",
    "LabClient",
    "NginxServer",
    "RestServer",
    "ServedLab",
    "WaitTimeout",
    "applied_twice",
    "cli_env",
    "cutover_argv",
    "draft_versions",
    "events",
    "fingerprint",
    "free_port",
    "kill_group",
    "locked_versions",
    "migrated",
    "nginx_binary",
    "port_closed",
    "run_cutover",
    "run_id_of",
    "run_ids",
    "run_row",
    "running_nginx",
    "running_rest_server",
    "server_url",
    "serving",
    "stop_process",
    "wait_for",
]
