"""One registry per extension type: entries by name, built-ins and plugins alike.

A :class:`Registry` holds the entries of one extension type (backend kinds today; guard
sources, notifiers and report formats use the same class). Each entry has a ``name``;
:meth:`Registry.register` refuses a second entry with a name already taken.

Entries come from three places, all through :meth:`Registry.register`:

- the built-ins, named as ``module:attribute`` references and loaded exactly like
  entry points (so a built-in is no more special than a plugin);
- the entry-point group of the extension type (e.g. ``cutover.kinds``), declared by
  installed distributions;
- a direct :meth:`Registry.register` call, at any time before the entry is looked up.

Nothing is imported until the first lookup, and every lookup reads the registry as it is
then: nothing is frozen at import time, so ``cutover --help`` stays light and a late
registration is seen. This module imports nothing heavy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, Protocol, TypeVar

from cutover.errors import PluginError


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Entries of one extension type, by name; loaded on first lookup.

    ``what`` names the type in messages ("backend kind"); ``group`` is its entry-point
    group; ``builtins`` are ``module:attribute`` references to the built-in entries;
    ``check`` validates an entry before it is registered (raise ``ValueError`` to refuse).
    """

    def __init__(
        self,
        what: str,
        *,
        group: str,
        entry_type: type[T],
        builtins: Sequence[str] = (),
        check: Callable[[T], None] | None = None,
    ) -> None:
        self.what = what
        self.group = group
        self._entry_type = entry_type
        self._builtins = [EntryPoint(name="", value=ref, group=group) for ref in builtins]
        self._check = check
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loaded = False
        self._lock = threading.RLock()
        #: bumped by every registration: lets a user cache what it derives from the entries
        self.generation = 0

    # -- registering ------------------------------------------------------------------------

    def register(self, entry: T, *, origin: str = "a register() call") -> T:
        """Add ``entry``; a different entry with the same name is refused (``PluginError``).

        Registering the very same object twice is harmless (a plugin that both calls this
        at import and declares an entry point to the same object). ``origin`` says where
        the entry comes from, in messages.
        """
        with self._lock:
            self._load()
            return self._add(entry, origin=origin)

    def _add(self, entry: T, *, origin: str) -> T:
        if not isinstance(entry, self._entry_type):
            raise PluginError(
                f"{origin}: a {self.what} must be a {self._entry_type.__name__}, "
                f"not {type(entry).__name__}",
                hint="see docs/plugins.md",
            )
        name = entry.name
        existing = self._entries.get(name)
        if existing is entry:
            return entry
        if existing is not None:
            raise PluginError(
                f"{self.what} {name!r} is already registered (by {self._origins[name]});"
                f" {origin} registers it again",
                hint=f"{self.what} names are unique: rename one, or uninstall one plugin",
            )
        if self._check is not None:
            try:
                self._check(entry)
            except ValueError as exc:
                raise PluginError(
                    f"{origin}: {self.what} {name!r}: {exc}", hint="see docs/plugins.md"
                ) from None
        self._entries[name] = entry
        self._origins[name] = origin
        self.generation += 1
        return entry

    # -- looking up -------------------------------------------------------------------------

    def get(self, name: str) -> T:
        """The entry called ``name``; ``PluginError`` (naming the registered ones) if none."""
        entries = self.entries()
        if name not in entries:
            from cutover.hints import did_you_mean

            raise PluginError(
                f"no {self.what} named {name!r}", hint=did_you_mean(name, entries, list_all=True)
            )
        return entries[name]

    def entries(self) -> dict[str, T]:
        """Every registered entry by name, built-ins and installed plugins included."""
        with self._lock:
            self._load()
            return dict(self._entries)

    def names(self) -> list[str]:
        return sorted(self.entries())

    def __contains__(self, name: object) -> bool:
        return name in self.entries()

    def __iter__(self) -> Iterator[T]:
        return iter(self.entries().values())

    # -- loading ----------------------------------------------------------------------------

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # first: a plugin module that registers itself must not recurse
        found = list(entry_points(group=self.group))
        for entry_point in [*self._builtins, *found]:
            origin = f"entry point {entry_point.value!r} ({self.group})"
            try:
                entry = entry_point.load()
            except Exception as exc:  # a broken plugin: say which, never a traceback
                raise PluginError(
                    f"{origin} failed to load: {type(exc).__name__}: {exc}",
                    hint="fix or uninstall the plugin that declares it",
                ) from exc
            self._add(entry, origin=origin)
