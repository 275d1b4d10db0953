"""docs/runbook.md documents every field of both JSON Schemas (no field undocumented)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cutover.reasons import Reason
from cutover.runbook.schema import json_schema

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
TOP = {"runbook": "Runbook", "checks": "ChecksFile"}


def sections() -> dict[str, str]:
    parts = re.split(r"^### (\w+)\s*$", DOC, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def schema_models() -> list[pytest.ParameterSet]:
    """One case per (schema, model), with a stable id (sets print in hash order)."""
    out = []
    for kind, top in TOP.items():
        schema = json_schema(kind)
        out.append(pytest.param(top, set(schema["properties"]), id=f"{kind}-{top}"))
        for name, definition in schema["$defs"].items():
            fields = set(definition.get("properties", {}))
            out.append(pytest.param(name, fields, id=f"{kind}-{name}"))
    return out


@pytest.mark.parametrize(("model", "fields"), schema_models())
def test_every_field_is_documented(model: str, fields: set[str]) -> None:
    found = sections()
    assert model in found, f"docs/runbook.md has no '### {model}' section"
    documented = set(re.findall(r"`(\w+)`", found[model]))
    assert sorted(fields - documented) == []


def test_every_reason_is_listed() -> None:
    text = sections()["Reason"]
    assert sorted(r.value for r in Reason if f"`{r.value}`" not in text) == []
