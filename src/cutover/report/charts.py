"""Small static SVG charts for the HTML run report (no script, no network at view time).

Each function takes the run document's lists (:mod:`cutover.report.run_document`) and
returns one ``<svg>`` element as text, every label escaped. The x axis is seconds from the
breaking step (or the run's start), the same offsets the document holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 14, 30


#: The top of the y axis: the smallest of these that holds every value (a 0.7 % failure
#: rate must not look like zero on a 0-100 % axis).
TOPS = (0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


class _Scale:
    """Seconds and fractions to pixels."""

    def __init__(self, offsets: Sequence[float], values: Sequence[float] = ()) -> None:
        low, high = min([0.0, *offsets]), max([0.0, *offsets])
        pad = max((high - low) * 0.05, 0.5)
        self.low, self.high = low - pad, high + pad
        peak = max([0.0, *values])
        self.top = next(t for t in TOPS if peak <= t)

    def x(self, seconds: float) -> float:
        span = self.high - self.low
        return round(LEFT + (seconds - self.low) / span * (WIDTH - LEFT - RIGHT), 1)

    def y(self, fraction: float) -> float:
        return round(HEIGHT - BOTTOM - fraction / self.top * (HEIGHT - TOP - BOTTOM), 1)


def _frame(title: str, scale: _Scale, body: list[str], markers: Sequence[dict[str, Any]]) -> str:
    y0, y1 = scale.y(0), scale.y(scale.top)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{y0}" x2="{WIDTH - RIGHT}" y2="{y0}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{y0}" x2="{LEFT}" y2="{y1}"/>',
        f'<text class="tick" x="{LEFT - 6}" y="{y0 + 4}" text-anchor="end">0 %</text>',
        f'<text class="tick" x="{LEFT - 6}" y="{y1 + 4}" text-anchor="end">'
        f"{scale.top * 100:g} %</text>",
    ]
    for tick in _ticks(scale):
        parts.append(
            f'<text class="tick" x="{scale.x(tick)}" y="{HEIGHT - 10}" text-anchor="middle">'
            f"{tick:+g} s</text>"
        )
    for marker in markers:
        x = scale.x(marker["offset_s"])
        kind = escape(marker["kind"])
        parts.append(
            f'<g class="marker {kind}" data-marker="{kind}"><line x1="{x}" y1="{y1}" x2="{x}"'
            f' y2="{y0}"/><text x="{x + 3}" y="{y1 + 10}">{escape(marker["label"])}</text></g>'
        )
    return "".join([*parts, *body, "</svg>"])


def _ticks(scale: _Scale, count: int = 6) -> list[float]:
    span = scale.high - scale.low
    step = next(
        s
        for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 1e9)
        if span / s <= count
    )
    first = int(scale.low / step) * step
    ticks = [round(first + i * step, 3) for i in range(count + 2)]
    return [t for t in ticks if scale.low <= t <= scale.high]


def failure_rate(rounds: Sequence[dict[str, Any]], markers: Sequence[dict[str, Any]]) -> str:
    """The failure rate of each probe round (a dot, joined by a line per stage)."""
    scale = _Scale(
        [r["offset_s"] for r in rounds] + [m["offset_s"] for m in markers],
        [r["failure_rate"] for r in rounds],
    )
    body: list[str] = []
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for r in rounds:
        by_stage.setdefault(str(r["stage"]), []).append(r)
    for stage, items in by_stage.items():
        points = " ".join(f"{scale.x(r['offset_s'])},{scale.y(r['failure_rate'])}" for r in items)
        body.append(f'<polyline class="series" points="{points}"/>')
        for r in items:
            bad = " bad" if r["failed"] else ""
            body.append(
                f'<circle class="point{bad}" cx="{scale.x(r["offset_s"])}"'
                f' cy="{scale.y(r["failure_rate"])}" r="4"><title>{escape(stage)} round'
                f" {r['round']}: {r['failed']}/{r['probes']} failed"
                f" ({r['failure_rate'] * 100:.1f} %)</title></circle>"
            )
    return _frame("failure rate per probe round", scale, body, markers)


def guard_evidence(guards: Sequence[dict[str, Any]], markers: Sequence[dict[str, Any]]) -> str:
    """Each guard decision: the share of failed samples it judged, coloured by verdict."""
    scale = _Scale(
        [g["offset_s"] for g in guards] + [m["offset_s"] for m in markers],
        [_share(g) for g in guards],
    )
    body: list[str] = []
    for g in guards:
        samples, failures = int(g.get("samples") or 0), int(g.get("failures") or 0)
        x, y, base = scale.x(g["offset_s"]), scale.y(_share(g)), scale.y(0)
        verdict = escape(str(g.get("verdict")))
        body.append(
            f'<g class="guard {verdict}" data-verdict="{verdict}">'
            f'<rect x="{x - 5}" y="{min(y, base - 2)}" width="10"'
            f' height="{max(base - y, 2)}"/><title>{escape(str(g.get("stage")))}:'
            f" {verdict.upper()} — {escape(str(g.get('reason')))} ({failures}/{samples})"
            f"</title></g>"
        )
    return _frame("guard evidence: failed samples per decision", scale, body, markers)


def _share(guard: dict[str, Any]) -> float:
    samples = int(guard.get("samples") or 0)
    return int(guard.get("failures") or 0) / samples if samples else 0.0
