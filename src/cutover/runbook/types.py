"""Small shared field types for the runbook and checks-file models."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class Model(BaseModel):
    """Base of every document model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def parse_duration(value: Any) -> Any:
    """``"500ms"``, ``"2s"``, ``"1.5m"``, ``"1h"`` or a number of seconds → seconds."""
    if isinstance(value, bool):
        return value  # let pydantic reject it
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an integer beyond a float: pydantic only reports ValueError
            raise ValueError("this number of seconds is out of range") from None
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration; write e.g. 500ms, 2s, 1.5m or 1h")
        return float(match.group(1)) * _UNITS[match.group(2)]
    return value


Duration = Annotated[
    float,
    Field(ge=0),
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"},
            ],
            "description": "seconds, or a number with a unit: 500ms, 2s, 1.5m, 1h",
        }
    ),
]

SECRET_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$"

#: A reference to a secret, resolved only when used: ``env:NAME`` or ``file:/path``.
SecretRef = Annotated[
    str,
    Field(
        pattern=SECRET_PATTERN,
        description="a secret reference: env:NAME (environment variable) or file:PATH",
    ),
]


def _scalar_to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


#: A string that also accepts a YAML number or boolean (edge dictionary values are strings).
Text = Annotated[str, BeforeValidator(_scalar_to_str)]
