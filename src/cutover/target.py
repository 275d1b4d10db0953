"""The world a command acts on: an environment's resolve map, CA bundle, and lab.

For an environment with ``lab:``, the embedded lab must be one consistent world across
commands, as a real CDN is. Two ways, decided here and documented in docs/lab.md:

1. **A served lab.** ``cutover lab serve`` writes an endpoint file in the state
   directory (``lab/endpoint.json``: API URL, data address, pid). While that process
   lives, every command attaches to it. This is how the crash tests keep the lab alive
   when cutover itself is killed.
2. **An in-process lab on a persisted state.** Otherwise each command starts the lab on
   free loopback ports, loading and saving its control-plane state in
   ``lab/<scenario>.json`` in the state directory, so ``plan``, ``run``, ``rollback``,
   ``resume`` and ``check`` see the changes the previous command made.
   ``cutover lab reset`` puts the scenario's initial state back.

The lab's API token is exported as ``CUTOVER_LAB_TOKEN`` for this process, so runbooks
reference it like any secret (``env:CUTOVER_LAB_TOKEN``) and it is redacted the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cutover.errors import InputError
from cutover.fileio import atomic_write
from cutover.private_files import private_dir
from cutover.runbook.document import load_document

if TYPE_CHECKING:
    from cutover.runbook.loader import Loaded

LAB_TOKEN_ENV = "CUTOVER_LAB_TOKEN"


@dataclass
class Target:
    """Where probes go and what templates may say about the lab."""

    resolve: dict[str, str] = field(default_factory=dict)
    ca_bundle: str | None = None
    lab: dict[str, Any] | None = None  #: the ``{{ lab.* }}`` template context


def probe_settings(loaded: Loaded[Any], target: Target) -> tuple[dict[str, str], str | None]:
    """The resolve map and CA bundle probes use in ``loaded``'s environment.

    The environment's own ``resolve`` entries win over the lab's; a relative
    ``ca_bundle`` is relative to the document. Without an environment, probes use real
    DNS and the system CAs.
    """
    from cutover.probes.resolve import parse_resolve

    name = loaded.environment
    env = loaded.model.environments.get(name) if name is not None else None
    resolve = dict(target.resolve)
    if env is None:
        return resolve, target.ca_bundle
    where = f"{loaded.source}: environments.{name}"
    try:
        parse_resolve(env.resolve)
    except ValueError as exc:
        raise InputError(f"{where}.{exc}") from None
    resolve.update(env.resolve)
    ca_bundle = target.ca_bundle
    if env.ca_bundle is not None:
        path = Path(env.ca_bundle)
        if not path.is_absolute():
            path = loaded.source.parent / path
        if not path.is_file():
            raise InputError(f"{where}.ca_bundle: no such file {path}")
        ca_bundle = str(path)
    return resolve, ca_bundle


def lab_settings(path: Path, environment: str | None) -> dict[str, Any] | None:
    """The ``lab:`` mapping of an environment, read before the document is rendered."""
    if environment is None:
        return None
    data = load_document(path).data
    envs = data.get("environments") if isinstance(data, dict) else None
    env = envs.get(environment) if isinstance(envs, dict) else None
    lab = env.get("lab") if isinstance(env, dict) else None
    if lab is None:
        return None
    return lab if isinstance(lab, dict) else {}


def endpoint_file(directory: Path) -> Path:
    return directory / "lab" / "endpoint.json"


def lab_state_file(directory: Path, scenario: str) -> Path:
    return directory / "lab" / f"{scenario}.json"


@contextmanager
def open_target(path: Path, environment: str | None, directory: Path) -> Iterator[Target]:
    """Prepare the environment's target; starts (and stops) an in-process lab if needed."""
    settings = lab_settings(path, environment)
    if settings is None:
        yield Target()
        return
    scenario = str(settings.get("scenario", "pypi-2018"))
    seed = settings.get("seed", 0)
    served = attached_lab(directory)
    if served is not None:
        _export_token(served["token"])
        yield _lab_target(served)
        return
    from cutover.lab import SCENARIOS, start_lab

    if scenario not in SCENARIOS:
        raise InputError(
            f"unknown lab scenario {scenario!r}", hint=f"one of: {', '.join(sorted(SCENARIOS))}"
        )
    state = lab_state_file(directory, scenario)
    private_dir(state.parent)
    with start_lab(
        scenario,
        state_file=state,
        seed=int(seed) if isinstance(seed, int) else 0,
        traffic=_traffic_rate(path, settings),
    ) as lab:
        info = {
            "api_url": lab.api_url,
            "data_address": lab.data_address,
            "token": lab.token,
            "service_ids": dict(lab.service_ids),
            "hostnames": list(lab.hostnames),
            "resolve": dict(lab.resolve),
        }
        _export_token(lab.token)
        yield _lab_target(info)


#: client requests/s an in-process lab sends when a runbook's guard has metric checks
METRICS_TRAFFIC = 20.0


def _traffic_rate(path: Path, settings: dict[str, Any]) -> float:
    """The lab's background traffic: its ``traffic:`` setting, else
    :data:`METRICS_TRAFFIC` when a guard of the document has metric checks (they need
    traffic to measure), else none."""
    rate = settings.get("traffic")
    if isinstance(rate, int | float) and not isinstance(rate, bool):
        return max(0.0, min(float(rate), 500.0))
    data = load_document(path).data
    if not isinstance(data, dict):
        return 0.0
    stages = data.get("stages")
    guards = [data.get("guard")] + [
        s.get("guard") for s in (stages if isinstance(stages, list) else []) if isinstance(s, dict)
    ]
    wanted = any(isinstance(g, dict) and g.get("metrics") for g in guards)
    return METRICS_TRAFFIC if wanted else 0.0


def attached_lab(directory: Path) -> dict[str, Any] | None:
    """The endpoint of a live ``cutover lab serve`` for this state directory, if any."""
    from cutover.process import pid_alive

    try:
        info = json.loads(endpoint_file(directory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not pid_alive(int(info.get("pid", 0))):
        return None
    return info


def publish_endpoint(directory: Path, lab: Any) -> Path:
    """Write the endpoint file of a served lab (mode 0600: it holds the lab's token)."""
    path = endpoint_file(directory)
    private_dir(path.parent)
    info = {
        "pid": os.getpid(),
        "scenario": lab.scenario,
        "api_url": lab.api_url,
        "data_address": lab.data_address,
        "token": lab.token,
        "service_ids": dict(lab.service_ids),
        "hostnames": list(lab.hostnames),
        "resolve": dict(lab.resolve),
    }
    atomic_write(path, json.dumps(info), mode=0o600)
    return path


def withdraw_endpoint(path: Path) -> None:
    """Remove an endpoint file, if it is still ours."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(info, dict) and info.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def _export_token(token: str) -> None:
    from cutover.secrets import remember

    os.environ[LAB_TOKEN_ENV] = token
    remember(token)


def _lab_target(info: dict[str, Any]) -> Target:
    context = {
        "api_url": info["api_url"],
        "data_address": info["data_address"],
        "token_env": LAB_TOKEN_ENV,
        "service_ids": info["service_ids"],
        "hostnames": info["hostnames"],
    }
    return Target(resolve=dict(info["resolve"]), lab=context)
