"""Kite's instruments dump, cached per trading day and looked up in microseconds: :class:`InstrumentStore`.

The package's parts, each with one job: ``model`` (a loaded day's dump), ``index`` (row lookups and their
binary format), ``cache`` (day files on disk), ``download`` (the raw CSV), ``resolve`` (names, aliases,
exchange preferences, search), ``derivatives`` (futures and option chains), ``tokens`` (``tokens.json``) and
``store`` (the facade users import). Names load their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitekit.lazy import lazy_getattr

if TYPE_CHECKING:
    from kitekit.instruments.download import Progress, fetch_dump
    from kitekit.instruments.resolve import ALIASES
    from kitekit.instruments.store import InstrumentStore
    from kitekit.wire.instruments_csv import Instrument

__all__ = ["ALIASES", "Instrument", "InstrumentStore", "Progress", "fetch_dump"]

_LAZY = {
    "ALIASES": "kitekit.instruments.resolve",
    "Instrument": "kitekit.wire.instruments_csv",
    "InstrumentStore": "kitekit.instruments.store",
    "Progress": "kitekit.instruments.download",
    "fetch_dump": "kitekit.instruments.download",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
