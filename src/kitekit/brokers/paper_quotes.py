"""Any broker's quotes as the paper broker's quote source: how paper fills are priced by another broker's data.

The paper broker asks its source for ``/quote`` items by the order side's instrument tokens. In the mixed
mode (data from one broker, orders on another) those tokens are the order broker's: each is turned into the
neutral identity through the order broker's instruments, quoted on the data broker, and answered as the item
the engine reads (:meth:`kitekit.brokers.model.Quote.market_quote`), under the token it was asked by.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kitekit.brokers.instruments import RuleFacts
from kitekit.brokers.market import QuoteService
from kitekit.brokers.model import Quote

__all__ = ["NeutralQuoteSource"]


class NeutralQuoteSource:
    """A paper quote source (``quote(*keys)`` with Kite's items) over any broker's :class:`QuoteService`.

    Args:
        quotes: the data broker's quotes.
        facts: the order broker's instruments (they name the tokens the paper broker asks by).

    The source serves no candles (``serves_candles``): paper judges resting orders on quotes and ticks here.
    """

    serves_candles = False

    def __init__(self, quotes: QuoteService, facts: RuleFacts) -> None:
        self.quotes = quotes
        self.facts = facts

    def quote(self, *instruments: Any) -> Mapping[Any, Mapping[str, Any]]:
        """Return a ``/quote`` item per instrument that got data, keyed as asked (tokens, or neutral keys).

        Route: the data broker's full-quote call (batched and paced by it).
        """
        tokens: dict[Any, int] = {}
        keys: dict[Any, str] = {}
        for asked in instruments:
            record = self.facts.instrument(int(asked) if str(asked).isdigit() else str(asked))
            tokens[asked] = record.instrument_token
            keys[asked] = record.key
        got = self.quotes.quote(*dict.fromkeys(keys.values()), strict=False)
        return {asked: _item(got[key], tokens[asked]) for asked, key in keys.items() if key in got}


def _item(quote: Quote, token: int) -> dict[str, Any]:
    item = quote.market_quote(token).as_kite()
    if quote.ohlc is not None:
        # The paper broker reads the day's range too (it spares fetching candles when no resting price is in it).
        ohlc = quote.ohlc
        item["ohlc"] = {"open": ohlc.open, "high": ohlc.high, "low": ohlc.low, "close": ohlc.close}
    item["volume"] = quote.volume
    return item
