"""Secret references (``env:NAME``, ``file:PATH``): resolved only when used, then redacted.

Every value this module resolves is remembered, and :func:`redact` replaces it wherever
it appears: the log processor, the journal and every report call it, so a secret never
reaches a log line, a journal row or a report. It also replaces the spellings a value
takes on its way through other programs (escaped, URL-encoded, base64 alone or inside
``user:key``, in any letter case, broken by a line break) and the password of any URL
(``scheme://user:password@host``), known or not.

Text that is cut short for a message goes through :func:`clip`, which redacts *before* it
cuts: a secret straddling the cut would otherwise leave its first half behind, where no
later redaction can recognise it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, quote_plus

from cutover.errors import SecretError

if TYPE_CHECKING:
    from cutover.runbook.models import Runbook
    from cutover.runbook.probe_models import ChecksFile

REDACTED = "[REDACTED]"
_MIN_LENGTH = 4  #: shorter values would redact ordinary words; refuse them as secrets

_known: set[str] = set()
_references: dict[str, str] = {}  #: a resolved value → its reference (``env:NAME``)
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None  #: every known spelling, built on first use

#: A line break a secret may be split by: real (LF, CRLF, CR) or JSON-escaped.
_BREAK = r"(?:\r\n|\n|\r|\\r\\n|\\n|\\r)?"
#: ``scheme://user:password@``: group 1 is everything up to the password. A password that
#: is a reference to a secret (``${secret:env:NAME}``, :mod:`cutover.sealing`) holds none.
_URL_PASSWORD = re.compile(
    r"(\b[a-z][a-z0-9+.\-]*://[^\s/?#@:]*):(?!\$\{secret:[^}\s]*\}@)[^\s/?#]+@", re.IGNORECASE
)


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
    with _lock:
        _references.setdefault(value, reference)
    return value


def resolved_references() -> dict[str, str]:
    """Every value resolved so far from a reference, with that reference."""
    with _lock:
        return dict(_references)


def remember(value: str) -> None:
    """Treat ``value`` as secret from now on (e.g. a token learnt at run time).

    Its escaped spellings are remembered too: an error message quoting the value as
    bytes (``Illegal header value b'tok\\n'``) or a JSON text (``"t\\u00f6k"``) does not
    contain the value itself. So is the value without surrounding white space (a token
    from an environment variable often ends with a newline)."""
    if len(value) < _MIN_LENGTH:
        return
    import json

    global _pattern
    spellings = {
        value,
        value.strip(),
        repr(value)[1:-1],
        repr(value.encode("utf-8", "surrogatepass"))[2:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    for plain in (value, value.strip()):
        spellings.update({quote(plain, safe=""), quote_plus(plain, safe="")})
        spellings.update(_base64_cores(plain))
    with _lock:
        _known.update(s for s in spellings if len(s) >= _MIN_LENGTH)
        _pattern = None


def _base64_cores(value: str) -> set[str]:
    """The base64 characters that only ``value``'s bytes decide, whatever comes before or
    after it in the encoded text (``user:key``, ``key:``): one run per alignment (the
    bytes before it, modulo 3), standard and URL-safe. A redacted core leaves at most the
    few bits of ``value`` that share a character with its neighbours."""
    raw = value.encode("utf-8", "surrogatepass")
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode("ascii")
        first = -(-8 * offset // 6)  # the first character holding no byte before ``value``
        last = 8 * (offset + len(raw)) // 6  # past the last holding only ``value``'s bits
        core = encoded[first:last]
        cores.update({core, core.translate(str.maketrans("+/", "-_"))})
    return cores


def _compiled() -> re.Pattern[str] | None:
    """One pattern for every known spelling, longest first, in any letter case, each
    possibly split by a line break between any two characters."""
    global _pattern
    with _lock:
        if _pattern is None and _known:
            alternatives = (
                _BREAK.join(re.escape(char) for char in spelling)
                for spelling in sorted(_known, key=len, reverse=True)
            )
            _pattern = re.compile("|".join(alternatives), re.IGNORECASE)
        return _pattern


def redact(text: str) -> str:
    """``text`` with every known secret (in every spelling :func:`remember` lists) and
    every URL's password replaced by ``[REDACTED]``."""
    pattern = _compiled()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)
    return text


def redact_data(value: Any) -> Any:
    """``value`` (JSON-like data) with every string in it redacted, keys included.

    Redact data *before* serialising it: each layer of escaping (a JSON string inside a
    JSON document, ``\\r\\n`` for a line break) makes a secret's spelling harder to
    find in the serialised text, so a text is redacted once more afterwards only as a
    second net."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


def clip(
    text: str, limit: int, *, keep: Literal["head", "tail"] = "head", lines: int | None = None
) -> str:
    """``text`` redacted, *then* cut to ``limit`` characters (and to its first or last
    ``lines`` lines): the one way to shorten a text that may hold a secret. A cut head ends
    with ``…``; a kept tail is cut silently (it is the end of an output)."""
    text = redact(text)
    if lines is not None:
        kept = text.splitlines()
        text = "\n".join(kept[:lines] if keep == "head" else kept[-lines:])
    if len(text) <= limit:
        return text
    return text[:limit] + "…" if keep == "head" else text[-limit:]


def secret_references(runbook: Runbook | ChecksFile) -> Iterator[str]:
    """Every secret reference of a loaded runbook model: among its backend settings, and
    in its ``state:`` section (the key, the secrets its configurations hold)."""
    from cutover.runbook.types import SECRET_PATTERN

    state = getattr(runbook, "state", None)
    if state is not None:
        yield from state.secrets
        if state.key is not None:
            yield state.key
    for settings in getattr(runbook, "backends", {}).values():
        for name, info in type(settings).model_fields.items():
            value = getattr(settings, name, None)
            patterns = [getattr(m, "pattern", None) for m in info.metadata]
            if isinstance(value, str) and (
                SECRET_PATTERN in patterns or SECRET_PATTERN in repr(info.annotation)
            ):
                yield value


def preload(runbook: Runbook | ChecksFile) -> None:
    """Resolve every secret of ``runbook``'s backends now, so that each is redacted from
    the first line on, not only after the backend that uses it made its first call: a
    shell step printing the environment, a ``--var`` or a redirect may show the value
    before. A reference that cannot be resolved is left for its use to report."""
    for reference in secret_references(runbook):
        with contextlib.suppress(SecretError):
            resolve(reference)
