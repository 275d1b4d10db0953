"""The run report as markdown, for a change ticket (``cutover report RUN --format markdown``).

Renders :func:`cutover.report.run_document.build`'s document: the outcome in words, the
stages with their step markers, the rollback, the diffs, who decided what, and the first
failed chains (each hop: status, host and path, Location, cache headers).
"""

from __future__ import annotations

from typing import Any

from cutover.report.run_html import offset_text
from cutover.secrets import redact

SHOWN_CHAINS = 5  #: failed chains written out; the JSON document holds every one


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def render(document: dict[str, Any]) -> str:
    run, breaking = document["run"], document["breaking_step"]
    code = "" if run["exit_code"] is None else f" (exit {run['exit_code']})"
    out = [
        f"## cutover run {run['id']}: {run['runbook']} on {run['environment']}",
        "",
        f"**{run['status']}{code}**: {run['exit_words']}",
        "",
        f"- started {run['started_at']} by {run['started_by']}"
        + (f", ended {run['ended_at']}" if run["ended_at"] else ""),
    ]
    if breaking:
        out.append(
            f"- breaking step: {breaking['stage']}/{breaking['name']} (times below are"
            " seconds from it)"
        )
    rollback = document["rollback"]
    if rollback:
        verdict = {True: "verified", False: "NOT verified", None: "not finished"}
        verified = f"{verdict[rollback['verified']]} {offset_text(rollback['verified_offset_s'])}"
        out.append(
            f"- rollback {offset_text(rollback['offset_s'])}: {rollback['reason']};"
            f" {verified.rstrip()}"
        )
    still = document["still_applied"]
    out.append(f"- still applied: {', '.join(still)}" if still else "- nothing is left applied")
    out += ["", "### Stages", "", "| time | stage | result | steps |", "|---|---|---|---|"]
    for stage in document["stages"]:
        steps = "; ".join(
            f"{s['name']} ("
            + ", ".join(f"{h['outcome']} {offset_text(h['offset_s'])}" for h in s["history"])
            + ")"
            for s in stage["steps"]
        )
        result = stage["result"] + (f": {stage['reason']}" if stage["reason"] else "")
        out.append(
            f"| {offset_text(stage['offset_s'])} | {_cell(stage['name'])} | {_cell(result)} |"
            f" {_cell(steps)} |"
        )
    diffs = [(stage["name"], s) for stage in document["stages"] for s in stage["steps"]]
    if any(s["changes"] for _, s in diffs):
        out += ["", "### Changes applied", ""]
        for stage_name, step in diffs:
            if step["changes"]:
                out += [f"{stage_name}/{step['name']}:", "", "```diff", *step["changes"], "```", ""]
    if document["decisions"]:
        out += [
            "",
            "### Approvals and decisions",
            "",
            "| time | what | stage | who |",
            "|---|---|---|---|",
        ]
        for d in document["decisions"]:
            out.append(
                f"| {offset_text(d['offset_s'])} | {_cell(d['text'])} | {_cell(d['stage'])} |"
                f" {_cell(d['by'])} |"
            )
    if document["notices"]:
        out += ["", "### Notifications and report files", ""]
        out += [f"- {offset_text(n['offset_s'])} {n['text']}" for n in document["notices"]]
    failures = document["failures"]
    if failures:
        out += ["", f"### Failed request chains ({len(failures)})", ""]
        for f in failures[:SHOWN_CHAINS]:
            out.append(
                f"- {offset_text(f['offset_s'])} [{f['set']}] `{f['url']}`: **{f['reason']}**"
            )
            for n, hop in enumerate(f["hops"], 1):
                extra = [f"Location: `{hop['location']}`"] if hop["location"] else []
                extra += [f"{k}: {hop[k]}" for k in ("x_cache", "x_served_by", "age") if hop[k]]
                tail = f" ({'; '.join(extra)})" if extra else ""
                out.append(f"  {n}. {hop['status'] or 'no answer'} `{hop['url']}`{tail}")
        if len(failures) > SHOWN_CHAINS:
            out.append(f"- … and {len(failures) - SHOWN_CHAINS} more failed probes")
    out += ["", f"_Full record: `cutover report {run['id']} --format json`_", ""]
    return redact("\n".join(out))
