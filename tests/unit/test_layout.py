"""The architecture is what the folder names say: fixtures/ holds pytest plugins only,
labkit/ is plain library code that never reaches into the plugins, the host tools share
stackbase/ and take from one another only what each offers in its `__all__`, and no import
cycle hides behind a function-local import."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from labkit.settings import ROOT

BASE = "stackbase"
TOOLS = ("localcluster", "s3stack", "kindstack")
PACKAGES = ("fixtures", "labkit", BASE, *TOOLS)
# All that stackbase reads of the suite's library: the pins' grammar and paths, and the lab's facts.
BASE_MAY_READ = ("labkit.settings", "labkit.lab")


def modules(root: Path = ROOT, packages: Sequence[str] = PACKAGES) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def statements(path: Path) -> dict[str, list[ast.Import | ast.ImportFrom]]:
    """A module's import statements: `loaded` runs when the module is imported, `local` inside
    a function (later, if ever), `any` is every one, under `if TYPE_CHECKING:` (never run) too."""
    tree = ast.parse(path.read_text())
    found: dict[str, list[ast.Import | ast.ImportFrom]] = {"loaded": [], "local": []}

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found["local" if in_function else "loaded"].append(child)
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(tree, False)
    found["any"] = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    return found


def imports(path: Path, known: Mapping[str, Path], which: Literal["loaded", "local", "any"] = "loaded") -> set[str]:
    """The project modules `path` imports (`which` of its statements); `from package import
    name` imports the submodule when `name` is one, else the package."""
    out: set[str] = set()
    for node in statements(path)[which]:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {name for name in out if name in known}


def local_imports(known: Mapping[str, Path]) -> dict[str, list[str]]:
    """Per module, the project modules it imports inside a function."""
    return {name: found for name, path in known.items() if (found := sorted(imports(path, known, "local")))}


def find_cycle(known: Mapping[str, Path]) -> list[str]:
    """A cycle of module-level imports (its first module repeated at the end), or []."""
    graph = {name: {i for i in imports(path, known) if i != name} for name, path in known.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                path = [*trail, node]
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt, [*trail, node])):
                return found
        state[node] = 2
        return []

    for name in sorted(graph):
        if name not in state and (found := visit(name, [])):
            return found
    return []


def base_reaches(known: Mapping[str, Path]) -> dict[str, list[str]]:
    """Per stackbase module, what it imports beyond stackbase and BASE_MAY_READ (a tool, say)."""
    return {
        name: found
        for name, path in known.items()
        if name.split(".")[0] == BASE
        and (found := sorted(i for i in imports(path, known, "any") if i.split(".")[0] != BASE and i not in BASE_MAY_READ))
    }


def public_names(root: Path, tool: str) -> set[str] | None:
    """The names a tool offers the other tools: the `__all__` of its __init__.py (None without one)."""
    for node in ast.parse((root / tool / "__init__.py").read_text()).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "__all__" and value is not None:
            return set(ast.literal_eval(value))
    return None


def past_the_api(known: Mapping[str, Path], root: Path = ROOT, tools: Sequence[str] = TOOLS) -> dict[str, list[str]]:
    """Per tool module, what it takes from another tool other than a name of that tool's
    `__all__`: a submodule (`from localcluster.build import ...`, `import s3stack.cli`), or a
    name the other tool does not offer (`from localcluster import host`, `localcluster.host`)."""
    offered = {tool: public_names(root, tool) or set() for tool in tools}
    found: dict[str, list[str]] = {}
    for name, path in known.items():
        own = name.split(".")[0]
        if own not in tools:
            continue
        tree = ast.parse(path.read_text())
        bad: set[str] = set()
        bound: dict[str, str] = {}  # a name `import tool` binds -> that tool
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top = node.module.split(".")[0]
                if top in tools and top != own:
                    if node.module != top:
                        bad.add(f"from {node.module} import ...")
                    bad.update(f"{top}.{a.name}" for a in node.names if node.module == top and a.name not in offered[top])
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    top = alias.name.split(".")[0]
                    if top in tools and top != own:
                        if alias.name != top:
                            bad.add(f"import {alias.name}")
                        else:
                            bound[alias.asname or top] = top
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
                tool = bound[node.value.id]
                if node.attr not in offered[tool]:
                    bad.add(f"{tool}.{node.attr}")
        if bad:
            found[name] = sorted(bad)
    return found


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
    known = modules()
    reaching = {
        name: found
        for name, path in known.items()
        if name.startswith("labkit") and (found := sorted(i for i in imports(path, known, "any") if i.startswith("fixtures")))
    }
    assert not reaching, f"library modules that import plugins: {reaching}"


def test_no_local_import_of_the_project() -> None:
    """Imports of the project's modules run when the module is imported, so a cycle cannot hide
    inside a function (an import under `if TYPE_CHECKING:` never runs)."""
    local = local_imports(modules())
    assert not local, f"function-local imports of project modules: {local}"


def test_no_import_cycle() -> None:
    cycle = find_cycle(modules())
    assert not cycle, f"import cycle: {' -> '.join(cycle)}"


def test_the_tools_base_imports_no_tool() -> None:
    reaching = base_reaches(modules())
    assert not reaching, f"stackbase modules that import a tool, or labkit beyond {', '.join(BASE_MAY_READ)}: {reaching}"


def test_each_tool_offers_the_others_an_all() -> None:
    missing = [tool for tool in TOOLS if public_names(ROOT, tool) is None]
    assert not missing, f"tools whose __init__.py declares no __all__ (the names other tools may use): {missing}"


def test_a_tool_takes_from_another_only_what_its_all_offers() -> None:
    reaching = past_the_api(modules())
    assert not reaching, f"tool modules that reach past another tool's __all__ (add the name there, or move it to stackbase/): {reaching}"


def test_one_module_of_the_tools_reads_the_labs_facts() -> None:
    """The lab's app images are the tools' only business with the lab (labkit.lab)."""
    known = modules()
    readers = sorted(
        name for name, path in known.items() if name.split(".")[0] in (BASE, *TOOLS) and "labkit.lab" in imports(path, known, "any")
    )
    assert readers == ["stackbase.labimages"]


def test_the_checks_catch_what_they_guard(tmp_path: Path) -> None:
    """Each rule above fails on a tree that breaks it."""
    files = {
        "stackbase/__init__.py": "",
        "stackbase/ui.py": "import alpha\nfrom labkit import settings\n",
        "labkit/__init__.py": "",
        "labkit/settings.py": "",
        "alpha/__init__.py": "from alpha.run import main\n\n__all__ = ['main']\n",
        "alpha/run.py": (
            "from typing import TYPE_CHECKING\n\nimport beta\nfrom beta import PUBLIC, hidden\nfrom beta.inner import x\n\n"
            "if TYPE_CHECKING:\n    from gamma import Thing\n\n\n"
            "def main(thing: Thing) -> None:\n    import beta\n    from stackbase import ui\n\n"
            "    print(PUBLIC, hidden, x, ui, beta.PUBLIC, beta.other)\n"
        ),
        "beta/__init__.py": "__all__ = ['PUBLIC']\nPUBLIC = 1\n",
        "beta/inner.py": "from beta import loop\n\nx = loop\n",
        "beta/loop.py": "from beta.inner import x\n",
        "gamma/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    known = modules(tmp_path, ("labkit", "stackbase", "alpha", "beta", "gamma"))
    assert base_reaches(known) == {"stackbase.ui": ["alpha"]}
    assert past_the_api(known, tmp_path, ("alpha", "beta")) == {"alpha.run": ["beta.hidden", "beta.other", "from beta.inner import ..."]}
    assert public_names(tmp_path, "gamma") is None
    assert local_imports(known) == {"alpha.run": ["beta", "stackbase.ui"]}
    assert find_cycle(known) == ["beta.inner", "beta.loop", "beta.inner"]
    (tmp_path / "beta/loop.py").write_text("x = 1\n")
    assert find_cycle(known) == []
