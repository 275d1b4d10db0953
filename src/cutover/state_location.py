"""Where a command keeps its state (journal, lab state), and every store on this host.

The state is a directory (the journal in SQLite, ``journal.db``) or a PostgreSQL URL
(``postgresql://USER@HOST:PORT/DB``: the journal, run records and target locks shared by a
team, see :mod:`cutover.pg_store`; files that stay on this machine, the lab's state and
the run logs, then go to the per-user default directory). It is, in order of precedence:

1. ``--state DIR|URL`` (``--state-dir`` is the older spelling of the same option);
2. ``$CUTOVER_STATE`` (``$CUTOVER_STATE_DIR`` is the older spelling);
3. ``./.cutover``, when it already holds a journal: the project-local directory of
   earlier versions keeps working, with a notice saying so (it is used, not moved, so a
   run still in it can be resumed);
4. the per-user default: ``$XDG_STATE_HOME/cutover``, i.e. ``~/.local/state/cutover``.

So, by default, every command of one user on this host reads and writes one store,
whatever directory the operator stands in. Every store a run used is remembered in the
default store's ``stores`` list, and every run holding (or having held) a target lock
names its store in the host-wide lock directory, so ``status``, ``history``, ``show``,
``resume`` and ``rollback`` find runs of other stores too (see :func:`known_stores`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

STATE_ENV = "CUTOVER_STATE"
STATE_DIR_ENV = "CUTOVER_STATE_DIR"  #: the older name, still read
LEGACY_DIR = Path(".cutover")
JOURNAL_FILE = "journal.db"
STORES_FILE = "stores"


_URL_SCHEMES = ("postgresql://", "postgres://")
#: ``--state secret:env:NAME``: the PostgreSQL URL is a secret (it may hold a password)
SECRET_PREFIX = "secret:"


def is_url(text: str) -> bool:
    return text.startswith(_URL_SCHEMES)


def redact_url(url: str) -> str:
    """``url`` without its password (``postgresql://USER:[REDACTED]@HOST/DB``), spelled as
    :func:`cutover.secrets.redact` spells any URL's password: for every message."""
    from cutover.secrets import REDACTED

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{netloc}"))


@dataclass(frozen=True)
class Store:
    """Where a journal lives: ``directory`` (SQLite), or ``url`` (PostgreSQL) with
    ``directory`` for this machine's files (lab state, run logs)."""

    directory: Path
    url: str | None = None
    named: str | None = None  #: how it was named when that is not the URL (``secret:env:X``)

    def __str__(self) -> str:
        if self.named:
            return self.named
        return redact_url(self.url) if self.url else str(self.directory)

    @property
    def ref(self) -> str:
        """The store's name in lock targets and holder records: an absolute directory, or
        the URL without its password."""
        return redact_url(self.url) if self.url else str(self.directory.resolve())

    def state_option(self) -> str:
        """`` --state STORE`` for a command shown to the operator."""
        return f" --state {self}"

    def has_journal(self) -> bool:
        return self.url is not None or (self.directory / JOURNAL_FILE).is_file()


@dataclass(frozen=True)
class StateChoice:
    store: Store
    explicit: bool  #: named by an option or the environment: look nowhere else
    notice: str | None = None

    @property
    def path(self) -> Path:
        """The local state directory (lab state, logs; the SQLite journal)."""
        return self.store.directory


def as_store(where: Store | Path) -> Store:
    return where if isinstance(where, Store) else Store(where)


def store_of(named: str | Path) -> Store:
    """The store ``named`` by an option or the environment: a URL, a secret reference
    whose value is a URL (``secret:env:NAME``, ``secret:file:PATH``), else a directory."""
    text = str(named)
    if isinstance(named, str) and is_url(text):
        return Store(default_state_dir(), url=text)
    if isinstance(named, str) and text.startswith(SECRET_PREFIX):
        from cutover.errors import InputError
        from cutover.secrets import resolve

        url = resolve(text.removeprefix(SECRET_PREFIX))
        if not is_url(url):
            raise InputError(
                f"state {text}: the secret is not a postgresql:// URL",
                hint="its value must be postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]",
            )
        return Store(default_state_dir(), url=url, named=text)
    return Store(Path(named))


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cutover"


def choose_state(option: str | Path | None) -> StateChoice:
    """The state of this command (see the module docstring for the order)."""
    if option is not None:
        return StateChoice(store_of(option), explicit=True)
    named = os.environ.get(STATE_ENV) or os.environ.get(STATE_DIR_ENV)
    if named:
        return StateChoice(store_of(named), explicit=True)
    if (LEGACY_DIR / JOURNAL_FILE).is_file():
        return StateChoice(
            Store(LEGACY_DIR),
            explicit=False,
            notice=f"using the project-local state directory {LEGACY_DIR.resolve()} (it holds"
            f" a journal); the default is now {default_state_dir()}: pass --state to choose",
        )
    return StateChoice(Store(default_state_dir()), explicit=False)


def remember_store(directory: Path) -> None:
    """Add ``directory`` to the list of stores of this user (one absolute path a line)."""
    home = default_state_dir()
    where = directory.resolve()
    if where == home.resolve():
        return
    listing = home / STORES_FILE
    if str(where) in _read_lines(listing):
        return
    from cutover.private_files import private_file

    with private_file(listing).open("a", encoding="utf-8") as out:  # one short append: atomic
        out.write(f"{where}\n")


def known_stores(first: Store, also: Iterable[Path] = ()) -> list[Store]:
    """``first``, then every other local store with a journal: the default, the
    remembered ones, and ``also`` (e.g. the stores named by lock holders on this host)."""
    home = default_state_dir()
    candidates = [home, *map(Path, _read_lines(home / STORES_FILE)), *also]
    seen: set[str] = {first.ref}
    out: list[Store] = [first]
    for path in candidates:
        store = Store(path)
        if store.ref in seen:
            continue
        seen.add(store.ref)
        if store.has_journal():
            out.append(store)
    return out


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()]
