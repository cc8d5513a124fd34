"""The layer contracts in pyproject.toml hold, and no two top-level packages import each other in a circle."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"
LINT = (
    "import sys; from importlinter.cli import lint_imports;"
    " sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))"
)
# The composition root is an edge like main.py: it imports every layer, and only edges import it.
COMPOSITION_ROOT = "core.container"


def package_of(module: str) -> str:
    """The top-level package of a module, with the composition root counted on its own."""
    if module == COMPOSITION_ROOT or module.startswith(COMPOSITION_ROOT + "."):
        return COMPOSITION_ROOT
    return module.split(".")[0]


def package_graph() -> dict[str, set[str]]:
    """Which top-level package imports which (our packages only)."""
    packages = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["root_packages"]
    graph = grimp.build_graph(*packages, include_external_packages=False, cache_dir=None)
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        source = package_of(module)
        for imported in graph.find_modules_directly_imported_by(module):
            target = package_of(imported)
            if target != source:
                edges.setdefault(source, set()).add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that returns to its start, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(edges.get(node, ())):
            found = visit(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(edges):
        found = visit(start, [])
        if found:
            return found
    return None


def test_find_cycle_reports_a_circle_and_accepts_a_chain() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_layer_contracts_hold() -> None:
    # In a child process: import-linter reconfigures logging (it disables existing loggers) for the whole process.
    result = subprocess.run(
        [sys.executable, "-c", LINT, str(CONFIG)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_cycle_between_top_level_packages() -> None:
    assert find_cycle(package_graph()) is None
