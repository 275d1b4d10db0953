"""Seeded fault injection: the same seed gives the same sequence of faults.

Each target (a backend name, or ``api``) has its own ``random.Random`` seeded from
``"<seed>:<target>"``. The generator is re-seeded whenever the target's fault settings
change (or the lab is reset), so "configure faults with seed S, then send N requests"
yields the same outcomes on every run. Draws happen only while a fault is configured.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cutover.lab.state import ApiFaults, BackendFaults


@dataclass(frozen=True)
class BackendOutcome:
    """What happens to one fetch from a backend."""

    fail: bool  #: answer ``status`` instead of fetching
    status: int
    latency_s: float
    reason: str  #: ``""``, ``"unhealthy"`` or ``"injected"``


@dataclass(frozen=True)
class ApiOutcome:
    """What happens to one control-plane API request."""

    kind: str  #: ``ok``, ``error``, ``timeout`` or ``slow``
    status: int = 0
    delay_s: float = 0.0


class FaultInjector:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rngs: dict[str, random.Random] = {}
        self._signatures: dict[str, object] = {}

    def _rng(self, target: str, seed: int | None, signature: object) -> random.Random:
        """The target's generator, re-seeded when its settings changed."""
        if self._signatures.get(target) != signature or target not in self._rngs:
            self._signatures[target] = signature
            effective = self.seed if seed is None else seed
            self._rngs[target] = random.Random(f"{effective}:{target}")
        return self._rngs[target]

    def reseed_all(self) -> None:
        self._rngs.clear()
        self._signatures.clear()

    def backend(self, name: str, faults: BackendFaults) -> BackendOutcome:
        latency = faults.latency_ms / 1000.0
        if not faults.healthy:
            return BackendOutcome(True, 503, latency, "unhealthy")
        if faults.error_rate <= 0:
            return BackendOutcome(False, 0, latency, "")
        signature = (faults.error_rate, faults.status, faults.latency_ms, faults.seed)
        rng = self._rng(name, faults.seed, signature)
        if rng.random() < faults.error_rate:
            return BackendOutcome(True, faults.status, latency, "injected")
        return BackendOutcome(False, 0, latency, "")

    def api(self, faults: ApiFaults) -> ApiOutcome:
        if not faults.active:
            return ApiOutcome("ok")
        signature = (
            faults.error_rate,
            tuple(faults.error_statuses),
            faults.timeout_rate,
            faults.timeout_seconds,
            faults.slow_rate,
            faults.slow_ms,
            faults.seed,
        )
        rng = self._rng("api", faults.seed, signature)
        draw = rng.random()
        if draw < faults.error_rate:
            statuses = faults.error_statuses or [503]
            return ApiOutcome("error", status=statuses[rng.randrange(len(statuses))])
        draw -= faults.error_rate
        if draw < faults.timeout_rate:
            return ApiOutcome("timeout", delay_s=faults.timeout_seconds)
        draw -= faults.timeout_rate
        if draw < faults.slow_rate:
            return ApiOutcome("slow", delay_s=faults.slow_ms / 1000.0)
        return ApiOutcome("ok")
