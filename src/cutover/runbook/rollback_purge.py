"""``rollback.purge``: what to purge after a rollback, so that what the run had put in the
CDN's caches (a redirect, above all: Fastly keeps 301/302 answers for their TTL) stops
being served once the configuration is back.

Each entry names a fastly backend and service and what to purge (:class:`FastlyPurge`);
the rollback runs it as a fastly purge step (:meth:`RollbackPurge.as_step`) after every
step is undone and before the verification probes (:mod:`cutover.rollback_purges`).
"""

from __future__ import annotations

from pydantic import Field

from cutover.runbook.backends import FastlyStep
from cutover.runbook.fastly_purge import FastlyPurge


class RollbackPurge(FastlyPurge):
    backend: str = Field(description="name of a fastly backend in `backends`")
    service: str = Field(description="service name (from the backend's `services`) or ID")

    def as_step(self, index: int) -> FastlyStep:
        """This purge as the fastly step the rollback runs."""
        purge = FastlyPurge(urls=self.urls, keys=self.keys, all=self.all, soft=self.soft)
        return FastlyStep(
            name=f"rollback purge {index}", backend=self.backend, service=self.service, purge=purge
        )
