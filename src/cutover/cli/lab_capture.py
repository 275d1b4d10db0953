"""``cutover lab capture``: from a runbook's environment to a scenario file.

The runbook names, per environment, the fastly backends (API address, the token's
secret reference, the ``services:`` map); :func:`capture_environment` reads the named
services' active versions through each backend's API
(:func:`cutover.lab.capture.capture_services`) and returns one scenario document.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cutover.actions.fastly import fastly_api
from cutover.errors import InputError
from cutover.hints import did_you_mean
from cutover.lab.capture import capture_services, scenario_document
from cutover.lab.scenario_document import ScenarioDocument, ScenarioService
from cutover.runbook.backends import FastlySettings
from cutover.runbook.models import Runbook


def _services_by_backend(
    backends: dict[str, FastlySettings], wanted: Sequence[str]
) -> dict[str, list[str]]:
    """Backend name -> the service IDs to capture there. ``wanted`` names services by
    friendly name or ID; with one fastly backend, an ID its map does not name is taken
    as is. Default: every service of every backend's map."""
    if not wanted:
        return {n: list(dict.fromkeys(b.services.values())) for n, b in backends.items()}
    plan: dict[str, list[str]] = {n: [] for n in backends}
    for service in wanted:
        owners = [
            n
            for n, b in backends.items()
            if service in b.services or service in b.services.values()
        ]
        if not owners and len(backends) > 1:
            known = sorted({k for b in backends.values() for k in b.services})
            raise InputError(
                f"capture: no service {service!r} in the fastly backends' `services:`",
                hint=did_you_mean(service, known) or "name one of their services, or its ID",
            )
        owner = owners[0] if owners else next(iter(backends))
        plan[owner].append(backends[owner].services.get(service, service))
    return plan


def capture_environment(
    runbook: Runbook, wanted: Sequence[str], *, name: str, description: str = ""
) -> ScenarioDocument:
    """Capture the services of the runbook's fastly backends (``wanted``: some of them,
    by friendly name or ID; default: every service each backend's map names)."""
    backends = {n: b for n, b in runbook.backends.items() if isinstance(b, FastlySettings)}
    if not backends:
        raise InputError(
            "capture: the runbook has no fastly backend in this environment",
            hint="capture reads Fastly services (a `kind: fastly` backend)",
        )
    services: list[ScenarioService] = []
    for backend_name, ids in _services_by_backend(backends, wanted).items():
        if not ids:
            continue
        backend = backends[backend_name]
        client = fastly_api(backend)
        try:
            services.extend(capture_services(client, ids, name=name).services)
        finally:
            client.close()
    return scenario_document(services, name=name, description=description)


def default_name(output: Path) -> str:
    """A scenario's name from its file: ``lab/scenarios/prod-cdn.yml`` → ``prod-cdn``."""
    return output.name.removesuffix(".yml").removesuffix(".yaml").lower()
