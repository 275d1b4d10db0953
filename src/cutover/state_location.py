"""Where a command keeps its state (journal, lab state), and every store on this host.

The state directory is, in order of precedence:

1. ``--state DIR`` (``--state-dir`` is the older spelling of the same option);
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

STATE_ENV = "CUTOVER_STATE"
STATE_DIR_ENV = "CUTOVER_STATE_DIR"  #: the older name, still read
LEGACY_DIR = Path(".cutover")
JOURNAL_FILE = "journal.db"
STORES_FILE = "stores"


@dataclass(frozen=True)
class StateChoice:
    path: Path
    explicit: bool  #: named by an option or the environment: look nowhere else
    notice: str | None = None


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cutover"


def choose_state(option: Path | None) -> StateChoice:
    """The state directory of this command (see the module docstring for the order)."""
    if option is not None:
        return StateChoice(option, explicit=True)
    named = os.environ.get(STATE_ENV) or os.environ.get(STATE_DIR_ENV)
    if named:
        return StateChoice(Path(named), explicit=True)
    if (LEGACY_DIR / JOURNAL_FILE).is_file():
        return StateChoice(
            LEGACY_DIR,
            explicit=False,
            notice=f"using the project-local state directory {LEGACY_DIR.resolve()} (it holds"
            f" a journal); the default is now {default_state_dir()}: pass --state to choose",
        )
    return StateChoice(default_state_dir(), explicit=False)


def remember_store(directory: Path) -> None:
    """Add ``directory`` to the list of stores of this user (one absolute path a line)."""
    home = default_state_dir()
    where = directory.resolve()
    if where == home.resolve():
        return
    listing = home / STORES_FILE
    if str(where) in _read_lines(listing):
        return
    home.mkdir(parents=True, exist_ok=True)
    with listing.open("a", encoding="utf-8") as out:  # one short append: atomic
        out.write(f"{where}\n")


def known_stores(first: Path, also: Iterable[Path] = ()) -> list[Path]:
    """``first``, then every other store with a journal: the default, the remembered
    ones, and ``also`` (e.g. the stores named by lock holders on this host)."""
    home = default_state_dir()
    candidates = [first, home, *map(Path, _read_lines(home / STORES_FILE)), *also]
    seen: set[Path] = set()
    out: list[Path] = []
    for path in candidates:
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        if path == first or (path / JOURNAL_FILE).is_file():
            out.append(path)
    return out


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()]
