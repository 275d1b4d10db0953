"""``cutover schema``: JSON Schema of runbooks and checks files, for editors."""

from __future__ import annotations

from typing import Annotated

import typer


def schema(
    kind: Annotated[str, typer.Argument(help="runbook or checks")] = "runbook",
) -> None:
    """Print the JSON Schema of a runbook (default) or of a checks file."""
    import json

    from cutover.cli.output import fail_input, say
    from cutover.runbook.schema import SCHEMAS, json_schema

    if kind not in SCHEMAS:
        fail_input(f"unknown schema {kind!r}", hint="use runbook or checks")
    say(json.dumps(json_schema(kind), indent=2, sort_keys=True))
