"""``rollback.purge``: after every step is undone (and settled), purge what the runbook
names from the CDN, so a redirect the run had made (Fastly keeps 301/302 answers for
their TTL) stops being served from cache before the rollback is verified.

Each entry runs as a fastly purge step (:meth:`RollbackPurge.as_step`), with its
backend's retry budget, and is journaled: ``rollback_purged`` with what was purged and
Fastly's purge ids, or ``rollback_purge_failed`` with the error. Every entry is tried
even when one fails; a failure leaves the run needing attention (exit 3): the cached
answer may still be served, and ``cutover rollback RUN`` purges again (a purge is
idempotent).
"""

from __future__ import annotations

from cutover.events import EventKind
from cutover.run_context import RunContext


def purge_after_rollback(run: RunContext) -> list[str]:
    """Run the runbook's ``rollback.purge``; what failed (each journaled)."""
    failures: list[str] = []
    for index, entry in enumerate(run.runbook.rollback.purge):
        step = entry.as_step(index)
        what = entry.model_dump(include={"backend", "service", "urls", "keys", "all", "soft"})
        try:
            action = run.action(step)
            with action:
                record = action.apply(action.snapshot())
        except Exception as exc:  # the API refused, or stayed unreachable
            error = run.error(f"purging after the rollback ({step.name})", exc)
            run.event(EventKind.ROLLBACK_PURGE_FAILED, purge=index, error=error, **what)
            failures.append(f"{step.name}: {error}")
            continue
        run.event(EventKind.ROLLBACK_PURGED, purge=index, ids=record.get("purge_ids", []), **what)
    return failures
