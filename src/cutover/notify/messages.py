"""What each notified event says: a title and a few lines, redacted and short.

:class:`Composer` turns the run's events (as the engine journals them) into
:class:`Message` values for the subscribable events (:data:`NOTIFY_EVENTS`); every other
event gives None. It remembers the last failing chain of a probe round, so "guard failed"
says which request failed and how (hop by hop), and every "needs attention" message ends
with the exact command that finishes the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cutover.events import EventKind
from cutover.runbook.control_models import NotifyEvent
from cutover.secrets import clip, redact

#: The events that end a run (or hold it): their messages link to the run's report.
LINKED_EVENTS: frozenset[NotifyEvent] = frozenset({"rolled_back", "needs_attention", "completed"})
TITLE_LIMIT = 120  #: characters of a title
BODY_LIMIT = 800  #: characters of a body (a chat message, not a report)
CHAIN_LIMIT = 400  #: characters of the failing chain in it


@dataclass(frozen=True)
class Message:
    event: NotifyEvent
    title: str
    body: str


class Composer:
    """The messages of one run."""

    def __init__(
        self,
        runbook: str,
        environment: str,
        run_id: str,
        state_option: str = "",
        report: str | None = None,
    ):
        self.runbook = runbook
        self.environment = environment
        self.run_id = run_id
        self.state_option = state_option  #: `` --state URL`` for a shared store
        self.report = report  #: the ``file://`` URL of the report the run writes at its end
        self._chain: str | None = None

    def __call__(self, kind: str, data: Mapping[str, Any]) -> Message | None:
        stage = data.get("stage")
        if kind == EventKind.PROBE_ROUND and data.get("failures"):
            self._chain = chain(data["failures"][0])
        if kind == EventKind.RUN_STARTED:
            return self._say("run_started", "started", f"{data.get('stages')} stages")
        if kind == EventKind.STAGE_PASSED:
            return self._say("stage_passed", f"stage {stage} passed", str(data.get("reason")))
        if kind == EventKind.GATE_WAITING:
            if data.get("waiting_for") == "approvals":
                wants = f"needs {data.get('approvers')} approvals: {data.get('command')}"
            else:
                wants = "waits for the operator's answer at the terminal"
            return self._say("gate_waiting", f"gate before stage {stage} waits", wants)
        if kind == EventKind.STAGE_FAILED:
            body = str(data.get("reason"))
            if self._chain:
                body += f"\nfailing chain: {self._chain}"
            return self._say("guard_failed", f"stage {stage} failed", body)
        if kind == EventKind.ROLLBACK_VERIFIED:
            return self._say("rolled_back", "rolled back, verified", str(data.get("reason")))
        if kind == EventKind.NEEDS_ATTENTION:
            body = f"{data.get('message')}\nfinish with: {self._command('rollback')}"
            return self._say("needs_attention", "needs attention", body)
        if kind == EventKind.GATE_HELD:
            body = (
                f"held before stage {stage} by {data.get('by')}; applied steps stay in place"
                f"\ncontinue with: {self._command('resume')}"
                f"\nor roll back with: {self._command('rollback')}"
            )
            return self._say("needs_attention", "held at a gate", body)
        if kind == EventKind.RUN_COMPLETED:
            return self._say("completed", "completed", "every stage passed its guard")
        return None

    def _command(self, verb: str) -> str:
        return f"cutover {verb} {self.run_id}{self.state_option}"

    def _say(self, event: NotifyEvent, what: str, body: str) -> Message:
        title = clip(f"cutover: {self.runbook} on {self.environment}: {what}", TITLE_LIMIT)
        text = f"{body}\nrun {self.run_id}: cutover show {self.run_id}{self.state_option}"
        return Message(event, title, clip(text, BODY_LIMIT))


def chain(failure: Mapping[str, Any]) -> str:
    """One failed request, hop by hop: ``reason: URL → 301 → URL → …``, clipped."""
    hops = failure.get("hops") or []
    steps = [str(failure.get("url", ""))]
    for hop in hops:
        steps.append(str(hop.get("status")))
        if hop.get("location"):
            steps.append(str(hop["location"]))
    text = f"{failure.get('reason')}: " + " → ".join(steps)
    if failure.get("detail"):
        text += f" ({failure['detail']})"
    return clip(redact(text), CHAIN_LIMIT)
