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
from cutover.report.failure_text import failure_lines, reasons_text
from cutover.secrets import redact, redact_data
from cutover.terminal import GREEN, RED, YELLOW, paint


class Writer(Protocol):
    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


def format_values(values: dict[str, Any], error: Any) -> str:
    """A measurement's values per series (``no data`` for none, ``NaN`` for a null)."""
    if error:
        return f"no answer ({error})"
    if not values:
        return "no data"
    shown = [
        ("" if series == "" else f"{series} ") + ("NaN" if v is None else f"{v:.4g}")
        for series, v in sorted(values.items())
    ]
    return ", ".join(shown)


class LineView:
    """One readable line per meaningful event (the default when stdout is not a TTY)."""

    def __init__(
        self, out: Writer | None = None, total_stages: int = 0, colour: bool = False
    ) -> None:
        self.out: Writer = out or sys.stdout
        self.total = total_stages
        self.started = time.monotonic()
        self.colour = colour

    def say(self, text: str, colour: str | None = None) -> None:
        self.out.write(paint(redact(text), colour if self.colour else None) + "\n")
        self.out.flush()

    def __call__(self, kind: EventKind, data: dict[str, Any]) -> None:
        line = self.describe(kind, data)
        if line is not None:
            verdict = str(data.get("verdict", "")) if kind == EventKind.GUARD else ""
            self.say(line, _VERDICT_COLOURS.get(verdict) or _COLOURS.get(kind))
        if kind == EventKind.PROBE_ROUND:
            for text in failure_lines(data.get("failures", []), data.get("failed")):
                self.say(text, RED if text.lstrip().startswith("✗") else None)

    def describe(self, kind: EventKind, data: dict[str, Any]) -> str | None:
        """The line for one event, or None for events shown only in the journal."""
        elapsed = f"{time.monotonic() - self.started:6.1f}s"
        fields = {k: "" if v is None else v for k, v in data.items()}
        if kind == EventKind.STAGE_STARTED:
            index = int(data.get("index", 0)) + 1
            of = f"/{self.total}" if self.total else ""
            return f"{elapsed} stage {index}{of}: {data.get('stage')}"
        if kind == EventKind.PROBE_ROUND:
            reasons = reasons_text(data.get("reasons", {}))
            fields["extra"] = f" ({reasons})" if reasons else ""
        if kind == EventKind.APPLIED:
            fields["how"] = " (found applied while reconciling)" if data.get("reconciled") else ""
        if kind == EventKind.GUARD:
            fields["verdict"] = str(data.get("verdict", "")).upper()
        if kind in (EventKind.METRIC, EventKind.METRIC_BASELINE):
            fields["shown"] = format_values(data.get("values") or {}, data.get("error"))
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
    EventKind.GATE_WAITING: "  {message}",
    EventKind.GATE_HELD: "  {message}",
    EventKind.PAUSE_STARTED: "  {message}",
    EventKind.PAUSE_ENDED: "  {message}",
    EventKind.APPLIED: "  applied: {name}{how}",
    EventKind.APPLY_FAILED: "  step failed: {error}",
    EventKind.PROBE_ROUND: "  probes round {round}: {probes} probes, {failed} failed{extra}",
    EventKind.GUARD: "  guard: {verdict} — {reason}",
    EventKind.METRIC_BASELINE: "  metric {check} baseline: {shown}",
    EventKind.METRIC: "  metric {check} #{measurement}: {shown} — {outcome}: {reason}",
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


#: Lines in colour (on a terminal, without NO_COLOR): what went wrong red, what held green.
_COLOURS: dict[EventKind, str] = {
    **dict.fromkeys(
        (
            EventKind.APPLY_FAILED,
            EventKind.STAGE_FAILED,
            EventKind.ROLLBACK_STARTED,
            EventKind.ROLLBACK_FAILED,
            EventKind.ROLLBACK_UNVERIFIED,
        ),
        RED,
    ),
    **dict.fromkeys(
        (EventKind.STAGE_PASSED, EventKind.ROLLBACK_VERIFIED, EventKind.RUN_COMPLETED), GREEN
    ),
    EventKind.INTERRUPTED: YELLOW,
}
_VERDICT_COLOURS = {"fail": RED, "pass": GREEN, "hold": YELLOW}


class JsonView:
    """JSON lines on stdout, one per event (``--log-format json``), each with ``at``: when
    it happened (ISO 8601, UTC, milliseconds; the journal's clock)."""

    def __init__(self, out: Writer | None = None) -> None:
        self.out: Writer = out or sys.stdout

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        """One line: a journal event (an :class:`EventKind`), or the driver's run/outcome."""
        from cutover.journal import now

        record = {"event": kind, "at": now(), **{k: v for k, v in data.items() if v is not None}}
        self.out.write(redact(json.dumps(redact_data(record), sort_keys=True, default=str)) + "\n")
        self.out.flush()


class LiveView:
    """A rich live panel on a TTY, above the plain lines."""

    def __init__(self, runbook: str, total_stages: int) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        # rich honours NO_COLOR itself; the lines carry colour codes it turns into styles
        self.lines = LineView(_ConsoleWriter(self.console), total_stages, colour=True)
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
        elif kind == EventKind.METRIC:
            values = format_values(data.get("values") or {}, None)
            state.setdefault("metrics", {})[str(data.get("check"))] = (
                f"{values} ({data.get('outcome')})"
            )
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
        for name, shown in s.get("metrics", {}).items():
            table.add_row(f"metric {name}", shown)
        table.add_row("guard", str(s["guard"]))
        table.add_row("elapsed", f"{time.monotonic() - self.started:.1f}s")
        return Panel(table, title=f"cutover · {s['runbook']}", expand=False)


class _ConsoleWriter:
    """A file-like adapter so LineView prints through rich (above the live panel)."""

    def __init__(self, console: Any) -> None:
        self.console = console

    def write(self, text: str) -> int:
        from rich.text import Text

        self.console.print(Text.from_ansi(text.rstrip("\n")), highlight=False)
        return len(text)

    def flush(self) -> None:
        return None
