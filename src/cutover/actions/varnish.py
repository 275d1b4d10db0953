"""The ``varnish`` action: a VCL loaded and made active through the management CLI; bans.

- **snapshot**: the active VCL's name and source (``vcl.list -j``, ``vcl.show``);
- **apply**: load the step's VCL under a name made from its digest (``cutover_`` and 16
  hex digits; ``vcl.inline``, skipped when that name is already loaded, so a retry or a
  resume never loads it twice), ``vcl.use`` it, read ``vcl.list`` back; then discard the
  oldest VCLs cutover loaded beyond the backend's ``keep`` (never the active one, never the
  one this step replaced, never a VCL cutover did not load); then the step's bans;
- **rollback**: ``vcl.use`` the prior VCL (still loaded, like Fastly's prior version; if
  it was discarded meanwhile it is loaded again from the journaled source), read back;
  bans are not undone (a ban only empties the cache);
- **reconcile**: the active VCL is the step's (APPLIED), the prior one (NOT_APPLIED) or
  another (DRIFTED); a step of bans alone is APPLIED while ``ban.list`` still shows them;
- :meth:`VarnishAction.finish` (a step found applied after a crash) issues the bans again
  (a ban twice purges twice: harmless);
- **targets**: the active VCL (a step with bans is never "already at target": a purge
  always runs).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from cutover import crash_points
from cutover.actions.base import Action, Change, Diff, Reconciled, Record, State
from cutover.actions.nginx import line_changes
from cutover.actions.varnish_cli import VarnishCli
from cutover.errors import ActionError, ReadBackError, RejectedActionError
from cutover.log import get_logger
from cutover.runbook.proxies import VarnishSettings, VarnishStep

PREFIX = "cutover_"


def vcl_name(source: str) -> str:
    """The name cutover loads ``source`` under: the same source, the same name."""
    return PREFIX + hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def ban_spec(expression: str) -> str:
    """A ban as ``ban.list`` shows it (quotes dropped, spaces collapsed)."""
    return " ".join(expression.replace('"', "").split())


class VarnishAction(Action[VarnishSettings, VarnishStep]):
    kind = "varnish"

    def __init__(self, settings: VarnishSettings, step: VarnishStep) -> None:
        super().__init__(settings, step)
        self.name = vcl_name(step.vcl) if step.vcl is not None else None
        self._log = get_logger("cutover.actions.varnish").bind(step=step.name, admin=settings.admin)

    def target_id(self) -> str:
        return f"varnish {self.settings.admin}"

    def _cli(self) -> VarnishCli:
        return VarnishCli(self.settings.admin, self.settings.secret_file, self.settings.timeout)

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self) -> State:
        with self._cli() as cli:
            active = cli.active_vcl()
            source = cli.run(f"vcl.show {active}") if active and self.step.vcl else None
            bans = cli.ban_specs() if self.step.ban else []
        state: State = {"admin": self.settings.admin, "active": active, "source": source}
        if self.step.ban:
            state["bans"] = [b for b in map(ban_spec, self.step.ban) if b in bans]
        return state

    def plan(self, live: State) -> Diff:
        changes: list[Change] = []
        if self.step.vcl is not None:
            changes += [
                self._active_change(live),
                *line_changes(f"VCL {self.name}", live.get("source"), self.step.vcl),
            ]
        changes += [Change(f"varnish {self.settings.admin} ban", None, b) for b in self.step.ban]
        return Diff(changes)

    def _active_change(self, live: State) -> Change:
        return Change(f"varnish {self.settings.admin} active VCL", live.get("active"), self.name)

    def targets(self, live: State) -> list[Change] | None:
        if self.step.ban:
            return None
        return [self._active_change(live)]

    def reconcile(self, prior: State, record: Record | None) -> Reconciled:
        live = self.snapshot()
        if self.step.vcl is None:
            found = len(live.get("bans", [])) == len(self.step.ban)
            return Reconciled.APPLIED if found else Reconciled.NOT_APPLIED
        if live["active"] == self.name:
            return Reconciled.APPLIED
        if live["active"] == prior.get("active"):
            return Reconciled.NOT_APPLIED
        self._log.warning("drifted", active=live["active"], prior=prior.get("active"))
        return Reconciled.DRIFTED

    # -- writing ---------------------------------------------------------------------------------

    def apply(self, prior: State) -> Record:
        record: Record = {"active": self.name, "previous": prior.get("active")}
        if self.step.vcl is not None:
            assert self.name is not None
            with self._cli() as cli:
                loaded = {v["name"] for v in cli.vcl_list()}
                if self.name not in loaded:
                    cli.vcl_inline(self.name, self.step.vcl)
                crash_points.reached("varnish.loaded")  # test hook: see cutover.crash_points
                cli.run(f"vcl.use {self.name}")
                self._read_back(cli, self.name)
                record["discarded"] = self._discard_old(cli, keep={self.name, prior.get("active")})
        return {**record, **self.finish(prior)}

    def finish(self, prior: State) -> Record:
        """Issue the step's bans (again, after a crash: a second purge is harmless)."""
        if not self.step.ban:
            return {}
        with self._cli() as cli:
            for expression in self.step.ban:
                # the CLI unescapes its arguments: a regex's backslash is sent doubled
                cli.run("ban " + expression.replace("\\", "\\\\"))
        self._log.info("banned", bans=len(self.step.ban))
        return {"banned": len(self.step.ban)}

    def rollback(self, prior: State, record: Record | None) -> None:
        if self.step.vcl is None:
            self._log.info("nothing to roll back: bans are not undone")
            return
        target = prior.get("active")
        if prior.get("admin") != self.settings.admin or not isinstance(target, str):
            raise ActionError(
                f"rollback of {self.step.name!r}: the journaled prior state names no active"
                f" VCL of {self.settings.admin} ({prior!r}); refusing to guess",
                hint="`varnishadm vcl.list` shows the loaded VCLs; `vcl.use` the right one",
            )
        with self._cli() as cli:
            loaded = {v["name"]: v["status"] for v in cli.vcl_list()}
            if loaded.get(target, "discarded") == "discarded":
                source = prior.get("source")
                if not isinstance(source, str):
                    raise RejectedActionError(
                        f"the prior VCL {target!r} is no longer loaded and its source was not"
                        " journaled"
                    )
                cli.vcl_inline(target, source)
            cli.run(f"vcl.use {target}")
            self._read_back(cli, target)
        self._log.info("rolled back", active=target)

    def _read_back(self, cli: VarnishCli, expected: str) -> None:
        active = cli.active_vcl()
        if active != expected:
            raise ReadBackError(
                f"varnish {self.settings.admin}: active VCL is {active!r}, not {expected!r}"
            )

    def _discard_old(self, cli: VarnishCli, keep: set[Any]) -> list[str]:
        """Discard cutover's VCLs beyond the newest ``settings.keep`` (in load order)."""
        ours = [
            v["name"]
            for v in cli.vcl_list()
            if v["status"] == "available" and re.fullmatch(rf"{PREFIX}[0-9a-f]{{16}}", v["name"])
        ]
        old = [n for n in ours[: max(0, len(ours) - self.settings.keep)] if n not in keep]
        discarded = []
        for name in old:
            try:
                cli.run(f"vcl.discard {name}")
                discarded.append(name)
            except RejectedActionError as exc:  # housekeeping: never fails the step
                self._log.warning("discard refused", vcl=name, reason=exc.message)
        return discarded
