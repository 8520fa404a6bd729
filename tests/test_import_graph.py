"""The project's import graph: no circles, and the layers point one way.

Read from the source with `ast` (nothing is imported), so the test sees every import,
including those inside functions, which run as surely as the ones at the top of a
module, only later, and those under ``if TYPE_CHECKING:``: they never run, but a type
named from a module that depends on this one is still a circle for a reader (and for
the type checker). Layering counts them too: a type from a higher layer is still a
dependency on it.

Layers: orchestrator -> workers -> search_space. search_space never imports Ray,
MLflow, workers, orchestrator or dashboards; workers never imports the orchestrator,
dashboards, Ray or MLflow (a trial is plain Python given its config); of the
orchestrator only the command line (`orchestrator.cli`) and the experiment kinds
(`orchestrator.kinds`: each kind's report) import dashboards, which read results
through the orchestrator's client.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("search_space", "workers", "orchestrator", "dashboards")


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported name, absolute (``pkg.mod`` or ``pkg.mod.attr``)
    type_only: bool  # under ``if TYPE_CHECKING:``
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[Import]:
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            found.extend(Import(module, a.name, type_only, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            found.extend(
                Import(module, f"{origin}.{a.name}", type_only, node.lineno) for a in node.names
            )
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _all_imports() -> tuple[set[str], list[Import]]:
    files = [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]
    modules = {_module_name(path) for path in files}
    return modules, [item for path in files for item in _imports(path)]


def _project_module(name: str, modules: set[str]) -> str | None:
    """The project module `name` refers to (``pkg.mod.attr`` -> ``pkg.mod``), if any."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _graph(modules: set[str], imports: list[Import]) -> dict[str, set[str]]:
    """Module -> modules it runs on import or call (importing ``a.b.c`` runs ``a`` and
    ``a.b`` first, unless they are the importer's own packages)."""
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for item in imports:
        target = _project_module(item.target, modules)
        if target is None or target == item.source:
            continue
        parts = target.split(".")
        for end in range(1, len(parts) + 1):
            step = ".".join(parts[:end])
            own_package = item.source.startswith(step + ".")
            if step in modules and step != item.source and not own_package:
                graph[item.source].add(step)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import() -> None:
    """The check itself: a circle closed by an import inside a function is found."""
    graph = _graph(
        {"p", "p.a", "p.b", "p.c"},
        [
            Import("p.a", "p.b.thing", False, 1),
            Import("p.b", "p.c", False, 1),
            Import("p.c", "p.a.other", False, 9),  # e.g. inside a function
        ],
    )
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_the_cycle_finder_counts_type_only_imports() -> None:
    imports = [Import("p.a", "p.b", False, 1), Import("p.b", "p.a", True, 3)]  # type only
    graph = _graph({"p", "p.a", "p.b"}, imports)
    assert _cycles(graph) == [["p.a", "p.b"]]


def test_no_import_circles_among_the_project_modules() -> None:
    modules, imports = _all_imports()
    assert len(modules) > 100
    cycles = _cycles(_graph(modules, imports))
    assert cycles == [], "import circles: " + "; ".join(" <-> ".join(c) for c in cycles)


# (importing package, what it must never import)
FORBIDDEN = {
    "search_space": ("ray", "mlflow", "workers", "orchestrator", "dashboards"),
    "workers": ("ray", "mlflow", "orchestrator", "dashboards"),
    "orchestrator": ("dashboards",),
}
ALLOWED = {("orchestrator", "dashboards"): ("orchestrator.cli", "orchestrator.kinds")}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_point_one_way(package: str) -> None:
    _, imports = _all_imports()
    wrong = []
    for item in imports:
        if item.source.split(".")[0] != package:
            continue
        top = item.target.split(".")[0]
        allowed = ALLOWED.get((package, top), ())
        exempt = any(item.source == a or item.source.startswith(a + ".") for a in allowed)
        if top in FORBIDDEN[package] and not exempt:
            wrong.append(f"{item.source}:{item.line} imports {item.target}")
    assert wrong == [], "\n".join(wrong)


def test_the_orchestrator_root_keeps_at_most_six_modules() -> None:
    """Everything else lives in a package (sweep, runner, results, kinds, cli)."""
    root = sorted(p.name for p in (REPO / "orchestrator").glob("*.py") if p.name != "__init__.py")
    assert len(root) <= 6, root
