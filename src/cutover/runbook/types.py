"""Small shared field types for the runbook and checks-file models."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

#: No duration in a document is longer than a day: a timeout, a settle or a budget
#: beyond it is a typo, and an astronomic one overflows the clocks it is added to.
MAX_DURATION = 24 * 3600.0


class Model(BaseModel):
    """Base of every document model: unknown keys are errors, values are immutable, and
    no number is infinite or NaN (YAML's ``.inf`` and ``.nan`` are refused)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


def parse_duration(value: Any) -> Any:
    """``"500ms"``, ``"2s"``, ``"1.5m"``, ``"1h"`` or a number of seconds → seconds, at
    most :data:`MAX_DURATION`."""
    if isinstance(value, bool):
        return value  # let pydantic reject it
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond a float: pydantic only reports ValueError
            raise ValueError("this number of seconds is out of range") from None
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration; write e.g. 500ms, 2s, 1.5m or 1h")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        return value
    if seconds > MAX_DURATION:  # also inf; NaN is refused by the model's config
        raise ValueError(f"{value!r} is longer than 24h, the longest duration cutover accepts")
    return seconds


Duration = Annotated[
    float,
    Field(ge=0, le=MAX_DURATION),
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": MAX_DURATION},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"},
            ],
            "description": "seconds, or a number with a unit: 500ms, 2s, 1.5m, 1h; at most 24h",
        }
    ),
]

#: A time limit: a :data:`Duration` above zero (a zero would read as "no limit" to the
#: libraries it is handed to).
Timeout = Annotated[Duration, Field(gt=0)]

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
