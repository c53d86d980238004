"""The layering as tests: which part of kitekit may import which, and no circle anywhere.

Every import counts, wherever it is written: at the top, inside a function, under ``TYPE_CHECKING``. An
import made late still ties two modules together (a function-level import is a circle waiting for its first
call; a type-only one is a circle for every reader). The floors, from the bottom::

    ground floor   errors clock markethours files redact paths lazy sessionclock: import nothing above
    wire/          Kite's protocol, once, shared by both sides
    engine/        the pure matching engine: the ground floor and wire/ only
    client side    rest/ session/ instruments/ quotes history/ ticker/ orders/ monitor config | sim/
    brokers/       the broker-neutral interfaces, over the client side; nothing below imports them
    cli/           the command: anything
    the face       kitekit/__init__: get_kite() and candles(); nothing inside the package imports it

``sim/`` and the client side never import each other; only the CLI's wiring of the embedded simulator does.
Each rule is also run on a graph with one forbidden import added, so none of them can pass by accident.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

Graph = Mapping[str, frozenset[str] | set[str]]

#: The modules at the root that everything may build on.
GROUND = frozenset({"errors", "clock", "markethours", "files", "redact", "paths", "lazy", "sessionclock"})
#: What both the simulator and the client side may import: the protocol, the matching engine, and the options
#: maths (pure numpy, no I/O, no clock), with which the simulator prices the options the analytics invert.
SHARED = GROUND | {"wire", "engine", "options"}
#: The CLI's wiring of the embedded simulator: the client side's only way into sim/.
SIM_WIRING = frozenset({"kitekit.cli.embedded", "kitekit.cli.library", "kitekit.cli.sim_cmd"})
ROOT = "kitekit"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.joinpath("kitekit").rglob("*.py")}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Return every kitekit module ``path`` imports anywhere in it.

    ``from package import name`` depends on the submodule when ``name`` is one, else on the package itself
    (``from kitekit import redact`` is the module ``kitekit.redact``; ``from kitekit import get_kite`` is
    the root).
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            submodules = {f"{base}.{a.name}" for a in node.names} & known
            if len(submodules) < len(node.names):
                found.add(base)
            found |= submodules
    return {m for m in found if m in known and m != name}


@functools.cache
def graph() -> Mapping[str, frozenset[str]]:
    """Return each kitekit module's direct imports of other kitekit modules (read once per run)."""
    found = modules()
    known = set(found)
    return {name: frozenset(imports_of(path, name, known)) for name, path in found.items()}


def with_packages(edges: Graph) -> dict[str, set[str]]:
    """Return ``edges`` plus the packages each import initialises first (importing a.b.c runs a/ and a/b/)."""
    full: dict[str, set[str]] = {}
    for name, targets in edges.items():
        parents = {".".join(t.split(".")[:i]) for t in targets for i in range(2, len(t.split(".")))}
        inits = {p for p in parents if p in edges and not name.startswith(p + ".")}
        full[name] = (set(targets) | inits) - {name}
    return full


def find_cycle(edges: Graph) -> list[str] | None:
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


def area(module: str) -> str:
    """Return the part of kitekit a module belongs to: ``sim``, ``wire``, ``clock``…, or the root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def pairs(edges: Graph) -> Iterator[tuple[str, str]]:
    for name in sorted(edges):
        for target in sorted(edges[name]):
            yield name, target


def client_imports_sim(edges: Graph) -> list[str]:
    return [
        f"{a} -> {b}"
        for a, b in pairs(edges)
        if area(a) not in SHARED | {"sim"} and a not in SIM_WIRING and area(b) == "sim"
    ]


def sim_imports_client(edges: Graph) -> list[str]:
    return [f"{a} -> {b}" for a, b in pairs(edges) if area(a) == "sim" and area(b) not in SHARED | {"sim"}]


def ground_imports_above(edges: Graph) -> list[str]:
    return [f"{a} -> {b}" for a, b in pairs(edges) if area(a) in GROUND and area(b) not in GROUND]


def wire_imports_above(edges: Graph) -> list[str]:
    return [f"{a} -> {b}" for a, b in pairs(edges) if area(a) == "wire" and area(b) not in GROUND | {"wire"}]


def engine_imports_above(edges: Graph) -> list[str]:
    allowed = GROUND | {"wire", "engine"}
    return [f"{a} -> {b}" for a, b in pairs(edges) if area(a) == "engine" and area(b) not in allowed]


#: The parts that sit beside ``brokers/`` or above it: everything else lies below it and must not import it.
ABOVE_BROKERS = frozenset({"brokers", "cli", "runner", "web", "dashboard", ROOT})


def below_imports_brokers(edges: Graph) -> list[str]:
    return [f"{a} -> {b}" for a, b in pairs(edges) if area(a) not in ABOVE_BROKERS and area(b) == "brokers"]


def imports_the_face(edges: Graph) -> list[str]:
    return [f"{a} -> {b}" for a, b in pairs(edges) if a != ROOT and b == ROOT]


def cycles(edges: Graph) -> list[str]:
    cycle = find_cycle(with_packages(edges))
    return [" -> ".join(cycle)] if cycle else []


Rule = Callable[[Graph], list[str]]

#: Each rule, and one import that breaks it (added to the real graph, it must be reported).
RULES: dict[str, tuple[Rule, str, str]] = {
    "client side imports sim/": (client_imports_sim, "kitekit.quotes", "kitekit.sim.server"),
    "sim/ imports the client side": (sim_imports_client, "kitekit.sim.exchange", "kitekit.orders.model"),
    "ground floor imports above it": (ground_imports_above, "kitekit.clock", "kitekit.wire.formats"),
    "wire/ imports above it": (wire_imports_above, "kitekit.wire.formats", "kitekit.engine.order"),
    "engine/ imports above it": (engine_imports_above, "kitekit.engine.matching", "kitekit.rest.retry"),
    "package imports the face": (imports_the_face, "kitekit.history.client", ROOT),
    "a part below brokers/ imports it": (below_imports_brokers, "kitekit.orders.factory", "kitekit.brokers.model"),
    "import cycle": (cycles, "kitekit.wire.formats", "kitekit.orders.model"),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_no_module_breaks_the_layering(rule: str) -> None:
    check, _, _ = RULES[rule]
    assert check(graph()) == []


@pytest.mark.parametrize("rule", list(RULES))
def test_each_rule_reports_a_forbidden_import_added_to_the_real_graph(rule: str) -> None:
    check, source, target = RULES[rule]
    edges = graph()
    assert source in edges and target in edges, "the example names modules that no longer exist"
    broken = {**edges, source: edges[source] | {target}}
    assert len(check(broken)) > len(check(edges))


def test_imports_inside_functions_and_for_the_type_checker_count() -> None:
    edges = graph()
    assert "kitekit.orders.paper" in edges["kitekit.orders.factory"]  # inside broker()
    assert "kitekit.cli.library" in edges[ROOT]  # inside get_kite()
    assert "kitekit.sim.http.state" in edges["kitekit.sim.http.orders"]  # under TYPE_CHECKING only


def test_a_submodule_imported_from_its_package_is_the_submodule_and_a_name_is_the_package() -> None:
    edges = graph()
    assert "kitekit.redact" in edges["kitekit.cli.main"] and ROOT not in edges["kitekit.cli.main"]
    assert "kitekit.sim.http.admin" in edges["kitekit.sim.http.app"]


def test_the_graph_checker_finds_a_circle_when_there_is_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_cli_commands_do_not_import_the_main_module_they_are_registered_in() -> None:
    edges = graph()
    entry = {"kitekit.cli", "kitekit.cli.main", "kitekit.cli.__main__"}  # the entry points run main, as they should
    commands = [m for m in edges if m.startswith("kitekit.cli.") and m not in entry]
    assert commands and not [m for m in commands if "kitekit.cli.main" in edges[m]]
