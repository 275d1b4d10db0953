"""A fastly backend's rehearsal: its services captured, served by a private lab.

The services the backend's ``services:`` map names (and any service a step names by ID)
are read through the API, read-only, with the backend's own token
(:func:`cutover.lab.capture.capture_services`: domains, backends and shielding,
dictionaries and their items, snippets, custom VCL, settings). A lab on loopback serves
that capture, with the same service, dictionary and snippet IDs, and lives until the dry
run ends; the backend's ``api_url`` and token point at it and the captured domains
resolve to its data plane (port 443 to its TLS listener, with a certificate for them
from a throwaway CA the dry run's probes trust). Nothing is written to the real API.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

from cutover import secrets
from cutover.actions.fastly import fastly_api
from cutover.dryrun.copies import Copy, Need
from cutover.dryrun.tls import copy_tls
from cutover.runbook.backends import FastlySettings, FastlyStep

LIMITS = [
    "real traffic, real cache contents and other POPs (the copy's caches start empty)",
    "what your origins serve: captured backends the lab does not model are answered by"
    " its generic origin (200, naming the host and path)",
]


def rehearse(need: Need, stack: ExitStack) -> Copy:
    from cutover.lab import start_lab
    from cutover.lab.capture import capture_services
    from cutover.lab.scenario_document import scenario_of

    settings = need.settings
    assert isinstance(settings, FastlySettings)
    ids = list(dict.fromkeys(settings.services.values()))
    for step in need.steps:
        if isinstance(step, FastlyStep):
            wanted = settings.services.get(step.service, step.service)
            ids += [wanted] if wanted not in ids else []
    client = fastly_api(settings)
    try:
        doc = capture_services(client, ids, name="dry-run")
    finally:
        client.close()
    scenario = scenario_of(doc)
    tls, bundle = copy_tls(need.workdir / "tls", scenario.hostnames)
    lab = stack.enter_context(start_lab(scenario, tls=tls))
    assert lab.tls_address is not None
    variable = f"CUTOVER_DRY_RUN_TOKEN_{need.backend.upper()}".replace("-", "_")
    os.environ[variable] = lab.token
    secrets.remember(lab.token)
    stack.callback(os.environ.pop, variable, None)
    copied = settings.model_copy(update={"api_url": lab.api_url, "token": f"env:{variable}"})
    names = ", ".join(s.name for s in doc.services)
    return Copy(
        need.backend,
        copied,
        f"a private lab at {lab.api_url} serving a capture of {len(doc.services)} service(s)"
        f" ({names}), data plane {lab.data_address}",
        {**dict(lab.resolve), **{f"{h}:443": lab.tls_address for h in lab.hostnames}},
        list(LIMITS),
        bundle,
    )
