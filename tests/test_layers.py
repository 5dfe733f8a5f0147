"""The layers of the project, read from the source: `workspaces` ← `agents` ← (`proactive`,
`notifications`, `autonomy`), the three on top never importing each other, `gradent.lib`
importing no app, and no import cycle between the project's modules.

Every import counts for the layer rules, wherever it is written (a function-level import is
still a dependency); only module-level imports that run at import time count for cycles
(a function-level import is the accepted way to break one, and `if TYPE_CHECKING:` imports
never run)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("gradent", "workspaces", "agents", "proactive", "notifications", "autonomy")
TOP = ("proactive", "notifications", "autonomy")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a submodule named by `from pkg import sub` included)
    line: int
    runs_at_import: bool  # module level, outside `if TYPE_CHECKING:`


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files() -> dict[str, Path]:
    return {module_name(path): path for app in APPS for path in sorted((ROOT / app).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path, modules: set[str]) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def resolve(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join([*base, node.module] if node.module else base)

    def visit(node: ast.AST, runs_at_import: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(module, alias.name, child.lineno, runs_at_import))
            elif isinstance(child, ast.ImportFrom):
                target = resolve(child)
                for alias in child.names:
                    submodule = f"{target}.{alias.name}"
                    name = submodule if submodule in modules else target
                    found.append(Import(module, name, child.lineno, runs_at_import))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                visit(child, False)
            else:
                visit(child, runs_at_import)

    visit(tree, True)
    return found


def all_imports() -> list[Import]:
    files = project_files()
    modules = set(files)
    return [found for module, path in files.items() for found in imports_of(module, path, modules)]


def app_of(module: str) -> str:
    if module == "gradent.lib" or module.startswith("gradent.lib."):
        return "gradent.lib"
    return module.split(".")[0]


# Which apps each layer may not import.
FORBIDDEN = {
    "gradent.lib": {"workspaces", "agents", *TOP, "gradent"},
    "workspaces": {"agents", *TOP},
    "agents": set(TOP),
    **{app: set(TOP) - {app} for app in TOP},
}


def layer_violations(imports: list[Import]) -> list[str]:
    return sorted(
        {
            f"{found.source} (line {found.line}) imports {found.target}"
            for found in imports
            if app_of(found.target) in FORBIDDEN.get(app_of(found.source), ())
        }
    )


def cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), plus self-imports."""
    graph: dict[str, set[str]] = {}
    for found in imports:
        if found.runs_at_import and found.target in project_files_set:
            graph.setdefault(found.source, set()).add(found.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


project_files_set = set(project_files())


def test_the_checker_sees_a_forbidden_import_and_a_cycle():
    imports = [
        Import("autonomy.services", "notifications.services", 1, False),
        Import("workspaces.models", "workspaces.services", 1, True),
        Import("workspaces.services", "workspaces.models", 1, True),
        Import("agents.api", "workspaces.models", 1, True),
    ]
    assert layer_violations(imports) == ["autonomy.services (line 1) imports notifications.services"]
    assert cycles(imports) == [["workspaces.models", "workspaces.services"]]


def test_the_checker_reads_every_app():
    imports = all_imports()
    assert {app_of(found.source) for found in imports} >= {*APPS, "gradent.lib"}
    assert any(found.target == "agents.events" for found in imports if found.source.startswith("notifications"))


def test_each_app_imports_only_the_layers_below_it():
    assert layer_violations(all_imports()) == []


def test_no_import_cycle_between_modules():
    assert cycles(all_imports()) == []
