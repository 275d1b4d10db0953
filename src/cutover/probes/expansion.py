"""Probe sets to probes: listed probes, plus probes expanded from data.

An expansion reads a list of files, each with a URL and (optionally) its sha256 and size:

- ``rows``: a YAML or JSON list of ``{url, sha256, size}`` mappings (or a mapping with such
  a list under ``files``), or a CSV file with a header row naming ``url``, ``sha256``,
  ``size``;
- ``pypi-json``: a package index's JSON API response (PyPI's ``/pypi/<name>/json``):
  ``urls[].url``, ``urls[].digests.sha256``, ``urls[].size``;
- ``auto`` (the default) tells them apart by content.

The data comes from a ``file`` (relative to the checks file) or a ``url`` fetched through
the probe runner's client, so through the resolve map. Each row becomes one probe: the set's
``defaults``, then the expansion's ``probe`` fields, then the row (``url``; ``sha256`` and
``size`` merged into ``expect``; the file name as the probe's name).
"""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import ValidationError

from cutover.errors import CutoverError
from cutover.runbook.probe_models import Expansion, ProbeSet, ProbeSpec, merge_probe_fields

if TYPE_CHECKING:
    from cutover.probes.runner import ProbeRunner

MAX_DATA_BYTES = 32 * 1024 * 1024  #: a JSON API response or a rows file larger is refused
FETCH_TIMEOUT = 30.0


class ExpansionError(CutoverError):
    """An expansion's data could not be read: unreachable URL, bad JSON, missing fields.

    ``cutover check`` reports it as UNKNOWN (exit 3): the check could not run.
    """


@dataclass(frozen=True)
class FileRow:
    url: str
    sha256: str | None = None
    size: int | None = None
    filename: str | None = None


def expand_sets(
    sets: Mapping[str, ProbeSet],
    bases: Mapping[str, Path] | None = None,
    runner: ProbeRunner | None = None,
) -> list[tuple[str, ProbeSpec]]:
    """Every probe of ``sets`` as ``(set name, spec)``, listed probes first in each set.

    ``bases[set]`` is the directory an expansion's ``file`` is relative to (default: the
    current directory); ``runner`` fetches expansion URLs (needed only when one has a
    ``url``). Raises :class:`ExpansionError`.
    """
    out: list[tuple[str, ProbeSpec]] = []
    for name, probe_set in sets.items():
        if probe_set.include:
            raise ExpansionError(
                f"probe set {name!r} still includes {probe_set.include}: load it through the "
                "runbook loader, which resolves includes"
            )
        out.extend((name, spec) for spec in probe_set.probes)
        base = (bases or {}).get(name, Path.cwd())
        for index, expansion in enumerate(probe_set.expand):
            where = f"sets.{name}.expand[{index}]"
            rows = load_rows(expansion, base, runner, where)
            out.extend((name, spec) for spec in specs_from_rows(probe_set, expansion, rows, where))
    return out


def load_rows(
    expansion: Expansion, base: Path, runner: ProbeRunner | None, where: str
) -> list[FileRow]:
    """The rows of one expansion (after ``limit``)."""
    if expansion.file is not None:
        path = base / expansion.file
        text = _read_file(path, where)
        source = str(path)
        rows = _parse(text, expansion.format, source, where, csv_hint=path.suffix.lower() == ".csv")
    else:
        assert expansion.url is not None
        text = fetch_text(expansion.url, runner, where)
        rows = _parse(text, expansion.format, expansion.url, where, csv_hint=False)
    if expansion.limit is not None:
        rows = rows[: expansion.limit]
    if expansion.rewrite_host:
        rows = [_rewrite(row, expansion.rewrite_host, where) for row in rows]
    return rows


def specs_from_rows(
    probe_set: ProbeSet, expansion: Expansion, rows: list[FileRow], where: str
) -> Iterator[ProbeSpec]:
    base = merge_probe_fields(probe_set.defaults, expansion.probe)
    for number, row in enumerate(rows):
        known = {"sha256": row.sha256, "size": row.size}
        own = {"url": row.url, "expect": {k: v for k, v in known.items() if v is not None}}
        fields = merge_probe_fields({"name": row.filename or row.url}, base, own)
        try:
            yield ProbeSpec.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ExpansionError(
                f"{where}: file {number + 1} ({row.url}): {loc}: {first['msg']}"
            ) from None


def fetch_text(url: str, runner: ProbeRunner | None, where: str) -> str:
    """GET ``url`` through the runner (so through the resolve map); 200 only."""
    if runner is None:
        raise ExpansionError(f"{where}: fetching {url} needs a probe runner")
    hint = "is the index reachable from here (and the resolve map right)?"
    try:
        status, body = runner.get(url, max_bytes=MAX_DATA_BYTES, timeout=FETCH_TIMEOUT)
    except httpx.HTTPError as exc:
        raise ExpansionError(
            f"{where}: cannot fetch {url}: {type(exc).__name__}: {exc}", hint=hint
        ) from None
    except ValueError as exc:
        raise ExpansionError(f"{where}: {exc}") from None
    if status != 200:
        raise ExpansionError(f"{where}: {url} answered {status}, expected 200", hint=hint)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ExpansionError(f"{where}: {url} is not UTF-8 text") from None


def _read_file(path: Path, where: str) -> str:
    """The text of a rows file: a regular file only (a FIFO would block, a device never
    end), read no further than :data:`MAX_DATA_BYTES`."""
    try:
        _refuse_special(path, where)
        with path.open("rb") as handle:
            data = handle.read(MAX_DATA_BYTES + 1)
    except FileNotFoundError:
        raise ExpansionError(f"{where}: no such file {path}") from None
    except OSError as exc:
        raise ExpansionError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_DATA_BYTES:
        raise ExpansionError(f"{where}: {path} is over {MAX_DATA_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExpansionError(f"{where}: cannot read {path}: {exc}") from None


def _refuse_special(path: Path, where: str) -> None:
    """An :class:`ExpansionError` for anything but a regular file, before it is opened."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise ExpansionError(
            f"{where}: {path} is not a regular file (a directory, device or FIFO);"
            " cutover does not open it"
        )


def _parse(text: str, fmt: str, source: str, where: str, *, csv_hint: bool) -> list[FileRow]:
    if csv_hint and fmt in ("rows", "auto"):
        return _csv_rows(text, source, where)
    data = _structured(text, source, where)
    if fmt == "pypi-json" or (fmt == "auto" and isinstance(data, dict) and "urls" in data):
        return _pypi_rows(data, source, where)
    if isinstance(data, dict) and isinstance(data.get("files"), list):
        data = data["files"]
    if not isinstance(data, list):
        raise ExpansionError(
            f"{where}: {source}: expected a list of files (url, sha256, size) "
            "or a /pypi/<name>/json response (with `urls`)"
        )
    return [_row(item, f"{source}: item {i + 1}", where) for i, item in enumerate(data)]


def _structured(text: str, source: str, where: str) -> Any:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ExpansionError(
                f"{where}: {source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"
            ) from None
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise ExpansionError(f"{where}: {source}: invalid YAML: {exc}") from None


def _pypi_rows(data: Any, source: str, where: str) -> list[FileRow]:
    urls = data.get("urls") if isinstance(data, dict) else None
    if not isinstance(urls, list):
        raise ExpansionError(f"{where}: {source}: not a JSON API response (no `urls` list)")
    rows = []
    for i, item in enumerate(urls):
        if not isinstance(item, dict):
            raise ExpansionError(f"{where}: {source}: urls[{i}] is not an object")
        digests = item.get("digests")
        sha = digests.get("sha256") if isinstance(digests, dict) else None
        rows.append(
            _row(
                {
                    "url": item.get("url"),
                    "sha256": sha,
                    "size": item.get("size"),
                    "filename": item.get("filename"),
                },
                f"{source}: urls[{i}]",
                where,
            )
        )
    return rows


def _csv_rows(text: str, source: str, where: str) -> list[FileRow]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "url" not in [f.strip() for f in reader.fieldnames]:
        raise ExpansionError(f"{where}: {source}: a CSV needs a header row with a `url` column")
    rows = []
    for record in reader:
        item = {(k or "").strip(): (v or "").strip() for k, v in record.items()}
        rows.append(_row(item, f"{source}:{reader.line_num}", where))
    return rows


def _row(item: Any, at: str, where: str) -> FileRow:
    if not isinstance(item, dict):
        raise ExpansionError(f"{where}: {at}: expected a mapping with url, sha256, size")
    url = item.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ExpansionError(f"{where}: {at}: `url` must be an http(s) URL, got {url!r}")
    sha = item.get("sha256") or None
    if sha is not None and not isinstance(sha, str):
        raise ExpansionError(f"{where}: {at}: `sha256` must be text")
    size: Any = item.get("size")
    if size in ("", None):
        size = None
    else:
        try:
            size = int(size)
        except (TypeError, ValueError):
            raise ExpansionError(
                f"{where}: {at}: `size` must be a whole number, got {size!r}"
            ) from None
    name = item.get("filename")
    filename = name if isinstance(name, str) and name else url.rsplit("/", 1)[-1] or None
    return FileRow(url, sha, size, filename)


def _rewrite(row: FileRow, host: str, where: str) -> FileRow:
    try:
        url = httpx.URL(row.url)
        new = url.copy_with(netloc=host.encode("ascii"))
    except (httpx.InvalidURL, UnicodeEncodeError) as exc:
        raise ExpansionError(f"{where}: rewrite_host {host!r}: {exc}") from None
    return FileRow(str(new), row.sha256, row.size, row.filename)
