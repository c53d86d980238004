"""Where Starlette may appear in the simulator: its HTTP edge only.

Which parts of kitekit the simulator may import at all is ``tests/test_import_graph.py``'s.
"""

from __future__ import annotations

import ast
from pathlib import Path

import kitekit.sim

SIM = Path(kitekit.sim.__file__).parent
# Where Starlette may appear: the HTTP edge only, Kite's (``sim/http``) and each other broker's (``sim/upstox/http``).
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


def test_starlette_stays_at_the_http_edge() -> None:
    offenders = {
        str(path.relative_to(SIM))
        for path in SIM.rglob("*.py")
        if not STARLETTE_OK & set(path.relative_to(SIM).parts[:2])
        and any(name.split(".")[0] == "starlette" for name in _imports(path))
    }
    assert not offenders
