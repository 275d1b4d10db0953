"""YAML documents with positions: read a file into plain data plus a map of where each value is.

ruamel.yaml's round-trip loader keeps line and column of every mapping key and sequence
item. We convert its tree into plain ``dict``/``list``/scalars (what pydantic wants) and
keep a :class:`Positions` map from YAML path to ``(line, column)``, so any later error,
from pydantic, the template renderer or a lint rule, can be reported as
``FILE:LINE:COL: YAML.path: message``.

Hostile input is bounded: file size, nesting depth and node count (alias expansion
counts, so a "billion laughs" document is refused, not expanded), duplicate keys and
invalid UTF-8 are reported with their location.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cutover.errors import DocumentError, Problem

MAX_BYTES = 1024 * 1024  #: a runbook is a page of YAML; 1 MiB is 200 times the shipped one
MAX_DEPTH = 64  #: deeper nesting is never a runbook
MAX_NODES = 200_000  #: after alias expansion

PathKey = tuple[str | int, ...]


def render_path(path: Sequence[str | int]) -> str:
    """``("stages", 2, "steps", 0, "set")`` → ``stages[2].steps[0].set``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class Positions:
    """Where each value (and each mapping key) of a document starts, 1-based."""

    file: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """Line and column of ``path``, or of its nearest located ancestor."""
        parts = tuple(path)
        if key and parts in self.keys:
            return self.keys[parts]
        while parts:
            if parts in self.values:
                return self.values[parts]
            if parts in self.keys:
                return self.keys[parts]
            parts = parts[:-1]
        return self.values.get((), (1, 1))

    def problem(
        self,
        path: Sequence[str | int],
        message: str,
        *,
        hint: str | None = None,
        key: bool = False,
        severity: str = "error",
    ) -> Problem:
        line, column = self.locate(path, key=key)
        return Problem(
            self.file, line, column, render_path(path), message, hint=hint, severity=severity
        )


@dataclass(frozen=True)
class Document:
    """A YAML document as plain data, with its positions and its file."""

    path: Path
    data: Any
    positions: Positions

    @property
    def display(self) -> str:
        return self.positions.file


def display_name(path: Path) -> str:
    """The name a user typed, relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_document(path: Path) -> Document:
    """Read ``path`` as one YAML document; raise :class:`DocumentError` on any problem.

    Parsed documents are cached by path, size and modification time (a runbook includes
    the same checks file for several probe sets and is checked for each environment).
    """
    try:
        stat = path.stat()
    except OSError:
        return _load_document(path)
    return _cached(path.resolve(), stat.st_size, stat.st_mtime_ns, path)


@lru_cache(maxsize=64)
def _cached(_resolved: Path, _size: int, _mtime: int, path: Path) -> Document:
    return _load_document(path)


def _load_document(path: Path) -> Document:
    name = display_name(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _located(name, 1, 1, "file not found", hint="check the path") from None
    except OSError as exc:
        raise _located(name, 1, 1, f"cannot read file: {exc.strerror}") from None
    return parse_document(raw, name, path)


def parse_document(raw: bytes, name: str, path: Path | None = None) -> Document:
    """Parse YAML bytes (``name`` is used in messages)."""
    if len(raw) > MAX_BYTES:
        raise _located(
            name,
            1,
            1,
            f"file is {len(raw):,} bytes; the limit is {MAX_BYTES:,}",
            hint="split it, or move data into a checks data file",
        )
    text = _decode(raw, name)
    node = _parse(text, name)
    positions = Positions(name)
    data = _Converter(positions).convert(node)
    return Document(path or Path(name), data, positions)


def _located(
    name: str, line: int, column: int, message: str, *, hint: str | None = None
) -> DocumentError:
    """A document-level problem (no YAML path yet) at ``line:column``."""
    return DocumentError([Problem(name, line, column, "", message, hint=hint)])


def _decode(raw: bytes, name: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise _located(
            name,
            line,
            column,
            f"invalid UTF-8 (byte 0x{raw[exc.start]:02x})",
            hint="save the file as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")


def _parse(text: str, name: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    yaml.Scanner = _bounded_scanner()
    try:
        return yaml.load(text)
    except _TooDeepError as exc:
        raise _located(
            name,
            exc.line + 1,
            exc.column + 1,
            "document is nested too deeply",
            hint=f"a runbook needs far fewer than {MAX_DEPTH} levels",
        ) from None
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        key = (exc.problem or "").strip()
        raise _located(
            name,
            line,
            column,
            f"duplicate key: {key}",
            hint="each key may appear once per mapping; remove one",
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        raise _located(
            name,
            line,
            column,
            f"YAML syntax: {what}",
            hint="check indentation and quoting around this position",
        ) from None
    except ReaderError as exc:  # a character YAML does not allow (NUL, other controls)
        position = exc.position if isinstance(exc.position, int) else 0
        before = text[:position]
        line = before.count("\n") + 1
        column = position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, int) else 0
        raise _located(
            name,
            line,
            column,
            f"character U+{char:04X} is not allowed in YAML ({exc.reason})",
            hint="remove it, or write it as an escape in a double-quoted string",
        ) from None
    except RecursionError:
        raise _located(
            name,
            1,
            1,
            "document is nested too deeply",
            hint=f"a runbook needs far fewer than {MAX_DEPTH} levels",
        ) from None
    except (YAMLError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise _located(name, 1, 1, f"YAML error: {exc}") from None


class _TooDeepError(Exception):
    """Raised by the scanner at the first collection nested deeper than :data:`MAX_DEPTH`."""

    def __init__(self, line: int, column: int) -> None:
        super().__init__(f"nested too deeply at {line + 1}:{column + 1}")
        self.line = line
        self.column = column


@lru_cache(maxsize=1)
def _bounded_scanner() -> type:
    """ruamel's round-trip scanner, refusing nesting deeper than :data:`MAX_DEPTH` as it
    scans. Without the bound, deep flow nesting (``[[[[…``) costs quadratic time in the
    scanner (seconds for a few thousand levels) before the composer's recursion fails."""
    from ruamel.yaml.scanner import RoundTripScanner

    class BoundedScanner(RoundTripScanner):
        def fetch_flow_collection_start(self, token_class: Any, to_push: str) -> None:
            if len(self.flow_context) >= MAX_DEPTH:
                mark = self.reader.get_mark()
                raise _TooDeepError(mark.line, mark.column)
            super().fetch_flow_collection_start(token_class, to_push)

        def add_indent(self, column: int) -> bool:
            if len(self.indents) >= MAX_DEPTH:
                mark = self.reader.get_mark()
                raise _TooDeepError(mark.line, mark.column)
            return bool(super().add_indent(column))

    return BoundedScanner


class _Converter:
    """ruamel round-trip nodes → plain data, recording positions, within bounds."""

    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.nodes = 0
        #: collections already converted, by node id: (value, values counted, height).
        #: An alias of one is counted, not walked again, so a bomb is refused in time
        #: proportional to the document, not to its expansion.
        self.done: dict[int, tuple[Any, int, int]] = {}
        self.height = 0

    def convert(self, node: Any) -> Any:
        self.positions.values[()] = (1, 1)
        return self._convert(node, ())

    def _fail(self, path: PathKey, message: str, hint: str) -> DocumentError:
        return DocumentError([self.positions.problem(path, message, hint=hint)])

    def _convert(self, node: Any, path: PathKey) -> Any:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        if not isinstance(node, CommentedMap | CommentedSeq):
            self._count(1, path, 0)
            self.height = 0
            return _scalar(node)
        seen = self.done.get(id(node))
        if seen is not None:  # an alias of a collection converted before
            value, size, height = seen
            self._count(size, path, height)
            self.height = height
            return value
        before = self.nodes
        self._count(1, path, 0)
        value, tallest = self._collection(node, path)
        self.height = tallest + 1
        self.done[id(node)] = (value, self.nodes - before, self.height)
        return value

    def _count(self, size: int, path: PathKey, height: int) -> None:
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise self._fail(
                path,
                f"document expands to more than {MAX_NODES:,} values",
                "anchors and aliases that multiply (a 'YAML bomb') are refused",
            )
        if len(path) + height > MAX_DEPTH:
            raise self._fail(
                path,
                "document is nested too deeply",
                f"a runbook needs far fewer than {MAX_DEPTH} levels",
            )

    def _collection(self, node: Any, path: PathKey) -> tuple[Any, int]:
        """The converted collection and the height of its tallest child."""
        from ruamel.yaml.comments import CommentedMap

        tallest = 0
        if isinstance(node, CommentedMap):
            out: dict[str, Any] = {}
            for key in node:
                if not isinstance(key, str | int | float | bool) or key is None:
                    raise self._fail(
                        path, f"mapping key {key!r} is not a plain scalar", "use a plain string key"
                    )
                name = str(key)
                child = (*path, name)
                key_pos, value_pos = _key_positions(node, key)
                if key_pos:
                    self.positions.keys[child] = key_pos
                if value_pos:
                    self.positions.values[child] = value_pos
                out[name] = self._convert(node[key], child)
                tallest = max(tallest, self.height)
            return out, tallest
        out_list: list[Any] = []
        for index, item in enumerate(node):
            child = (*path, index)
            line_col = _item_position(node, index)
            if line_col:
                self.positions.values[child] = line_col
            out_list.append(self._convert(item, child))
            tallest = max(tallest, self.height)
        return out_list, tallest


def _key_positions(node: Any, key: Any) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    try:
        info = node.lc.data[key]
    except (AttributeError, KeyError, TypeError):
        return None, None
    return (info[0] + 1, info[1] + 1), (info[2] + 1, info[3] + 1)


def _item_position(node: Any, index: int) -> tuple[int, int] | None:
    try:
        info = node.lc.data[index]
    except (AttributeError, KeyError, IndexError, TypeError):
        return None
    return info[0] + 1, info[1] + 1


def _scalar(node: Any) -> Any:
    """Round-trip scalar subclasses → plain Python values."""
    if node is None or isinstance(node, bool):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    # timestamps, binary and other tagged scalars: keep their text form
    return str(node)


def walk_strings(data: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, str]]:
    """Every string value in ``data`` with its path (used by rendering and lint)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from walk_strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk_strings(value, (*path, index))
    elif isinstance(data, str):
        yield path, data
