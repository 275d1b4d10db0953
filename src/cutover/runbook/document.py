"""YAML documents with positions: read a file into plain data plus a map of where each value is.

libyaml (C, through PyYAML) reads the syntax as a stream of events, each with its line and
column; one pass builds plain ``dict``/``list``/scalars (what pydantic wants), typing plain
scalars by YAML 1.2's rules, and a :class:`Positions` map from YAML path to
``(line, column)``, so any later error, from pydantic, the template renderer or a lint
rule, can be reported as ``FILE:LINE:COL: YAML.path: message``.

Hostile input is bounded: file size, nesting depth and the values aliases add (an alias is
counted, not expanded, so a "billion laughs" document is refused in time proportional to
its text); duplicate keys and invalid UTF-8 are reported with their location. Every step
is linear in the text: a 1 MiB document is read in well under a second.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cutover.errors import DocumentError, Problem

MAX_BYTES = 1024 * 1024  #: a runbook is a page of YAML; 1 MiB is 200 times the shipped one
CACHE_MAX_BYTES = 64 * 1024  #: larger documents are not kept by :func:`load_document`
MAX_DEPTH = 64  #: deeper nesting is never a runbook
#: values aliases may add (a document without aliases is bounded by :data:`MAX_BYTES`)
MAX_EXPANDED = 200_000

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

    Parsed documents up to :data:`CACHE_MAX_BYTES` are cached by path, size and
    modification time (a runbook includes the same checks file for several probe sets and
    is checked for each environment); larger ones are read again, so the cache stays small.
    """
    try:
        stat = path.stat()
    except OSError:
        return _load_document(path)
    if stat.st_size > CACHE_MAX_BYTES:  # 64 cached megabyte documents would be gigabytes
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
    data, positions = _parse(text, name)
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


def _parse(text: str, name: str) -> tuple[Any, Positions]:
    """Plain data and positions of ``text``, read by libyaml (C), within the bounds."""
    from ruamel.yaml.reader import Reader
    from yaml import MarkedYAMLError, YAMLError
    from yaml.reader import ReaderError

    bad = Reader.NON_PRINTABLE.search(text)
    if bad is not None:  # the same characters ruamel's reader refuses, found at C speed
        line, column = _line_column(text, bad.start())
        raise _located(
            name,
            line,
            column,
            f"character U+{ord(bad.group()):04X} is not allowed in YAML"
            " (special characters are not allowed)",
            hint="remove it, or write it as an escape in a double-quoted string",
        )
    positions = Positions(name)
    collecting = gc.isenabled()
    gc.disable()  # the builder only adds objects, and no cycles: a collection finds nothing
    try:
        return _Builder(positions, name).build(text), positions
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or ""
        if problem == "found character that cannot start any token" and mark is not None:
            char = text[mark.index : mark.index + 1]  # libyaml does not name it; ruamel did
            problem = f"found character {char!r} that cannot start any token"
        what = " ".join(x for x in (exc.context, problem) if x) or "invalid YAML"
        raise _located(
            name,
            line,
            column,
            f"YAML syntax: {what}",
            hint="check indentation and quoting around this position",
        ) from None
    except ReaderError as exc:  # what libyaml's reader refuses beyond ruamel's character set
        line, column = _line_column(text, exc.position)
        raise _located(name, line, column, f"YAML: {exc.reason}") from None
    except YAMLError as exc:
        raise _located(name, 1, 1, f"YAML error: {exc}") from None
    finally:
        if collecting:
            gc.enable()


def _line_column(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


_CORE = "tag:yaml.org,2002:"


def _event_parser() -> Any:
    """libyaml's parser (C), through PyYAML; its pure-Python one if libyaml is missing.

    libyaml only reads the syntax; which tag a plain scalar gets is decided here by
    YAML 1.2's rules (ruamel's), as before: ``yes`` stays a string, ``017`` is 17.
    """
    import yaml

    return (
        yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    )  # correct, but without libyaml the time bound does not hold


@lru_cache(maxsize=1)
def _implicit_tags() -> dict[str, list[tuple[str, Any]]]:
    """ruamel's YAML 1.2 rules for plain scalars: first character → (tag, pattern)."""
    from ruamel.yaml import YAML

    table = YAML(typ="safe", pure=True).resolver.versioned_resolver
    # (the patterns are lazy proxies: take the compiled pattern's own match once)
    return {
        char: [(str(tag), regexp.match) for tag, regexp in rules] for char, rules in table.items()
    }


_STR = _CORE + "str"


def _resolve(text: str) -> str:
    """The tag YAML 1.2 gives a plain scalar (``str`` when no rule matches)."""
    for tag, match in _implicit_tags().get(text[:1], ()):
        if match(text):
            return tag
    return _STR


def _to_int(text: str) -> int:
    try:  # decimal, as YAML 1.2 reads it (``017`` is 17, ``1_000`` is 1000)
        return int(text)
    except ValueError:
        pass
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    base = {"0x": 16, "0o": 8, "0b": 2}.get(digits[:2].lower(), 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    lowered = text.replace("_", "").lower()
    if lowered.endswith((".inf", ".nan")):
        return float(lowered.replace(".", ""))
    return float(lowered)


#: tag → the plain value of a scalar's text (other tags keep the text)
_CONSTRUCT: dict[str, Any] = {
    _CORE + "null": lambda text: None,
    _CORE + "bool": lambda text: text.lower() in ("true", "yes", "on"),
    _CORE + "int": _to_int,
    _CORE + "float": _to_float,
    _CORE + "str": str,
}


_MERGE = "tag:yaml.org,2002:merge"


@dataclass(slots=True)
class _Open:
    """A collection being built: where it is, what it holds so far."""

    value: dict[str, Any] | list[Any]
    path: PathKey
    anchor: str | None
    nodes_before: int
    tallest: int = 0
    key: tuple[str, tuple[int, int], bool] | None = None  #: name, position, is ``<<``
    merges: list[Any] = field(default_factory=list)


class _Builder:
    """libyaml's events → plain data and positions, in one pass, within bounds.

    Each event costs O(1): a collection is built once, an alias of it is counted (its
    size added to the expansion) and shared, not walked again, so a "billion laughs"
    document is refused in time proportional to its text. Nesting is refused at the
    first collection deeper than :data:`MAX_DEPTH`, before libyaml goes further (its
    cost per token grows with the depth of open flow collections).
    """

    def __init__(self, positions: Positions, name: str) -> None:
        self.positions = positions
        self.name = name
        self.nodes = 0  #: values written and added by aliases
        self.expanded = 0  #: values added by aliases
        #: anchor → (value, values it counts, height)
        self.anchors: dict[str, tuple[Any, int, int]] = {}
        self.stack: list[_Open] = []
        self.root: Any = None

    def build(self, text: str) -> Any:
        from yaml.composer import ComposerError
        from yaml.events import (
            AliasEvent,
            DocumentStartEvent,
            MappingEndEvent,
            MappingStartEvent,
            ScalarEvent,
            SequenceEndEvent,
            SequenceStartEvent,
            StreamEndEvent,
        )

        self.positions.values[()] = (1, 1)
        parser = _event_parser()(text)
        documents = 0
        while True:
            event = parser.get_event()
            kind = type(event)
            if kind is ScalarEvent:
                self._scalar(event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self._start(event, {} if kind is MappingStartEvent else [])
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                self._end()
            elif kind is AliasEvent:
                self._alias(event)
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise ComposerError(
                        "expected a single document in the stream",
                        None,
                        "but found another document",
                        event.start_mark,
                    )
            elif kind is StreamEndEvent:
                return self.root

    # --- the events --------------------------------------------------------------------------

    def _scalar(self, event: Any) -> None:
        text = event.value
        tag = event.tag
        if tag is None or tag == "!":
            # plain: YAML 1.2 rules decide; quoted or a block scalar: a string
            tag = _resolve(text) if event.implicit[0] else _STR
        start = event.start_mark
        mark = (start.line + 1, start.column + 1)
        frame = self.stack[-1] if self.stack else None
        if frame is not None and type(frame.value) is list and event.anchor is None:
            # the common case, kept short: an item of a list
            try:
                value = (
                    text if tag == _STR else _CONSTRUCT[tag](text) if tag in _CONSTRUCT else text
                )
            except (ValueError, TypeError, OverflowError) as exc:
                raise self._fail(
                    self._child_path(), f"cannot read this value: {exc}", None
                ) from None
            self.positions.values[(*frame.path, len(frame.value))] = mark
            frame.value.append(value)
            self.nodes += 1
            return
        if tag == _MERGE and frame is not None and isinstance(frame.value, dict) and not frame.key:
            frame.key = ("<<", mark, True)
            return
        build = _CONSTRUCT.get(tag)
        try:
            value = build(text) if build is not None else text
        except (ValueError, TypeError, OverflowError) as exc:
            raise self._fail(self._child_path(), f"cannot read this value: {exc}", None) from None
        self._place(value, mark, 1, 0, event.anchor)

    def _start(self, event: Any, value: dict[str, Any] | list[Any]) -> None:
        start = event.start_mark
        mark = (start.line + 1, start.column + 1)
        stack = self.stack
        if len(stack) >= MAX_DEPTH:
            raise _located(self.name, *mark, "document is nested too deeply", hint=_DEEP_HINT)
        if stack and type(stack[-1].value) is list:  # the common case, kept short
            parent = stack[-1]
            item: PathKey = (*parent.path, len(parent.value))
            self.positions.values[item] = mark
            self.nodes += 1
            stack.append(_Open(value, item, event.anchor, self.nodes - 1))
            return
        path = self._child_path()
        if path is None:  # a collection as a mapping key
            frame = self.stack[-1]
            raise self._fail(
                frame.path, "a mapping key must be a plain scalar", "use a plain string key"
            )
        self._position(path, mark)
        self._count(1, path, 0)
        self.stack.append(_Open(value, path, event.anchor, self.nodes - 1))

    def _end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict) and frame.merges:
            for merged in frame.merges:  # explicit keys win, then earlier merges
                for key, item in merged.items():
                    frame.value.setdefault(key, item)
        height = frame.tallest + 1
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (frame.value, self.nodes - frame.nodes_before, height)
        parent = self.stack[-1] if self.stack else None
        if parent is not None and isinstance(parent.value, list):  # the common case, kept short
            parent.value.append(frame.value)
            if height > parent.tallest:
                parent.tallest = height
            return
        self._attach(frame.value, height)

    def _alias(self, event: Any) -> None:
        from yaml.composer import ComposerError

        found = self.anchors.get(event.anchor)
        if found is None:  # undefined, or its collection is still open (recursive)
            raise ComposerError(
                None, None, f"found undefined alias {event.anchor!r}", event.start_mark
            )
        value, size, height = found
        mark = (event.start_mark.line + 1, event.start_mark.column + 1)
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame.key is not None and frame.key[2]:  # <<: *base
            frame.key = None
            self._merge(frame, value, size)
            return
        if frame is not None and isinstance(frame.value, list) and self._merging(frame):
            self._merge(self.stack[-2], value, size)
            return
        self._place(value, mark, size, height, None, alias=True)

    # --- placing values ----------------------------------------------------------------------

    def _child_path(self) -> PathKey | None:
        """The path of the next value (None: the next node is a mapping key)."""
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            return (*frame.path, len(frame.value))
        if frame.key is None:
            return None
        return (*frame.path, frame.key[0])

    def _position(self, path: PathKey, mark: tuple[int, int]) -> None:
        if path:
            self.positions.values[path] = mark

    def _place(
        self,
        value: Any,
        mark: tuple[int, int],
        size: int,
        height: int,
        anchor: str | None,
        *,
        alias: bool = False,
    ) -> None:
        path = self._child_path()
        if path is None:  # a mapping key
            frame = self.stack[-1]
            if alias and isinstance(value, dict | list):
                raise self._fail(
                    frame.path, "a mapping key must be a plain scalar", "use a plain string key"
                )
            if value is None or not isinstance(value, str | int | float | bool):
                raise self._fail(
                    frame.path,
                    f"mapping key {value!r} is not a plain scalar",
                    "use a plain string key",
                )
            frame.key = (str(value), mark, False)
            if anchor is not None:
                self.anchors[anchor] = (value, 1, 0)
            return
        self._position(path, mark)
        if alias:
            self.expanded += size
            if self.expanded > MAX_EXPANDED:
                raise self._fail(path, _BOMB_MESSAGE, _BOMB_HINT)
        self._count(size, path, height)
        if anchor is not None:
            self.anchors[anchor] = (value, 1, 0)
        self._attach(value, height)

    def _attach(self, value: Any, height: int) -> None:
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        frame.tallest = max(frame.tallest, height)
        if isinstance(frame.value, list):
            frame.value.append(value)
            return
        assert frame.key is not None
        name, key_mark, merge = frame.key
        frame.key = None
        if merge:  # <<: {…} or <<: [*a, *b]
            if isinstance(value, dict):
                frame.merges.append(value)
            elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
                frame.merges.extend(value)
            else:
                raise self._fail(
                    (*frame.path, "<<"),
                    "a merge key (<<) takes a mapping or a list of mappings",
                    "write <<: *anchor or <<: [*a, *b]",
                )
            return
        if name in frame.value:
            original = frame.value[name]
            raise _located(
                self.name,
                *key_mark,
                f'duplicate key: found duplicate key "{_brief(name)}" with value'
                f' "{_brief(value)}" (original value: "{_brief(original)}")',
                hint="each key may appear once per mapping; remove one",
            )
        self.positions.keys[(*frame.path, name)] = key_mark
        frame.value[name] = value

    def _merging(self, frame: _Open) -> bool:
        """Is ``frame`` the list of a ``<<: [*a, *b]`` merge key?"""
        if len(self.stack) < 2:
            return False
        parent = self.stack[-2]
        return parent.key is not None and parent.key[2]

    def _merge(self, frame: _Open, value: Any, size: int) -> None:
        if not isinstance(value, dict):
            raise self._fail(
                (*frame.path, "<<"),
                "a merge key (<<) takes a mapping or a list of mappings",
                "write <<: *anchor or <<: [*a, *b]",
            )
        self.expanded += size
        if self.expanded > MAX_EXPANDED:
            raise self._fail((*frame.path, "<<"), _BOMB_MESSAGE, _BOMB_HINT)
        self._count(size, frame.path, 0)
        frame.merges.append(value)

    def _count(self, size: int, path: PathKey, height: int) -> None:
        self.nodes += size
        if len(path) + height > MAX_DEPTH:
            raise self._fail(path, "document is nested too deeply", _DEEP_HINT)

    def _fail(self, path: PathKey | None, message: str, hint: str | None) -> DocumentError:
        return DocumentError([self.positions.problem(path or (), message, hint=hint)])


def _brief(value: Any) -> str:
    """A value as a message shows it: its text, cut after 60 characters."""
    if isinstance(value, dict | list):
        kind = "mapping" if isinstance(value, dict) else "list"
        return f"a {kind} of {len(value):,} values"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


_DEEP_HINT = f"a runbook needs far fewer than {MAX_DEPTH} levels"
_BOMB_MESSAGE = f"document expands to more than {MAX_EXPANDED:,} values"
_BOMB_HINT = "anchors and aliases that multiply (a 'YAML bomb') are refused"


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
