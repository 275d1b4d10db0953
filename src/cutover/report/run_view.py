"""How a run looks while it happens: plain lines, JSON lines, or a live rich view on a TTY.

The engine emits events ``(kind, data)``; a view turns them into output. Every view
redacts secrets. The live view keeps a status panel (stage, step, probes done/failed,
guard state, elapsed) above the plain lines, which it prints too, so the scrollback
tells the whole story.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Protocol

from cutover.events import EventKind
from cutover.secrets import redact, redact_data


class Writer(Protocol):
    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


def format_chain(hops: list[dict[str, Any]], limit: int = 8) -> str:
    """``302 http://a/x → 301 http://b/x → 200 http://a/x``, shortened past ``limit`` hops."""
    parts = [f"{h.get('status', '—')} {h.get('url', '?')}" for h in hops]
    if len(parts) > limit:
        parts = [*parts[: limit - 2], f"… {len(parts) - limit + 1} more …", parts[-1]]
    return " → ".join(parts)


def format_failure(failure: dict[str, Any], indent: str = "      ") -> list[str]:
    """A failed probe as text: set, URL, reason (detail), then its hop chain."""
    detail = f" ({failure['detail']})" if failure.get("detail") else ""
    lines = [
        f"{indent}✗ [{failure.get('set')}] {failure.get('url')}: {failure.get('reason')}{detail}"
    ]
    if failure.get("hops"):
        lines.append(f"{indent}  {format_chain(failure['hops'])}")
    return lines


class LineView:
    """One readable line per meaningful event (the default when stdout is not a TTY)."""

    def __init__(self, out: Writer | None = None, total_stages: int = 0) -> None:
        self.out: Writer = out or sys.stdout
        self.total = total_stages
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        self.out.write(redact(text) + "\n")
        self.out.flush()

    def __call__(self, kind: EventKind, data: dict[str, Any]) -> None:
        line = self.describe(kind, data)
        if line is not None:
            self.say(line)
        if kind == EventKind.PROBE_ROUND:
            for failure in data.get("failures", [])[:5]:
                for text in format_failure(failure):
                    self.say(text)

    def describe(self, kind: EventKind, data: dict[str, Any]) -> str | None:
        """The line for one event, or None for events shown only in the journal."""
        elapsed = f"{time.monotonic() - self.started:6.1f}s"
        fields = {k: "" if v is None else v for k, v in data.items()}
        if kind == EventKind.STAGE_STARTED:
            index = int(data.get("index", 0)) + 1
            of = f"/{self.total}" if self.total else ""
            return f"{elapsed} stage {index}{of}: {data.get('stage')}"
        if kind == EventKind.PROBE_ROUND:
            reasons = ", ".join(
                f"{k} ×{v}" for k, v in sorted(data.get("reasons", {}).items()) if k != "ok"
            )
            fields["extra"] = f" ({reasons})" if reasons else ""
        if kind == EventKind.APPLIED:
            fields["how"] = " (found applied while reconciling)" if data.get("reconciled") else ""
        if kind == EventKind.GUARD:
            fields["verdict"] = str(data.get("verdict", "")).upper()
        if kind == EventKind.ALREADY_AT_TARGET:
            fields["count"] = len(data.get("targets", []))
        if kind == EventKind.FINAL_STATE_CHECKED:
            fields["final_state"] = _final_state_line(data)
        template = _LINES.get(kind)
        if template is None:
            return None
        return f"{elapsed} " + template.format_map(_Fields(fields))


def _final_state_line(data: dict[str, Any]) -> str:
    """Why a run goes ahead: what differs from the runbook's final state, or what cannot
    be read (a shell step with no check: the run cannot claim "already holds")."""
    if data.get("unknown"):
        steps = ", ".join(data["unknown"])
        return (
            f"cannot tell whether the runbook's final state already holds: live state cannot"
            f" be read for {steps} (no check command); running"
        )
    if data.get("error"):
        return f"cannot read the runbook's final state ({data['error']}); running"
    return f"not yet at target: {len(data.get('differs', []))} values differ; running"


class _Fields(dict[str, Any]):
    """Missing fields format as empty text."""

    def __missing__(self, key: str) -> str:
        return ""


#: One line per event kind; indented lines belong to the current stage.
_LINES: dict[EventKind, str] = {
    EventKind.RUN_STARTED: "run started: {runbook} ({stages} stages)",
    EventKind.RESUMED: "resuming the run",
    EventKind.STAGE_SKIPPED: "stage {stage}: skipped (disabled)",
    EventKind.GATE_APPROVED: "  gate approved",
    EventKind.GATE_DECLINED: "  gate declined",
    EventKind.APPLIED: "  applied: {name}{how}",
    EventKind.APPLY_FAILED: "  step failed: {error}",
    EventKind.PROBE_ROUND: "  probes round {round}: {probes} probes, {failed} failed{extra}",
    EventKind.GUARD: "  guard: {verdict} — {reason}",
    EventKind.STAGE_PASSED: "  stage passed",
    EventKind.STAGE_FAILED: "  STAGE FAILED: {reason}",
    EventKind.ROLLBACK_STARTED: "ROLLING BACK: {reason}",
    EventKind.ROLLED_BACK: "  rolled back: {name}",
    EventKind.NOT_APPLIED: "  not applied (nothing to undo): {name}",
    EventKind.ROLLBACK_FAILED: "  ROLLBACK FAILED for {stage} step {step}: {error}",
    EventKind.ROLLBACK_PURGED: "  purged after the rollback: {service} (rollback.purge {purge})",
    EventKind.ROLLBACK_PURGE_FAILED: "  PURGE FAILED after the rollback: {service}: {error}",
    EventKind.ROLLBACK_VERIFIED: "rollback verified",
    EventKind.ROLLBACK_UNVERIFIED: "ROLLBACK NOT VERIFIED: {reason}",
    EventKind.RECONCILED: "  reconciled {stage} step {step}: {found}",
    EventKind.INTERRUPTED: "interrupted: {reason}",
    EventKind.RUN_COMPLETED: "run completed",
    EventKind.SKIPPED: "  skipped (already at target): {name}",
    EventKind.ALREADY_AT_TARGET: "already at target: live state holds the runbook's final state"
    " ({count} values); nothing to write",
    EventKind.FINAL_STATE_CHECKED: "{final_state}",
}


class JsonView:
    """JSON lines on stdout, one per event (``--log-format json``)."""

    def __init__(self, out: Writer | None = None) -> None:
        self.out: Writer = out or sys.stdout

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        """One line: a journal event (an :class:`EventKind`), or the driver's run/outcome."""
        record = {"event": kind, **{k: v for k, v in data.items() if v is not None}}
        self.out.write(redact(json.dumps(redact_data(record), sort_keys=True, default=str)) + "\n")
        self.out.flush()


class LiveView:
    """A rich live panel on a TTY, above the plain lines."""

    def __init__(self, runbook: str, total_stages: int) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.lines = LineView(_ConsoleWriter(self.console), total_stages)
        self.state: dict[str, Any] = {
            "runbook": runbook,
            "stage": "—",
            "step": "—",
            "probes": 0,
            "failed": 0,
            "guard": "—",
            "total": total_stages,
            "index": 0,
        }
        self.started = time.monotonic()
        self.live = Live(self._panel(), console=self.console, refresh_per_second=4, transient=True)
        self.live.start()

    def close(self) -> None:
        self.live.stop()

    def __call__(self, kind: EventKind, data: dict[str, Any]) -> None:
        state = self.state
        if kind == EventKind.STAGE_STARTED:
            state.update(
                stage=data.get("stage"),
                index=int(data.get("index", 0)) + 1,
                step="—",
                probes=0,
                failed=0,
                guard="—",
            )
        elif kind == EventKind.INTENT:
            state["step"] = f"applying: {data.get('name')}"
        elif kind == EventKind.APPLIED:
            state["step"] = f"applied: {data.get('name')}"
        elif kind == EventKind.PROBE_ROUND:
            state["probes"] += int(data.get("probes", 0))
            state["failed"] += int(data.get("failed", 0))
        elif kind == EventKind.GUARD:
            state["guard"] = f"{data.get('verdict')}: {data.get('reason')}"
        elif kind == EventKind.ROLLBACK_STARTED:
            state.update(stage="ROLLBACK", step=str(data.get("reason")), probes=0, failed=0)
        self.lines(kind, data)
        self.live.update(self._panel())

    def _panel(self) -> Any:
        from rich.panel import Panel
        from rich.table import Table

        s = self.state
        table = Table.grid(padding=(0, 2))
        table.add_row("stage", f"{s['index']}/{s['total']} {s['stage']}")
        table.add_row("step", redact(str(s["step"])))
        table.add_row("probes", f"{s['probes']} done, {s['failed']} failed")
        table.add_row("guard", str(s["guard"]))
        table.add_row("elapsed", f"{time.monotonic() - self.started:.1f}s")
        return Panel(table, title=f"cutover · {s['runbook']}", expand=False)


class _ConsoleWriter:
    """A file-like adapter so LineView prints through rich (above the live panel)."""

    def __init__(self, console: Any) -> None:
        self.console = console

    def write(self, text: str) -> int:
        self.console.print(text.rstrip("\n"), markup=False, highlight=False)
        return len(text)

    def flush(self) -> None:
        return None
