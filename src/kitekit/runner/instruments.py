"""A fixed set of instruments with the store's lookups: for grids (sent to worker processes) and synthetic data."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kitekit.errors import UnknownInstrumentError
from kitekit.wire.instruments_csv import Instrument

__all__ = ["StaticInstruments"]


class StaticInstruments:
    """The instruments a run needs, looked up as the instrument store looks them up (picklable).

    Args:
        instruments: the instruments (``InstrumentStore.instrument(key)`` of each, or made up ones).
    """

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self.by_key = {i.key: i for i in instruments}
        self.by_token = {i.instrument_token: i for i in self.by_key.values()}
        self.by_symbol = {i.tradingsymbol: i for i in self.by_key.values()}

    @classmethod
    def of(cls, store: Any, keys: Iterable[str]) -> StaticInstruments:
        """Return the instruments ``keys`` name, looked up in ``store`` (an ``InstrumentStore``)."""
        return cls(store.instrument(k) for k in keys)

    def instrument(self, query: str | int) -> Instrument:
        """Return the instrument a key, symbol or token names.

        Raises:
            UnknownInstrumentError: none of them.
        """
        found = None
        if isinstance(query, int) or (isinstance(query, str) and query.isdigit()):
            found = self.by_token.get(int(query))
        else:
            found = self.by_key.get(query) or self.by_symbol.get(query.split(":", 1)[-1])
        if found is None:
            raise UnknownInstrumentError(str(query), [])
        return found

    def key(self, query: str | int) -> str:
        """Return the ``EXCHANGE:TRADINGSYMBOL`` of a key, symbol or token."""
        return self.instrument(query).key

    def token(self, query: str | int) -> int:
        """Return the instrument token of a key, symbol or token."""
        return self.instrument(query).instrument_token
