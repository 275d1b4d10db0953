"""Reading scenario files (``lab/scenarios/NAME.yml``) with located errors.

The lab (:mod:`cutover.lab.scenario_document`) defines what a scenario file holds and
serves one; reading the file, with every problem located as
``FILE:LINE:COL: path: message`` (exit 2), uses the runbook's YAML reader and lives
here, outside the lab, which imports nothing of the tool's runbook package.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from cutover.errors import DocumentError
from cutover.lab.scenario_document import (
    ScenarioDocument,
    scenario_of,
    served_problems,
)
from cutover.lab.scenarios import SCENARIOS, Scenario
from cutover.runbook.document import load_document
from cutover.runbook.problems import problems_from_validation


def load_scenario_document(path: Path) -> ScenarioDocument:
    """Read and check a scenario file; :class:`DocumentError` (exit 2) lists every problem."""
    document = load_document(path)
    try:
        doc = ScenarioDocument.model_validate(document.data)
    except ValidationError as exc:
        raise DocumentError(
            problems_from_validation(exc, ScenarioDocument, document.data, document.positions)
        ) from None
    if doc.name in SCENARIOS:
        raise DocumentError(
            [
                document.positions.problem(
                    ("name",),
                    f"{doc.name!r} is a built-in scenario's name",
                    hint="name the file's scenario otherwise (e.g. after the file)",
                )
            ]
        )
    problems = served_problems(doc)
    if problems:
        raise DocumentError(
            [
                document.positions.problem(
                    where, message, hint="the lab serves the subset in docs/lab.md"
                )
                for where, message in problems
            ]
        )
    return doc


def scenario_from_file(path: Path) -> Scenario:
    """A scenario file as a :class:`Scenario` for :func:`cutover.lab.start_lab`."""
    return scenario_of(load_scenario_document(path))
