"""One round of probe sets: expand them, probe them, and the round's verdict.

Shared by ``cutover check`` (every round of a check) and ``cutover exporter`` (a
``/probe?set=NAME`` scrape): the same expansion, the same runner, the same
:class:`~cutover.report.check_round.CheckRound` and its Nagios status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cutover.probes.expansion import ExpansionError, expand_sets
from cutover.report.check_round import CheckRound

if TYPE_CHECKING:
    from cutover.probes.runner import ProbeRunner
    from cutover.runbook.loader import Loaded
    from cutover.runbook.probe_models import ChecksFile, ProbeSet


@dataclass(frozen=True)
class ChosenSets:
    """What every round checks: the loaded file, the chosen sets and the thresholds."""

    loaded: Loaded[ChecksFile]
    chosen: Mapping[str, ProbeSet]
    warning: float
    critical: float


def run_round(
    sets: ChosenSets,
    runner: ProbeRunner,
    number: int = 1,
    interval: float | None = None,
    on_error: Callable[[ExpansionError], None] | None = None,
) -> CheckRound:
    """Expand the chosen sets and probe them once; an expansion error is the round's error
    (``on_error`` sees it first, e.g. to print it with its hint)."""
    loaded = sets.loaded
    started, clock = time.time(), time.monotonic()
    bases = {name: loaded.probe_bases.get(name, loaded.source.parent) for name in sets.chosen}
    common: dict[str, Any] = {
        "check": loaded.model.name,
        "source": str(loaded.source),
        "environment": loaded.environment,
        "number": number,
        "started": started,
        "warning": sets.warning,
        "critical": sets.critical,
        "sets": tuple(sets.chosen),
        "interval": interval,
    }
    try:
        specs = expand_sets(sets.chosen, bases=bases, runner=runner)
    except ExpansionError as exc:
        if on_error is not None:
            on_error(exc)
        return CheckRound(duration=time.monotonic() - clock, error=exc.message, **common)
    results = runner.run(specs)
    return CheckRound(duration=time.monotonic() - clock, results=tuple(results), **common)
