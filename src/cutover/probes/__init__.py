"""Synthetic download probes: one download followed hop by hop, run many at a time.

The public face (a test asserts it)::

    from cutover.probes import ProbeRunner, ProbeResult, expand_sets

    with ProbeRunner(resolve={"files.pythonhosted.org": "127.0.0.1:8080"}, concurrency=8) as runner:
        specs = expand_sets(loaded.model.sets, bases=loaded.probe_bases, runner=runner)
        results = runner.run(specs, on_result=print)

``docs/probes.md`` documents the reasons, their precedence, expectations and expansion.
"""

from cutover.probes.expansion import ExpansionError, expand_sets
from cutover.probes.probe import run_probe
from cutover.probes.result import Hop, ProbeResult
from cutover.probes.runner import ProbeRunner
from cutover.reasons import Reason

__all__ = [
    "ExpansionError",
    "Hop",
    "ProbeResult",
    "ProbeRunner",
    "Reason",
    "expand_sets",
    "run_probe",
]
