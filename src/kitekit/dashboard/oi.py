"""The option chain page's base for the change in OI: each contract's open interest at the previous close.

Kite's quote has the open interest now and the day's high and low, not a base to change from; the previous
session's close comes from a day candle per contract (see :func:`kitekit.dashboard.market.chain_view`), so the
dashboard asks once a day per contract and keeps the answers here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date

__all__ = ["PreviousOi"]


class PreviousOi:
    """Each option contract's open interest at the previous session's close, for the day it was asked on.

    Fetched once a contract a day (a new day starts afresh); a contract with no candle then (listed that day) is
    remembered as having none, so it is not asked again.
    """

    def __init__(self) -> None:
        self.day: date | None = None
        self._oi: dict[int, float | None] = {}
        self._lock = threading.Lock()

    def values(self, day: date) -> dict[int, float]:
        """Return the closing OI known for ``day``'s chain, by token."""
        with self._lock:
            if self.day != day:
                return {}
            return {t: v for t, v in self._oi.items() if v is not None}

    def missing(self, day: date, tokens: list[int]) -> list[int]:
        """Return the tokens whose previous close was not looked up yet on ``day``."""
        with self._lock:
            if self.day != day:
                return list(tokens)
            return [t for t in tokens if t not in self._oi]

    def fetch(self, day: date, tokens: list[int], get: Callable[[list[int]], dict[int, float]]) -> None:
        """Look up the missing ones of ``tokens`` with ``get`` and keep them."""
        missing = self.missing(day, tokens)
        if not missing:
            return
        found = get(missing)
        with self._lock:
            if self.day != day:
                self.day, self._oi = day, {}
            for token in missing:
                self._oi[token] = found.get(token)
