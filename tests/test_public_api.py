"""The public names of ``kitekit``: pinned, each resolving, and ``import kitekit`` staying cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import kitekit

PUBLIC = [
    "CandleStore",
    "History",
    "Instrument",
    "InstrumentStore",
    "MarketData",
    "Monitor",
    "Quotes",
    "SessionManager",
    "Settings",
    "Ticker",
    "candles",
    "get_kite",
    "load_settings",
]


def test_the_public_names_are_pinned_and_sorted() -> None:
    assert kitekit.__all__ == PUBLIC == sorted(PUBLIC)


def test_every_public_name_resolves_to_something_documented() -> None:
    for name in kitekit.__all__:
        value = getattr(kitekit, name)
        assert value.__doc__, name
        assert value.__module__.split(".")[0] == "kitekit", (name, value.__module__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        kitekit.NoSuchThing  # noqa: B018


def test_import_kitekit_loads_none_of_the_heavy_modules() -> None:
    probe = "import sys, kitekit; print(sorted(m for m in ('pandas', 'numpy', 'kiteconnect') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
