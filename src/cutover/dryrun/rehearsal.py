"""A runbook made to rehearse: each backend its copy, each step pointed at it.

:func:`refusals` says, before anything starts, what cannot be rehearsed: a backend kind
without a rehearsal, an ``http`` or ``shell`` step without a ``dry_run:`` equivalent.
:func:`rehearse` then makes every copy (registering their cleanup on the stack) and
returns the :class:`Rehearsal`: the runbook whose backends are the copies and whose
environment resolves the probes' hostnames to them.
"""

from __future__ import annotations

import pkgutil
import sys
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cutover.dryrun.copies import Copy, Need, NotRehearsable, Rehearse
from cutover.runbook.backends import HttpStep, ShellStep, StepBase
from cutover.runbook.kinds import KINDS
from cutover.runbook.loader import Loaded
from cutover.runbook.models import Runbook, Stage

#: the undo of a shell step's dry-run command that declares none: nothing to undo
NOTHING = [sys.executable, "-c", "pass"]


@dataclass
class Rehearsal:
    loaded: Loaded[Runbook]  #: the runbook pointed at the copies
    copies: list[Copy]


def refusals(runbook: Runbook) -> list[str]:
    """What this runbook's enabled steps need that a dry run cannot do; empty if none."""
    out: list[str] = []
    for stage, step in _steps(runbook):
        where = f"stage {stage.name!r} step {step.name!r}"
        if isinstance(step, HttpStep | ShellStep):
            if step.dry_run is None:
                out.append(
                    f"{where}: a {step.kind_name} step runs in a dry run only with a"
                    " `dry_run:` equivalent (not rehearsable)"
                )
            continue
        kind = KINDS.get(step.kind_name)
        if kind.rehearsal is None:
            out.append(
                f"{where}: {step.kind_name} backends have no dry-run copy yet (not rehearsable;"
                f" `cutover plan` shows the diff, `--env lab` rehearses the model)"
            )
    return out


def rehearse(loaded: Loaded[Runbook], workdir: Path, stack: ExitStack) -> Rehearsal:
    """Copy every backend the enabled steps use; the runbook pointed at the copies."""
    runbook = loaded.model
    problems = refusals(runbook)
    if problems:
        raise NotRehearsable(
            "this runbook cannot be rehearsed as a dry run:\n  " + "\n  ".join(problems),
            hint="declare `dry_run:` on those steps, or disable them for the rehearsal",
        )
    hosts = _probe_hosts(runbook)
    copies: list[Copy] = []
    backends = dict(runbook.backends)
    for name in sorted({step.backend for _, step in _steps(runbook)}):
        settings = runbook.backends[name]
        steps = [s for _, s in _steps(runbook) if s.backend == name]
        kind = KINDS.get(steps[0].kind_name)
        if kind.rehearsal is None:
            continue  # http and shell: each step carries its own equivalent
        rehearse_one: Rehearse = pkgutil.resolve_name(kind.rehearsal)
        directory = workdir / name
        directory.mkdir(parents=True)
        copy = rehearse_one(Need(name, settings, steps, hosts, directory), stack)
        backends[name] = copy.settings
        copies.append(copy)
    stages = [_stage_for_dry_run(stage, backends) for stage in runbook.stages]
    resolve = {k: v for c in copies for k, v in c.resolve.items()}
    environments = dict(runbook.environments)
    env_name = loaded.environment
    if env_name is not None and env_name in environments:
        env = environments[env_name]
        environments[env_name] = env.model_copy(update={"resolve": {**env.resolve, **resolve}})
    model = runbook.model_copy(
        update={"backends": backends, "stages": stages, "environments": environments}
    )
    return Rehearsal(replace(loaded, model=model), copies)


def _steps(runbook: Runbook) -> list[tuple[Stage, StepBase]]:
    return [(stage, step) for stage in runbook.stages if stage.enabled for step in stage.steps]


def _stage_for_dry_run(stage: Stage, backends: dict[str, Any]) -> Stage:
    steps = [_step_for_dry_run(step, backends) for step in stage.steps]
    return stage.model_copy(update={"steps": steps})


def _step_for_dry_run(step: StepBase, backends: dict[str, Any]) -> StepBase:
    """A shell step runs its ``dry_run`` commands; an http step its ``dry_run`` base URL."""
    if isinstance(step, ShellStep) and step.dry_run is not None:
        dry = step.dry_run
        return step.model_copy(
            update={"command": dry.command, "undo": dry.undo or NOTHING, "check": None}
        )
    if isinstance(step, HttpStep) and step.dry_run is not None:
        name = f"{step.backend}@dry-run:{step.dry_run.base_url}"
        if name not in backends:
            backends[name] = backends[step.backend].model_copy(
                update={"base_url": step.dry_run.base_url}
            )
        return step.model_copy(update={"backend": name})
    return step


def _probe_hosts(runbook: Runbook) -> frozenset[str]:
    hosts: set[str] = set()
    for probe_set in runbook.probes.values():
        for probe in getattr(probe_set, "probes", None) or []:
            url = getattr(probe, "url", None)
            host = urlsplit(str(url)).hostname if url else None
            if host:
                hosts.add(host.lower())
    return frozenset(hosts)


__all__ = ["NotRehearsable", "Rehearsal", "refusals", "rehearse"]
