"""Kite's :class:`~kitekit.instruments.InstrumentStore` behind the neutral :class:`BrokerInstruments`."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from kitekit.brokers.instruments import CHAIN_COLUMNS
from kitekit.brokers.kite.convert import BROKER, instrument_of
from kitekit.brokers.model import BrokerInstrument

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.instruments import InstrumentStore

__all__ = ["KiteInstruments"]


class KiteInstruments:
    """The neutral instrument store over Kite's; the neutral identity is Kite's own ``EXCHANGE:TRADINGSYMBOL``.

    Args:
        store: the instrument store (its cache, clock and downloads are unchanged).
    """

    broker = BROKER

    def __init__(self, store: InstrumentStore) -> None:
        self.store = store

    def load(self) -> KiteInstruments:
        """Load the day's dump (``GET /instruments`` only when the cache lacks it); return self."""
        self.store.load()
        return self

    def sync(self, force: bool = False) -> bool:
        """Download the day's dump unless cached; return True if it did. Route: ``GET /instruments``."""
        return self.store.sync(force)

    def instrument(self, query: str | int) -> BrokerInstrument:
        """Return the instrument ``query`` names: a token, ``EXCHANGE:SYMBOL``, an index name or a symbol."""
        return instrument_of(self.store.instrument(query))

    def key(self, query: str | int) -> str:
        """Return ``EXCHANGE:TRADINGSYMBOL`` of ``query`` (from the index alone)."""
        return self.store.key(query)

    def broker_key(self, query: str | int) -> str:
        """Return the instrument token of ``query``, as text: the key Kite's feed and candles take."""
        return str(self.store.token(query))

    def search(self, text: str, limit: int = 10) -> list[BrokerInstrument]:
        """Return instruments whose symbol or name contains ``text``, best first."""
        return [instrument_of(i) for i in self.store.search(text, limit)]

    def futures(self, underlying: str, exchange: str | None = None) -> list[BrokerInstrument]:
        """Return the live futures of ``underlying``, nearest first."""
        return [instrument_of(i) for i in self.store.futures(underlying, exchange)]

    def nearest_future(self, underlying: str, n: int = 0, exchange: str | None = None) -> BrokerInstrument:
        """Return the ``n``-th nearest live future of ``underlying``."""
        return instrument_of(self.store.nearest_future(underlying, n, exchange))

    def expiries(self, underlying: str, exchange: str | None = None) -> list[date]:
        """Return the option expiries of ``underlying`` from today on, nearest first."""
        return self.store.expiries(underlying, exchange)

    def option_chain(
        self, underlying: str, expiry: date | str | None = None, exchange: str | None = None
    ) -> pd.DataFrame:
        """Return one expiry's chain with the neutral columns (:data:`~kitekit.brokers.instruments.CHAIN_COLUMNS`)."""
        import pandas as pd

        chain = self.store.option_chain(underlying, expiry, exchange)
        # The chain lists symbols without their exchange: every contract of it is on one, read off any of them.
        tokens = pd.concat([chain["ce_token"].dropna(), chain["pe_token"].dropna()])
        venue = self.store.instrument(int(tokens.iloc[0])).exchange if len(tokens) else exchange or ""

        def key(symbol: object) -> str | None:
            return f"{venue}:{symbol}" if isinstance(symbol, str) and symbol else None

        def text(token: object) -> str | None:
            return None if pd.isna(token) else str(int(token))  # type: ignore[call-overload]

        out = chain.assign(
            ce_key=chain["ce_symbol"].map(key),
            pe_key=chain["pe_symbol"].map(key),
            ce_broker_key=chain["ce_token"].astype(object).map(text),
            pe_broker_key=chain["pe_token"].astype(object).map(text),
        )
        return out.loc[:, list(CHAIN_COLUMNS)]

    def rule_facts(self) -> InstrumentStore:
        """Return the store itself: the pre-trade rules were written against its records."""
        return self.store
