"""Lazy package namespaces: each public name loads its module on first use, so importing a package stays cheap.

``import kitekit`` must not pull in pandas, numpy or the SDK (which imports Twisted): a command like
``kitekit --help`` would pay for them. Packages declare which module holds each name and install
:func:`lazy_getattr` as their module ``__getattr__`` (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that imports ``names[name]`` and returns its ``name`` when first asked.

    Args:
        package: the package's name, for the error message.
        names: public name -> the module that defines it.
    """

    def lookup(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return lookup
