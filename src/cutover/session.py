"""A command's session: the loaded runbook, its target (lab), the journal and the prober.

``run``, ``resume``, ``rollback`` and ``plan`` all start the same way: find the state
directory, prepare the environment's target (attach to or start the lab), load and
render the runbook with the lab in scope, then open the journal. This module is that one
way, so the commands stay thin.
"""

from __future__ import annotations

import secrets as random_tokens
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cutover.errors import CutoverError, RunExit
from cutover.journal import Journal
from cutover.runbook.loader import Loaded, VarOverrides, load_runbook
from cutover.runbook.models import Runbook
from cutover.sealing import Sealer
from cutover.secrets import preload
from cutover.state_location import Store
from cutover.target import Target, open_target


class ProbeSetupError(CutoverError):
    """Probe sets could not be prepared (e.g. a JSON API to expand from did not answer).

    Raised before anything changes, so the exit code is 2: nothing was changed.
    """

    exit_code = RunExit.INVALID


def new_run_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{random_tokens.token_hex(2)}"


class StageProber:
    """Runs a stage's probe sets: expanded once per session, probed on every round."""

    def __init__(self, loaded: Loaded[Runbook], target: Target, concurrency: int = 16) -> None:
        from cutover.probes import ProbeRunner
        from cutover.target import probe_settings

        resolve, ca_bundle = probe_settings(loaded, target)
        self.loaded = loaded
        self.runner = ProbeRunner(resolve=resolve, ca_bundle=ca_bundle, concurrency=concurrency)
        self._specs: dict[str, list[Any]] = {}

    def prepare(self, names: Sequence[str]) -> None:
        """Expand every named set now (fetching JSON APIs), so a run fails before changing."""
        for name in names:
            self._expanded(name)

    def _expanded(self, name: str) -> list[Any]:
        if name not in self._specs:
            from cutover.probes import expand_sets

            probe_set = self.loaded.model.probes[name]
            try:
                self._specs[name] = list(
                    expand_sets(
                        {name: probe_set},
                        bases={name: self.loaded.probe_bases[name]},
                        runner=self.runner,
                    )
                )
            except CutoverError as exc:
                raise ProbeSetupError(
                    f"probe set {name!r} could not be prepared: {exc.message}", hint=exc.hint
                ) from None
        return self._specs[name]

    def probe(
        self,
        sets: Sequence[str],
        on_result: Callable[[Any], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Sequence[Any]:
        specs = [spec for name in sets for spec in self._expanded(name)]
        return list(self.runner.run(specs, on_result=on_result, cancel=cancel))

    def close(self) -> None:
        self.runner.close()


@dataclass
class Session:
    state_dir: Path
    loaded: Loaded[Runbook]
    target: Target
    journal: Journal

    @property
    def runbook(self) -> Runbook:
        return self.loaded.model

    def prober(self) -> StageProber:
        return StageProber(self.loaded, self.target)

    def used_probe_sets(self) -> list[str]:
        names: list[str] = []
        for stage in self.runbook.stages:
            if stage.enabled:
                names.extend(n for n in stage.probes if n not in names)
        names.extend(n for n in self.runbook.rollback.verify if n not in names)
        return names


@contextmanager
def open_session(
    path: Path, environment: str, overrides: VarOverrides, store: Store
) -> Iterator[Session]:
    """Target prepared, runbook loaded, journal open; everything closed on exit."""
    with open_target(path, environment, store.directory) as target:
        loaded = load_runbook(path, environment=environment, overrides=overrides, lab=target.lab)
        preload(loaded.model)
        journal = Journal.open(store)
        journal.seal_with(Sealer.for_runbook(loaded.model))
        try:
            yield Session(store.directory, loaded, target, journal)
        finally:
            journal.close()
