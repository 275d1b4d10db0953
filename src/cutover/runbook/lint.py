"""Lint rules: valid runbooks that are probably dangerous. Warnings; ``--strict`` fails them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cutover.errors import Problem
from cutover.metrics.crossref import slow_metric_checks
from cutover.runbook.backends import ShellSettings
from cutover.runbook.redirect_risk import sets_cdn_redirect

if TYPE_CHECKING:
    from cutover.runbook.loader import Loaded
    from cutover.runbook.models import Runbook


def lint(loaded: Loaded[Runbook]) -> list[Problem]:
    runbook = loaded.model
    pos = loaded.document.positions
    out: list[Problem] = []

    def warn(path: tuple[str | int, ...], message: str, hint: str) -> None:
        out.append(pos.problem(path, message, hint=hint, severity="warning"))

    enabled = [i for i, s in enumerate(runbook.stages) if s.enabled]
    last = enabled[-1] if enabled else -1
    changes = False
    redirecting: list[tuple[str | int, ...]] = []
    for i in enabled:
        stage = runbook.stages[i]
        for j, step in enumerate(stage.steps):
            changes = True
            where = ("stages", i, "steps", j)
            if sets_cdn_redirect(step):
                redirecting.append(where)
            if step.permanent_redirect() and i != last:
                warn(
                    where,
                    f"step {step.name!r} sets a permanent redirect (301/308) before the last stage",
                    "browsers and caches keep 301s, so a rollback cannot take them back: "
                    "ramp with 302, make it permanent in the last stage",
                )
            if not step.reversible():
                warn(
                    where,
                    f"step {step.name!r} has no way to roll back",
                    "give it an undo, or move it after the point of no return",
                )
        if stage.steps and not stage.probes and not runbook.guard_for(stage).metrics:
            warn(
                ("stages", i, "probes"),
                f"stage {stage.name!r} changes something but runs no probes after it",
                "list the probe sets that prove this stage worked",
            )
        for path, message, hint in slow_metric_checks(runbook, i):
            warn(path, message, hint)
    used = {step.backend for i in enabled for step in runbook.stages[i].steps}
    for name, backend in runbook.backends.items():
        if name in used and isinstance(backend, ShellSettings) and not backend.lock_key:
            warn(
                ("backends", name),
                f"shell backend {name!r} has no lock_key",
                "without one, runs are kept apart only within this runbook: name what its"
                " commands change (e.g. `lock_key: dns:example.org`) so that other runbooks"
                " changing it cannot run at the same time",
            )
    if redirecting and not runbook.rollback.purge:
        first = redirecting[0]
        step = runbook.stages[int(first[1])].steps[int(first[3])]
        others = f" (and {len(redirecting) - 1} more)" if len(redirecting) > 1 else ""
        warn(
            first,
            f"step {step.name!r}{others} sets a redirect on the CDN, but rollback.purge purges"
            " nothing: a rolled-back redirect keeps being served from cache",
            "Fastly keeps 301/302 answers for their TTL (the default TTL, an hour, when no"
            " header says otherwise): list what to purge under `rollback.purge` (e.g."
            " `- {backend: cdn, service: files, all: true}`)",
        )
    if changes and not runbook.rollback.verify:
        warn(
            ("rollback",),
            "rollback is not verified by any probe set",
            "list probe sets under rollback.verify (e.g. the preflight sets)",
        )
    return out
