"""JUnit XML: one testsuite per probe set, one testcase per probe.

A failed probe has ``<failure message="REASON: detail" type="REASON">`` with the hop chain
as its text; a flaky one passes with the retry story in ``<system-out>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from cutover.probes.result import ProbeResult
from cutover.report.check_round import CheckRound


def render(round_: CheckRound) -> str:
    root = ET.Element(
        "testsuites",
        {
            "name": f"cutover check {round_.check}",
            "tests": str(round_.total),
            "failures": str(round_.failed),
            "errors": "1" if round_.error else "0",
            "time": f"{round_.duration:.3f}",
        },
    )
    stamp = datetime.fromtimestamp(round_.started, UTC).isoformat(timespec="seconds")
    by_set: dict[str, list[ProbeResult]] = {}
    for result in round_.results:
        by_set.setdefault(result.set, []).append(result)
    for name, results in by_set.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": name,
                "tests": str(len(results)),
                "failures": str(sum(1 for r in results if not r.ok)),
                "errors": "0",
                "time": f"{sum(r.elapsed_ms for r in results) / 1000:.3f}",
                "timestamp": stamp,
            },
        )
        for result in results:
            case = ET.SubElement(
                suite,
                "testcase",
                {
                    "classname": f"{round_.check}.{name}",
                    "name": result.name,
                    "time": f"{result.elapsed_ms / 1000:.3f}",
                },
            )
            if not result.ok:
                failure = ET.SubElement(
                    case,
                    "failure",
                    {
                        "message": f"{result.reason.value}: {result.detail}",
                        "type": result.reason.value,
                    },
                )
                failure.text = result.chain()
            elif result.reason.value == "flaky":
                ET.SubElement(case, "system-out").text = f"flaky: {result.detail}"
    if round_.error:
        suite = ET.SubElement(
            root, "testsuite", {"name": "cutover", "tests": "1", "failures": "0", "errors": "1"}
        )
        case = ET.SubElement(suite, "testcase", {"classname": round_.check, "name": "check"})
        ET.SubElement(case, "error", {"message": round_.error, "type": "unknown"})
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
