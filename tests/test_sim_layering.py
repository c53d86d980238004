"""The simulator's import rules: it shares only ``wire/`` and the foundations with the client side."""

from __future__ import annotations

import ast
from pathlib import Path

import kitekit.sim

SIM = Path(kitekit.sim.__file__).parent
# What sim/ may import from kitekit: itself, the shared protocol, the matching engine (shared with the paper
# broker, as the house style allows), foundations with no I/O at import, and the options maths (pure numpy,
# no I/O, no clock): the simulator prices its options with the very functions the analytics invert.
ALLOWED = {"sim", "wire", "engine", "clock", "sessionclock", "markethours", "files", "errors", "options"}
# Where Starlette may appear: the HTTP edge only.
STARLETTE_OK = {"http"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "kitekit":
                found.update(f"kitekit.{alias.name}" for alias in node.names)
    return found


def test_the_simulator_never_imports_the_client_side() -> None:
    offenders = {
        f"{path.relative_to(SIM)}: {name}"
        for path in SIM.rglob("*.py")
        for name in _imports(path)
        if name.startswith("kitekit.") and name.split(".")[1] not in ALLOWED
    }
    assert not offenders


def test_starlette_stays_at_the_http_edge() -> None:
    offenders = {
        str(path.relative_to(SIM))
        for path in SIM.rglob("*.py")
        if path.relative_to(SIM).parts[0] not in STARLETTE_OK
        and any(name.split(".")[0] == "starlette" for name in _imports(path))
    }
    assert not offenders
