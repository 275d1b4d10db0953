"""Validate one file, runbook or checks file, telling which it is by its top-level keys."""

from __future__ import annotations

from pathlib import Path

from cutover.errors import DocumentError, Problem
from cutover.runbook.document import load_document
from cutover.runbook.loader import VarOverrides, check_runbook, load_checks


def is_checks_file(data: object) -> bool:
    return isinstance(data, dict) and "sets" in data and "stages" not in data


def validate_file(path: Path, overrides: VarOverrides) -> tuple[str, list[Problem]]:
    """A one-line summary and the warnings; raises :class:`DocumentError` when invalid."""
    doc = load_document(path)
    if is_checks_file(doc.data):
        envs = doc.data.get("environments") or {}
        names: list[str | None] = list(envs) if isinstance(envs, dict) and envs else [None]
        loaded = None
        for name in names:
            loaded = load_checks(path, environment=name, overrides=overrides)
        assert loaded is not None
        model = loaded.model
        count = sum(len(s.probes) + len(s.expand) for s in model.sets.values())
        smoke = sum(1 for s in model.sets.values() if s.smoke)
        return (
            f"checks file, {len(model.sets)} probe sets ({smoke} in the smoke check), "
            f"{count} probes/expansions",
            [],
        )
    problems = check_runbook(path, overrides)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DocumentError(errors)
    warnings = [p for p in problems if p.severity == "warning"]
    data = doc.data
    stages = data.get("stages", [])
    steps = sum(len(s.get("steps", []) or []) for s in stages if isinstance(s, dict))
    envs = ", ".join(data.get("environments", {}))
    return f"runbook, {len(stages)} stages, {steps} steps, environments: {envs}", warnings
