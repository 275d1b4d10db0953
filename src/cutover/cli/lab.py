"""``cutover lab``: run the rehearsal lab in the foreground, reset its state file, or
capture Fastly services into a scenario file the lab serves.

Module-level imports stay light (typer only); the lab is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cutover.cli.options import (
    EnvOption,
    IncludeRootOption,
    StateDirOption,
    VarOption,
    VarsFileOption,
    overrides,
)

if TYPE_CHECKING:
    from cutover.lab import LabHandle

lab_app = typer.Typer(
    name="lab",
    help="The embedded rehearsal lab: the 2018 PyPI CDN topology on loopback.",
    no_args_is_help=True,
    add_completion=False,
)

_STATE_FILE_HELP = (
    "Share the control-plane state through this file (default: lab/<scenario>.json in the"
    " state directory)."
)
_STATE_DIR_HELP = (
    "State directory (default: as for every command, see `cutover run --help`): commands"
    " using this directory with an environment that has `lab:` attach to this lab while it"
    " runs."
)


_SCENARIO_HELP = (
    "Scenario to start from: a built-in one's name, or a scenario file"
    " (e.g. lab/scenarios/NAME.yml, written by `cutover lab capture`)."
)


@lab_app.command()
def serve(
    scenario: Annotated[str, typer.Option(help=_SCENARIO_HELP)] = "pypi-2018",
    port: Annotated[int, typer.Option(help="Data-plane port (0 = any free port).")] = 8080,
    api_port: Annotated[int, typer.Option(help="API port (0 = any free port).")] = 8081,
    state_file: Annotated[Path | None, typer.Option(help=_STATE_FILE_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fault-injection generators.")] = 0,
    state_dir: Annotated[
        Path | None, typer.Option("--state", "--state-dir", help=_STATE_DIR_HELP)
    ] = None,
    duration: Annotated[
        float, typer.Option("--for", help="Stop after this many seconds (0 = until stopped).")
    ] = 0.0,
    traffic: Annotated[
        str,
        typer.Option(
            help="Send a background client mix like pip's at this rate (e.g. 50/s; 0 = none),"
            " so metric guards have traffic to measure."
        ),
    ] = "0",
) -> None:
    """Serve the lab on 127.0.0.1 until Ctrl-C or SIGTERM."""
    from cutover.cli.options import resolve_state as resolve_state_dir
    from cutover.cli.output import exits, fail_input
    from cutover.errors import InputError
    from cutover.lab import SCENARIOS, start_lab
    from cutover.lab.scenario_document import is_scenario_file
    from cutover.lab.scenarios import Scenario
    from cutover.lab.traffic import parse_rate
    from cutover.private_files import private_dir
    from cutover.scenario_files import scenario_from_file
    from cutover.target import lab_state_file

    chosen: str | Scenario = scenario
    if is_scenario_file(scenario):
        with exits():
            chosen = scenario_from_file(Path(scenario))
    elif scenario not in SCENARIOS:
        fail_input(
            f"unknown scenario {scenario!r}",
            hint=f"known: {', '.join(SCENARIOS)}; or a scenario file (NAME.yml)",
        )
    try:
        rate = parse_rate(traffic)
    except ValueError as exc:
        fail_input(f"--traffic: {exc}", hint="e.g. --traffic 50/s")
    directory = resolve_state_dir(state_dir)
    if state_file is None:
        state_file = lab_state_file(directory, _state_name(scenario, chosen))
        private_dir(state_file.parent)
    with exits():
        try:
            lab = start_lab(
                chosen, state_file, data_port=port, api_port=api_port, seed=seed, traffic=rate
            )
        except OSError as exc:
            raise InputError(f"cannot start the lab: {exc}") from exc
    with lab:  # closed on every path: an error, Ctrl-C before the handlers are set, a signal
        _serve_until_stopped(lab, directory, duration)


def _state_name(value: str, chosen: object) -> str:
    """The state file's name: a built-in scenario's name; for a scenario file, its
    scenario's name and a digest of its content, so that a new capture starts fresh
    while restarting the same one keeps the changes made to it."""
    if isinstance(chosen, str):
        return chosen
    import hashlib

    from cutover.lab.scenarios import Scenario

    assert isinstance(chosen, Scenario)
    return f"{chosen.name}-{hashlib.sha256(Path(value).read_bytes()).hexdigest()[:12]}"


def _serve_until_stopped(lab: LabHandle, directory: Path, duration: float) -> None:
    """Publish the endpoint, print the banner, wait for ``duration`` or a signal; then
    withdraw the endpoint and put the signal handlers back."""
    import signal
    import threading

    from cutover.target import publish_endpoint, withdraw_endpoint

    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        endpoint = publish_endpoint(directory, lab)
        try:
            typer.echo(_banner(lab))
            typer.echo(f"commands using the state directory {directory} attach to this lab")
            if duration > 0:
                stop.wait(duration)
            else:
                while not stop.wait(0.5):  # until a signal arrives
                    pass
        finally:
            withdraw_endpoint(endpoint)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        typer.echo("lab stopped")


def _banner(lab: object) -> str:
    from cutover.lab import SCENARIOS, LabHandle
    from cutover.lab.packages import default_catalog

    assert isinstance(lab, LabHandle)
    if lab.scenario not in SCENARIOS:
        return _scenario_file_banner(lab)
    port = lab.data_port
    wheel = default_catalog().files[0]
    resolves = " ".join(f"--resolve {host}:{port}:127.0.0.1" for host in lab.hostnames)
    key = f"-H 'Fastly-Key: {lab.token}'"
    hash_url = f"http://files.pythonhosted.org{wheel.url_path}"
    return f"""cutover lab: scenario {lab.scenario}
{_endpoints(lab)}

try (--connect-to sends every hostname to the lab and keeps the Host header, so
redirect chains can be followed with -L; the lab's public scheme is http):
  R='--connect-to ::127.0.0.1:{port}'
  # a cache hit (warm) and a forced miss (unique query string) on files.pythonhosted.org
  curl -sI $R {hash_url}
  curl -sI $R '{hash_url}?miss=1'
  # the same with --resolve (explicit port in the URL)
  curl -sI {resolves} http://files.pythonhosted.org:{port}{wheel.url_path}
  # warehouse's JSON API
  curl -s $R http://pypi.org/pypi/sampleproject/json
  # the control plane (Fastly-compatible) and the lab's own state
  curl -s {key} {lab.api_url}/service
  curl -s {key} {lab.api_url}/lab/state
Ctrl-C stops the lab."""


@lab_app.command()
def reset(
    state_file: Annotated[Path | None, typer.Option(help="The state file to reset.")] = None,
    scenario: Annotated[
        str | None, typer.Option(help="Scenario to reset to (default: the file's own).")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state", "--state-dir", help=_STATE_DIR_HELP)
    ] = None,
) -> None:
    """Reset the lab to its scenario's initial state (a served lab, or its state file)."""
    from cutover.cli.options import resolve_state as resolve_state_dir
    from cutover.cli.output import exits
    from cutover.lab import reset_state_file
    from cutover.target import attached_lab, lab_state_file

    directory = resolve_state_dir(state_dir)
    served = attached_lab(directory) if state_file is None else None
    if served is not None:
        import httpx

        httpx.post(
            f"{served['api_url']}/lab/reset", headers={"Fastly-Key": served["token"]}, timeout=10
        ).raise_for_status()
        typer.echo(f"the lab served by pid {served['pid']} is reset to its scenario")
        return
    if state_file is None:
        state_file = lab_state_file(directory, scenario or "pypi-2018")
        if not state_file.exists():
            typer.echo(f"{state_file}: nothing to reset (the lab starts from its scenario)")
            return
    with exits():
        written = reset_state_file(state_file, scenario)
    typer.echo(f"{state_file}: reset to scenario {written}")


def _endpoints(lab: LabHandle) -> str:
    """The banner's lines on where the lab answers, and its services."""
    ids = "\n".join(f"  {name:<10} {sid}" for name, sid in lab.service_ids.items())
    return f"""  data plane  http://{lab.data_address}   (hostnames: {", ".join(lab.hostnames)})
  API         {lab.api_url}
  API token   {lab.token}
  state file  {lab.state_file or "(none: in memory)"}
  traffic     {f"{lab.traffic.rate:g} client requests/s" if lab.traffic else "none (--traffic N/s)"}
  stats       {lab.api_url}/v1/channel/<service>/ts/0 (Fastly real-time), {lab.api_url}/metrics
services:
{ids}"""


def _scenario_file_banner(lab: LabHandle) -> str:
    """The banner of a lab serving a scenario file (a capture)."""
    port = lab.data_port
    first = lab.hostnames[0] if lab.hostnames else "HOST"
    return f"""cutover lab: scenario file {lab.scenario}
{_endpoints(lab)}

try:
  curl -sI --connect-to ::127.0.0.1:{port} http://{first}/
  curl -s -H 'Fastly-Key: {lab.token}' {lab.api_url}/service
Ctrl-C stops the lab."""


@lab_app.command()
def capture(
    file: Annotated[Path, typer.Argument(help="the runbook naming the fastly backends")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="the scenario file to write (NAME.yml)")
    ],
    env: EnvOption = "lab",
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service", "-s", help="a service to capture (name or ID; repeatable; default: all)"
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="the scenario's name (default: the file's name)")
    ] = None,
    var: VarOption = None,
    vars_file: VarsFileOption = None,
    include_root: IncludeRootOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Read the fastly services' active versions (read-only) into a scenario file."""
    from cutover.cli.lab_capture import capture_environment, default_name
    from cutover.cli.options import resolve_state as resolve_state_dir
    from cutover.cli.output import exits, say
    from cutover.lab.capture import write_scenario
    from cutover.runbook.loader import load_runbook
    from cutover.secrets import preload
    from cutover.target import open_target

    with exits():
        extra = overrides(var, vars_file, include_root)
        with open_target(file, env, resolve_state_dir(state_dir)) as target:
            loaded = load_runbook(file, environment=env, overrides=extra, lab=target.lab)
            preload(loaded.model)
            doc = capture_environment(
                loaded.model, service or [], name=name or default_name(output)
            )
        written = write_scenario(doc, output)
    listed = ", ".join(f"{s.name} (version {s.version})" for s in written.services)
    say(f"captured {len(written.services)} service(s) into {output}: {listed}")
    say(f"serve it with: cutover lab serve --scenario {output}")
