"""What a backend kind's rehearsal makes: a :class:`Copy` of the backend, on loopback.

A backend kind names its rehearsal in :class:`cutover.runbook.kinds.BackendKind`
(``rehearsal="module:function"``); the function has the :class:`Rehearse` signature. It
reads the real backend (read-only), starts a private copy whose cleanup it registers on
``stack``, and returns the settings that point the backend's steps at the copy, the
resolve entries that send probes there, and what the copy cannot tell. A kind without a
rehearsal, and a step that cannot run against a copy, are refused before anything starts
(:class:`NotRehearsable`).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cutover.errors import CutoverError, RunExit
from cutover.runbook.backends import StepBase
from cutover.runbook.types import Model


class NotRehearsable(CutoverError):
    """The dry run cannot copy this backend or run this step: nothing was started."""

    exit_code = RunExit.INVALID


@dataclass
class Copy:
    """A backend's private copy: its settings, where probes reach it, what it cannot tell."""

    backend: str
    settings: Model
    description: str
    resolve: dict[str, str] = field(default_factory=dict)
    limits: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Need:
    """What a rehearsal is asked to copy: one backend and the enabled steps that use it."""

    backend: str
    settings: Model
    steps: list[StepBase]
    #: hostnames the runbook's probes name (literal URLs): a copy maps them to itself
    probe_hosts: frozenset[str]
    workdir: Path


class Rehearse(Protocol):
    def __call__(self, need: Need, stack: ExitStack) -> Copy: ...
