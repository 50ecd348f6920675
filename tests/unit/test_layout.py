"""The architecture is what the folder names say: fixtures/ holds pytest plugins only,
labkit/ is plain library code that never reaches into the plugins, and no import cycle hides
behind a function-local import."""

from __future__ import annotations

import ast
from pathlib import Path

from labkit.settings import ROOT

PACKAGES = ("fixtures", "labkit")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path, top_level_only: bool) -> set[str]:
    """The project modules `path` imports (at module level only, or anywhere)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    known = modules()
    return {name for name in out if name in known}


def test_every_fixtures_module_is_a_plugin() -> None:
    """Each file in fixtures/ defines a fixture or a hook; library code lives in labkit/."""
    bare = []
    for name, path in modules().items():
        if not name.startswith("fixtures") or path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        hooks = [f for f in functions if f.name.startswith("pytest_")]
        fixtures = [f for f in functions if any("fixture" in ast.unparse(d) for d in f.decorator_list)]
        if not hooks and not fixtures:
            bare.append(name)
    assert not bare, f"modules in fixtures/ that define no fixture or hook (move them to labkit/): {bare}"


def test_the_library_never_imports_the_plugins() -> None:
    reaching = {
        name: found
        for name, path in modules().items()
        if name.startswith("labkit") and (found := sorted(i for i in imports(path, top_level_only=False) if i.startswith("fixtures")))
    }
    assert not reaching, f"library modules that import plugins: {reaching}"


def test_no_import_cycle_and_no_local_import_of_the_project() -> None:
    """Imports of the project's modules are at module level (so a cycle cannot hide inside a
    function), and the module graph has no cycle."""
    known = modules()
    local = {
        name: found
        for name, path in known.items()
        if (found := sorted(imports(path, top_level_only=False) - imports(path, top_level_only=True) - _type_only(path)))
    }
    assert not local, f"function-local imports of project modules: {local}"
    graph = {name: {i for i in imports(path, top_level_only=True) if i != name} for name, path in known.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*trail, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def _type_only(path: Path) -> set[str]:
    """Imports under `if TYPE_CHECKING:` (annotations only, never run)."""
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module:
                    out.add(inner.module)
                    out.update(f"{inner.module}.{a.name}" for a in inner.names)
    return out
