"""Secret references (``env:NAME``, ``file:PATH``): resolved only when used, then redacted.

Every value this module resolves is remembered, and :func:`redact` replaces it wherever
it appears: the log processor, the journal and every report call it, so a secret never
reaches a log line, a journal row or a report.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cutover.errors import SecretError

REDACTED = "[REDACTED]"
_MIN_LENGTH = 4  #: shorter values would redact ordinary words; refuse them as secrets

_known: set[str] = set()
_lock = threading.Lock()


def resolve(reference: str) -> str:
    """The value of ``reference``; raises :class:`SecretError` when it cannot be read."""
    scheme, _, name = reference.partition(":")
    if scheme == "env":
        value = os.environ.get(name)
        if value is None:
            raise SecretError(
                f"secret {reference}: environment variable {name} is not set",
                hint=f"export {name}=… before running cutover",
            )
    elif scheme == "file":
        try:
            value = Path(name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"secret {reference}: cannot read file ({exc.strerror})") from None
    else:
        raise SecretError(
            f"{reference!r} is not a secret reference", hint="use env:NAME or file:PATH"
        )
    if len(value) < _MIN_LENGTH:
        raise SecretError(f"secret {reference} is shorter than {_MIN_LENGTH} characters")
    remember(value)
    return value


def remember(value: str) -> None:
    """Treat ``value`` as secret from now on (e.g. a token learnt at run time).

    Its escaped spellings are remembered too: an error message quoting the value as
    bytes (``Illegal header value b'tok\\n'``) or a JSON text (``"t\\u00f6k"``) does not
    contain the value itself. So is the value without surrounding white space (a token
    from an environment variable often ends with a newline)."""
    if len(value) < _MIN_LENGTH:
        return
    import json

    spellings = {
        value,
        value.strip(),
        repr(value)[1:-1],
        repr(value.encode("utf-8", "surrogatepass"))[2:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    with _lock:
        _known.update(s for s in spellings if len(s) >= _MIN_LENGTH)


def redact(text: str) -> str:
    """``text`` with every known secret value replaced by ``[REDACTED]``."""
    if not _known:
        return text
    for value in sorted(_known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def secret_references(runbook: Any) -> Iterator[str]:
    """Every secret reference among the backend settings of a loaded runbook model."""
    from cutover.runbook.types import SECRET_PATTERN

    for settings in getattr(runbook, "backends", {}).values():
        for name, info in type(settings).model_fields.items():
            value = getattr(settings, name, None)
            patterns = [getattr(m, "pattern", None) for m in info.metadata]
            if isinstance(value, str) and (
                SECRET_PATTERN in patterns or SECRET_PATTERN in repr(info.annotation)
            ):
                yield value


def preload(runbook: Any) -> None:
    """Resolve every secret of ``runbook``'s backends now, so that each is redacted from
    the first line on, not only after the backend that uses it made its first call: a
    shell step printing the environment, a ``--var`` or a redirect may show the value
    before. A reference that cannot be resolved is left for its use to report."""
    for reference in secret_references(runbook):
        with contextlib.suppress(SecretError):
            resolve(reference)
