"""The human table: failures first, each with its hop chain; then flaky; then passes."""

from __future__ import annotations

from cutover.probes.result import Hop, ProbeResult
from cutover.report.check_round import CheckRound
from cutover.terminal import GREEN, RED, YELLOW
from cutover.terminal import paint as in_colour

_COLOURS = {"red": RED, "yellow": YELLOW, "green": GREEN}


def render(round_: CheckRound, *, colour: bool = False, only_failures: bool = False) -> str:
    """The round as a table; ``only_failures``: the failed probes and the summary only
    (with how many passing probes were left out)."""

    def paint(text: str, name: str) -> str:
        return in_colour(text, _COLOURS[name] if colour else None)

    env = f" (env {round_.environment})" if round_.environment else ""
    lines = [
        f"cutover check {round_.check}{env}, round {round_.number}: "
        f"{round_.total} probe(s) in {round_.duration:.2f}s"
    ]
    for result in round_.ordered():
        if not result.ok:
            lines.append(paint(f"FAIL   {_row(result)}", "red"))
            lines.append(f"       {result.detail}")
            lines.extend(f"       {n}. {_hop(hop)}" for n, hop in enumerate(result.hops, 1))
        elif only_failures:
            continue
        elif result.reason.value == "flaky":
            lines.append(paint(f"FLAKY  {_row(result)}", "yellow"))
            lines.append(f"       {result.detail}")
        else:
            lines.append(f"ok     {_row(result)}")
    if only_failures:
        passed = sum(1 for r in round_.ordered() if r.ok)
        if passed:
            lines.append(f"       ({passed} passing probe(s) not shown: --only-failures)")
    status = round_.summary()
    name = {0: "green", 1: "yellow"}.get(int(round_.status), "red")
    lines.append(paint(status, name))
    return "\n".join(lines) + "\n"


def _row(result: ProbeResult) -> str:
    status = result.status if result.status is not None else "-"
    label = result.name if result.name == result.url else f"{result.name} <{result.url}>"
    return (
        f"{result.reason.value:<18} {result.set:<18} {status!s:<4} "
        f"{result.elapsed_ms:8.1f} ms  {label}"
    )


def _hop(hop: Hop) -> str:
    status = hop.status if hop.status is not None else "no answer"
    text = f"{status} {hop.url}"
    if hop.location:
        text += f" → {hop.location}"
    cache = ", ".join(
        f"{k}: {v}"
        for k, v in (("X-Cache", hop.x_cache), ("X-Served-By", hop.x_served_by), ("Age", hop.age))
        if v
    )
    return f"{text}  [{cache}]" if cache else text
