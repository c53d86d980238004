"""The import graph: no circle among kitekit's modules, and the CLI's commands registered from main only."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_at_import_time(path: Path, name: str, modules: set[str]) -> set[str]:
    """Return the kitekit modules ``path`` imports when it is imported (not inside functions, not for typing).

    ``from package import submodule`` inside that package depends on the submodule, not on the package
    being initialised: Python resolves it even mid-way through the package's ``__init__``.
    """
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue  # only for the type checker
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue  # runs later, if at all
        for sub in ast.walk(node):
            if isinstance(sub, ast.Import):
                found.update(a.name for a in sub.names if a.name.startswith("kitekit"))
            elif isinstance(sub, ast.ImportFrom) and sub.module and sub.module.startswith("kitekit"):
                submodules = {f"{sub.module}.{a.name}" for a in sub.names} & modules
                inside = name.startswith(sub.module + ".")
                if not (inside and len(submodules) == len(sub.names)):
                    found.add(sub.module)
                found.update(submodules)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SRC.joinpath("kitekit").rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {t for t in imports_at_import_time(path, name, set(modules)) if t in modules and t != name}
        # Importing a.b.c runs a/__init__ and a/b/__init__ first.
        parents = {".".join(t.split(".")[:i]) for t in targets for i in range(2, len(t.split(".")))}
        edges[name] = targets | {p for p in parents if p in modules and p != name and not name.startswith(p + ".")}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_of_kitekit_imports_itself_back_through_others() -> None:
    assert find_cycle(graph()) is None


def test_the_graph_checker_finds_a_circle_when_there_is_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_cli_commands_do_not_import_the_main_module_they_are_registered_in() -> None:
    edges = graph()
    entry = {"kitekit.cli.main", "kitekit.cli.__main__"}  # `python -m kitekit.cli` runs main, as it should
    commands = [m for m in edges if m.startswith("kitekit.cli.") and m not in entry]
    assert commands and not [m for m in commands if "kitekit.cli.main" in edges[m]]
