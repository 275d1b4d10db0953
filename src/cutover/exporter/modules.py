"""What ``/probe?target=URL&module=NAME`` probes: the target, with a module's expectations.

A module is a name in the checks file, as blackbox_exporter's modules are in its config:

- a **probe set**: the set's ``defaults``, then (for a set expanded from data) its first
  expansion's ``probe`` fields, exactly what a file of that set gets when the set is
  expanded (:func:`cutover.probes.expansion.specs_from_rows`);
- a **listed probe** of a set, by its ``name`` (``SET/NAME`` when two sets have a probe
  of that name): every field of that probe, on the target's URL.

``sha256=HEX`` and ``size=N`` in the query add the expected digest and size of the file
(as an expansion row does). Anything else is refused with a :class:`RequestError`
(HTTP 400): a target that is not an http or https URL, an unknown module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
from pydantic import ValidationError

from cutover.probes.expansion import ExpansionError, FileRow, specs_from_rows
from cutover.runbook.probe_models import ChecksFile, ProbeSpec, merge_probe_fields

MAX_TARGET_CHARS = 4096
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class RequestError(ValueError):
    """A /probe request that cannot be probed (HTTP 400, the message as the body)."""


def checked_target(raw: str) -> str:
    """``raw`` if it is an absolute http or https URL with a host; else RequestError."""
    if not raw:
        raise RequestError("target is empty: give ?target=http://HOST/PATH or https://…")
    if len(raw) > MAX_TARGET_CHARS:
        raise RequestError(f"target is longer than {MAX_TARGET_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise RequestError("target contains whitespace or control characters")
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, ValueError) as exc:
        raise RequestError(f"target is not a URL: {exc}") from None
    if url.scheme not in ("http", "https"):
        shown = url.scheme or "none"
        raise RequestError(f"target scheme {shown!r} refused: only http and https are probed")
    if not url.host:
        raise RequestError("target has no host")
    return raw


def expected_file(sha256: str | None, size: str | None) -> FileRow:
    """The ``sha256`` and ``size`` query parameters, checked (the target's URL is filled
    in by :func:`probe_for`)."""
    if sha256 is not None and not _SHA256.match(sha256):
        raise RequestError("sha256 must be 64 hexadecimal digits")
    count: int | None = None
    if size is not None:
        if not size.isdigit():
            raise RequestError("size must be a whole number of bytes")
        count = int(size)
    return FileRow(url="", sha256=sha256.lower() if sha256 else None, size=count)


def module_names(model: ChecksFile) -> list[str]:
    """Every module a request may name: the sets, then the listed probes' names."""
    names = list(model.sets)
    for set_name, probe_set in model.sets.items():
        for spec in probe_set.probes:
            if spec.name:
                names.append(f"{set_name}/{spec.name}")
    return names


def probe_for(model: ChecksFile, module: str, target: str, row: FileRow) -> tuple[str, ProbeSpec]:
    """The set name and the probe of ``target`` with ``module``'s expectations."""
    row = FileRow(url=target, sha256=row.sha256, size=row.size, filename=target)
    where = f"module {module!r}"
    try:
        if module in model.sets:
            probe_set = model.sets[module]
            if probe_set.expand:
                (spec,) = specs_from_rows(probe_set, probe_set.expand[0], [row], where)
                return module, spec
            fields = merge_probe_fields(probe_set.defaults, _own(row))
            return module, ProbeSpec.model_validate(fields)
        set_name, listed = _listed(model, module)
    except ExpansionError as exc:
        raise RequestError(exc.message) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise RequestError(f"{where}: {loc}: {first['msg']}") from None
    # a validated probe, on a checked URL with checked expectations: copied, not re-read
    expect = listed.expect.model_copy(update=_own(row)["expect"])
    return set_name, listed.model_copy(update={"url": target, "name": target, "expect": expect})


def _own(row: FileRow) -> dict[str, Any]:
    known = {"sha256": row.sha256, "size": row.size}
    return {
        "url": row.url,
        "name": row.url,
        "expect": {k: v for k, v in known.items() if v is not None},
    }


def _listed(model: ChecksFile, module: str) -> tuple[str, ProbeSpec]:
    found = list(_named(model, module))
    if len(found) == 1:
        return found[0]
    if found:
        sets = ", ".join(f"{s}/{module}" for s, _ in found)
        raise RequestError(f"module {module!r} names a probe in several sets: use one of {sets}")
    known = ", ".join(module_names(model))
    raise RequestError(f"no module {module!r} in the checks file (modules: {known})")


def _named(model: ChecksFile, module: str) -> Iterator[tuple[str, ProbeSpec]]:
    """Listed probes called ``module``, or ``SET/NAME``."""
    for set_name, probe_set in model.sets.items():
        for spec in probe_set.probes:
            if spec.name and module in (spec.name, f"{set_name}/{spec.name}"):
                yield set_name, spec
