"""The runbook's ``state:`` section: what the journal must keep private (see
:mod:`cutover.sealing` and docs/reliability.md, "State at rest is private")."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from cutover.runbook.types import Model, SecretRef


def _compiles(entry: str) -> str:
    try:
        re.compile(entry)
    except re.error as exc:
        raise ValueError(f"{entry!r} is not a regular expression: {exc}") from None
    return entry


#: A field name (``Authorization``) or a regular expression (``AWS[0-9A-Z]{16}``).
SensitiveEntry = Annotated[
    str,
    Field(min_length=1, description="a field name, or a regular expression (group `value`)"),
    AfterValidator(_compiles),
]
SENSITIVE_HELP = (
    "fields (by name) and patterns (regular expressions) whose values the journal stores"
    " encrypted with state.key"
)


class StateSettings(Model):
    """How this runbook's snapshots are kept in the journal."""

    key: SecretRef | None = Field(
        None, description="the key sensitive values are encrypted with, as a secret reference"
    )
    secrets: list[SecretRef] = Field(
        default_factory=list,
        description="secrets the changed configurations hold: stored as references to them",
    )
    sensitive: list[SensitiveEntry] = Field(default_factory=list, description=SENSITIVE_HELP)
