"""One-way structure: no import circles among cutover modules; only the entry point
imports the CLI application (``cutover.cli.app``)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "cutover"
ENTRY_POINTS = {"cutover.__main__"}  # plus the console script in pyproject.toml


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """cutover modules ``path`` imports, at module level or inside functions alike (not
    the ``if TYPE_CHECKING:`` imports: they name types and never run)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            node.body = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in _imports(path, name) if m in modules and m != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _parents_only(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Importing ``a.b`` runs ``a/__init__``: a package importing its own module is no circle,
    so edges from a package to its submodules are dropped."""
    return {
        name: {m for m in targets if not m.startswith(f"{name}.")}
        for name, targets in graph.items()
    }


def test_every_module_imports() -> None:
    for name in sorted(_graph()):
        importlib.import_module(name)


def test_no_import_circles() -> None:
    assert _cycles(_parents_only(_graph())) == []


def test_only_the_entry_point_imports_the_cli_app() -> None:
    importers = {name for name, targets in _graph().items() if "cutover.cli.app" in targets}
    assert importers == ENTRY_POINTS


def test_the_walk_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


#: What only a command or the engine may use: opening a journal, making actions, a target.
FETCHERS = {"cutover.journal.Journal", "cutover.runbook.kinds", "cutover.target", "cutover.actions"}


def test_views_receive_data_and_fetch_nothing() -> None:
    fetching = {
        name: sorted(m for m in _imports(path, name) if any(m.startswith(f) for f in FETCHERS))
        for path in sorted((PACKAGE / "report").rglob("*.py"))
        if (name := _module(path))
    }
    assert {name: found for name, found in fetching.items() if found} == {}
