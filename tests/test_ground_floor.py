"""The ground floor imports nothing above it: ``errors`` and ``redact`` stand on the standard library alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "kitekit"


def kitekit_imports(path: Path) -> set[str]:
    """Return every kitekit module ``path`` names in an import: at the top, in functions, for typing alike."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "kitekit")
        elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "kitekit"):
            found.add("." * node.level + (node.module or ""))
    return found


@pytest.mark.parametrize("module", ["errors", "redact"])
def test_a_ground_floor_module_imports_nothing_of_kitekit(module: str) -> None:
    assert kitekit_imports(SRC / f"{module}.py") == set()


def test_the_check_sees_an_import_hidden_in_a_function_or_under_type_checking(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kitekit.wire import envelope\n"
        "def f():\n    import kitekit.wire.routes\n"
    )
    assert kitekit_imports(source) == {"kitekit.wire", "kitekit.wire.routes"}
