"""JSON Schema export of the document models, for editors and for the reference docs."""

from __future__ import annotations

from typing import Any

SCHEMAS = ("runbook", "checks")


def json_schema(kind: str) -> dict[str, Any]:
    from cutover.runbook.models import Runbook
    from cutover.runbook.probe_models import ChecksFile

    model = Runbook if kind == "runbook" else ChecksFile
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://cutover.dev/schema/{kind}-v1.json"
    schema["title"] = "cutover runbook (v1)" if kind == "runbook" else "cutover checks file (v1)"
    return schema
