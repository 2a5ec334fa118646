"""Counts that show how the package is layered: function-local imports, import cycles, long functions.

Run from the repository root: ``python tools/structure_report.py [--json]``. It reads the source as text
(``ast``), so it runs without the project's dependencies and on any checkout.
"""

from __future__ import annotations

import argparse
import ast
import json
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "streamwise"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(tree: ast.Module, module: str, is_package: bool, known: set[str]) -> list[tuple[str, bool]]:
    """Each imported module name, and whether the import sits inside a function. ``from p import
    n`` imports the submodule ``p.n`` when ``known`` has it, else the module ``p``."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, local) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                target = resolve(module, is_package, child)
                for alias in child.names:
                    submodule = f"{target}.{alias.name}"
                    found.append((submodule if submodule in known else target, local))
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                continue  # imports for annotations only: no runtime edge
            visit(child, inner)

    visit(tree, False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components with more than one node are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def report() -> dict[str, object]:
    modules: dict[str, Path] = {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}
    module_graph: dict[str, set[str]] = defaultdict(set)
    package_graph: dict[str, set[str]] = defaultdict(set)
    local_imports: dict[str, int] = defaultdict(int)
    local_internal = 0
    functions: list[tuple[int, str]] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        seen_local: set[int] = set()
        for target, _local in imports_of(tree, name, path.name == "__init__.py", set(modules)):
            internal = target in modules
            if internal and target != name:
                module_graph[name].add(target)
                if layer_of(target) != layer_of(name):
                    package_graph[layer_of(name)].add(layer_of(target))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                functions.append((length, f"{name}:{node.name}"))
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)) and id(inner) not in seen_local:
                        seen_local.add(id(inner))
                        top = (
                            inner.names[0].name
                            if isinstance(inner, ast.Import)
                            else resolve(name, path.name == "__init__.py", inner)
                        )
                        local_imports[top.split(".")[0] if not top.startswith(PACKAGE) else PACKAGE] += 1
                        local_internal += top.startswith(PACKAGE)
    functions.sort(reverse=True)
    return {
        "modules": len(modules),
        "function_local_imports": sum(local_imports.values()),
        "function_local_imports_by_target": dict(sorted(local_imports.items(), key=lambda kv: -kv[1])),
        "module_cycles": strongly_connected(module_graph),
        "package_cycles": strongly_connected(package_graph),
        "longest_functions": [{"lines": n, "function": f} for n, f in functions[:10]],
        "functions_over_60_lines": sum(1 for n, _ in functions if n > 60),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    args = parser.parse_args()
    data = report()
    if args.json:
        print(json.dumps(data, indent=2))
        return
    print(f"modules: {data['modules']}")
    print(f"function-local imports: {data['function_local_imports']} {data['function_local_imports_by_target']}")
    module_cycles = data["module_cycles"]
    assert isinstance(module_cycles, list)
    print(
        f"module import cycles: {len(module_cycles)} (largest {max((len(c) for c in module_cycles), default=0)} modules)"
    )
    print(f"package import cycles: {data['package_cycles']}")
    print(f"functions over 60 lines: {data['functions_over_60_lines']}")
    for entry in data["longest_functions"]:  # type: ignore[attr-defined]
        print(f"  {entry['lines']:4d}  {entry['function']}")


if __name__ == "__main__":
    main()
