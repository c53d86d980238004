"""The ``Authorization`` header, written once in ``wire/`` for the client and the simulator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kitekit
from kitekit.wire.auth import authorization, parse_authorization


def test_the_header_is_kites_token_scheme_and_reads_back() -> None:
    header = authorization("kitekit_sim", "a" * 32)
    assert header == f"token kitekit_sim:{'a' * 32}"  # §3, as the official SDK sends it
    assert parse_authorization(header) == ("kitekit_sim", "a" * 32)


def test_the_access_token_is_everything_after_the_first_colon() -> None:
    assert parse_authorization("token key:to:ken") == ("key", "to:ken")


@pytest.mark.parametrize("header", [None, "", "token nonsense", "Bearer key:token", "tokenkey:token"])
def test_a_header_not_in_kites_form_reads_as_none(header: str | None) -> None:
    assert parse_authorization(header) is None


def test_no_module_but_wire_auth_writes_or_reads_the_header_itself() -> None:
    src = Path(kitekit.__file__).parent
    offenders = [
        f"{path.relative_to(src)}:{node.lineno}"
        for path in src.rglob("*.py")
        if path != src / "wire" / "auth.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("token ")
    ]
    assert not offenders
