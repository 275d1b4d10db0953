"""The rehearsal lab: the 2018 PyPI file-hosting topology on loopback.

The world, not the tool: a CDN (edge and shield nodes routing by Host, with caches),
the origins (warehouse, legacy PyPI, the conveyor, an S3-style object store with real
package files) and a Fastly-compatible control-plane API. The rest of cutover reaches
it only over HTTP, apart from starting and stopping it::

    from cutover.lab import start_lab

    with start_lab("pypi-2018") as lab:
        lab.resolve      # {"files.pythonhosted.org": "127.0.0.1:PORT", ...}
        lab.api_url, lab.token, lab.service_ids

See ``docs/lab.md`` for the model, the knobs and the incident replay.
"""

from __future__ import annotations

from cutover.lab.runtime import LabHandle, start_lab
from cutover.lab.scenarios import SCENARIOS
from cutover.lab.state_store import LabStateError, read_state_scenario, reset_state_file

__all__ = [
    "SCENARIOS",
    "LabHandle",
    "LabStateError",
    "read_state_scenario",
    "reset_state_file",
    "start_lab",
]
