"""``cutover exporter --checks FILE --port N``: probes on demand, for Prometheus to scrape.

The HTTP side is :mod:`cutover.exporter.server` (blackbox_exporter's multi-target
pattern); this command loads the checks file for an environment (its resolve map, CA
bundle, the lab), serves until Ctrl-C or SIGTERM, and exits 0. Invalid input (a bad
checks file, option, or a port that cannot be bound) exits 2 before serving anything.
See docs/exporter.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cutover.cli.options import StateDirOption, VarOption, VarsFileOption, overrides

if TYPE_CHECKING:
    from cutover.runbook.loader import VarOverrides
    from cutover.target import Target


def exporter(
    checks: Annotated[
        Path, typer.Option("--checks", help="checks file (checks/*.yml): sets and modules")
    ],
    port: Annotated[int, typer.Option("--port", help="port to listen on (0: any free port)")],
    host: Annotated[
        str, typer.Option("--host", help="address to listen on (0.0.0.0: every interface)")
    ] = "127.0.0.1",
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="environment profile (resolve map, CA)")
    ] = None,
    var: VarOption = None,
    vars_file: VarsFileOption = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", help="/probe requests at once (default: the file's)"),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="cap on every probe's timeout per attempt, in seconds"),
    ] = 10.0,
    state_dir: StateDirOption = None,
) -> None:
    """Serve /probe?target=URL&module=NAME and /probe?set=NAME as Prometheus metrics."""
    from cutover.cli.options import resolve_state as resolve_state_dir
    from cutover.cli.output import exits, fail_input
    from cutover.target import open_target

    if not 0 <= port <= 65535:
        fail_input(f"--port {port}: a port is between 0 and 65535")
    if concurrency is not None and not 1 <= concurrency <= 256:
        fail_input("--concurrency must be between 1 and 256")
    if not 0 < timeout <= 300:
        fail_input("--timeout must be more than 0 and at most 300 seconds")
    extra = overrides(var, vars_file)
    with exits(), open_target(checks, env, resolve_state_dir(state_dir)) as target:
        _serve(checks, env, extra, target, host, port, concurrency, timeout)


def _serve(
    checks: Path, env: str | None, extra: VarOverrides, target: Target, host: str, port: int,
    concurrency: int | None, timeout: float,
) -> None:  # fmt: skip
    import signal
    import threading

    from cutover.errors import InputError
    from cutover.exporter.server import Exporter, ExporterServer, Settings, serve
    from cutover.probes import ProbeRunner
    from cutover.runbook.loader import load_checks
    from cutover.target import probe_settings

    loaded = load_checks(checks, environment=env, overrides=extra, lab=target.lab)
    settings = Settings(concurrency or loaded.model.concurrency, timeout)
    resolve, ca_bundle = probe_settings(loaded, target)
    with ProbeRunner(resolve=resolve, ca_bundle=ca_bundle, concurrency=settings.concurrency) as r:
        exporter = Exporter(loaded, r, settings)
        try:
            server = ExporterServer((host, port), exporter)
        except OSError as exc:
            exporter.close()
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        stop = threading.Event()

        def _on_signal(signum: int, frame: object) -> None:
            stop.set()

        previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            typer.echo(
                f"cutover exporter: {loaded.model.name} on {server.url} "
                f"(/probe?target=URL&module=NAME, /probe?set=NAME, /metrics)"
            )
            serve(server, stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    typer.echo("cutover exporter stopped")
