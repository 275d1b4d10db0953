"""Where probes go for an environment: its resolve map and CA bundle (and the lab, if any).

This is the one place that prepares an environment for probing; ``cutover check`` and the
run engine both use :func:`probe_target`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cutover.errors import CutoverError, InputError
from cutover.probes.resolve import parse_resolve
from cutover.runbook.loader import Loaded


class TargetError(CutoverError):
    """The environment cannot be probed (for ``check``: UNKNOWN, exit 3)."""


@dataclass(frozen=True)
class ProbeTarget:
    resolve: dict[str, str] = field(default_factory=dict)
    ca_bundle: str | None = None


@contextmanager
def probe_target(loaded: Loaded[Any]) -> Iterator[ProbeTarget]:
    """The resolve map and CA bundle of ``loaded``'s environment, ready while in the block.

    Without an environment (``--env`` not given), probes use real DNS and the system CAs.
    """
    name = loaded.environment
    environments = getattr(loaded.model, "environments", {})
    env = environments.get(name) if name is not None else None
    if env is None:
        yield ProbeTarget()
        return
    where = f"{loaded.source}: environments.{name}"
    try:
        parse_resolve(env.resolve)
    except ValueError as exc:
        raise InputError(f"{where}.{exc}") from None
    ca_bundle: str | None = None
    if env.ca_bundle is not None:
        path = Path(env.ca_bundle)
        if not path.is_absolute():
            path = loaded.source.parent / path
        if not path.is_file():
            raise InputError(f"{where}.ca_bundle: no such file {path}")
        ca_bundle = str(path)
    resolve = dict(env.resolve)
    if env.lab is not None:
        # lab: wired by the lead. Start the embedded lab (scenario env.lab.scenario, seed
        # env.lab.seed) in-process on loopback here, add {hostname: lab data address} for
        # each lab hostname to `resolve` (entries already in env.resolve win), yield, and
        # stop the lab when the block ends.
        raise TargetError(
            f"{where}: this environment needs the embedded lab, which this build cannot "
            "start yet",
            hint="use an environment with a `resolve` map to probe a running server",
        )
    yield ProbeTarget(resolve, ca_bundle)
