"""The market model as the matching engine sees it: instrument specs from the day's universe, and quotes.

The engine knows nothing of the simulator; this module translates. A spec comes from a universe row (tick,
lot, expiry, strike, underlying name) with two additions the dump does not carry: a freeze quantity (from
:data:`kitekit.wire.order_terms.FREEZE_QUANTITIES`, the client's table too) and an ISIN. A quote is the
snapshot of the market model at one second, with its five-level book.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import numpy as np

from kitekit.engine import InstrumentSpec, Level, MarketQuote
from kitekit.sim.market import ContractKind, Market, Universe
from kitekit.wire.order_terms import freeze_quantity

__all__ = ["SpecBook", "isin_check_digit", "isin_for", "market_quotes", "spec_at"]

_TYPES = {ContractKind.FUT: "FUT", ContractKind.CE: "CE", ContractKind.PE: "PE"}


def isin_check_digit(body: str) -> str:
    """Return the ISO 6166 check digit of an ISIN's first 11 characters."""
    digits = "".join(str(int(ch, 36)) for ch in body)
    # Luhn over the letters-as-numbers string: double every second digit from the right, starting rightmost.
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return str((10 - total % 10) % 10)


def isin_for(uid: int) -> str:
    """Return the simulated ISIN of an underlying's shares (``INE…A01`` + its check digit).

    The dump carries no ISIN, and holdings need one; NSE and BSE listings of one company share it.
    """
    body = f"INE{uid % 100_000:05d}A01"
    return body + isin_check_digit(body)


def spec_at(uni: Universe, row: int) -> InstrumentSpec:
    """Return the engine's spec of one universe row."""
    kind = ContractKind(int(uni.kind[row]))
    exchange, name = uni.exchange[row], uni.name[row]
    expiry = uni.expiry[row]
    return InstrumentSpec(
        instrument_token=int(uni.token[row]),
        exchange=exchange,
        tradingsymbol=uni.symbol[row],
        segment=uni.segment[row],
        instrument_type=_TYPES.get(kind, "EQ"),
        tick_size=float(uni.tick[row]) or 0.05,
        lot_size=max(int(uni.lot[row]), 1),
        freeze_quantity=freeze_quantity(exchange, uni.symbol[row], name),
        expiry=None if np.isnat(expiry) else expiry.astype(object),
        strike=float(uni.strike[row]),
        name=name,
        isin=isin_for(int(uni.uid[row])) if kind is ContractKind.EQ else "",
    )


class SpecBook:
    """Specs of the instruments listed at the exchange's current moment, built on demand and kept per day.

    ``moment`` is set by the exchange before each engine call, so the engine's resolver sees the universe of
    the dump current at that moment.
    """

    def __init__(self, market: Market) -> None:
        self.market = market
        self.moment: datetime | None = None
        self._day: date | None = None
        self._specs: dict[str, InstrumentSpec | None] = {}

    def universe(self) -> Universe:
        """Return the universe listed at :attr:`moment`.

        Raises:
            RuntimeError: no moment was set.
        """
        if self.moment is None:
            raise RuntimeError("SpecBook.moment must be set before resolving instruments")
        uni = self.market.universe(self.moment)
        if uni.as_of != self._day:
            self._day, self._specs = uni.as_of, {}
        return uni

    def resolve(self, exchange: str, tradingsymbol: str) -> InstrumentSpec | None:
        """Return the spec of ``exchange:tradingsymbol``, or None if it is not listed (the engine's resolver)."""
        uni = self.universe()
        key = f"{exchange}:{tradingsymbol}"
        if key not in self._specs:
            row = uni.by_key.get(key)
            self._specs[key] = None if row is None else spec_at(uni, row)
        return self._specs[key]

    def token_of(self, exchange: str, tradingsymbol: str) -> int | None:
        """Return the instrument token of a listed instrument, or None."""
        row = self.universe().by_key.get(f"{exchange}:{tradingsymbol}")
        return None if row is None else int(self.universe().token[row])


def market_quotes(market: Market, uni: Universe, tokens: Iterable[int], now: datetime) -> list[MarketQuote]:
    """Return the engine's quotes of ``tokens`` at clock time ``now`` (tokens not listed are left out)."""
    rows = [uni.by_token[t] for t in tokens if t in uni.by_token]
    if not rows:
        return []
    snap = market.snapshot(uni, np.array(rows, dtype=np.int64), now)
    book = snap.book()
    moment = snap.point.moment
    cols = [
        a.tolist()
        for a in (snap.tokens, snap.last_price, snap.lower_circuit, snap.upper_circuit, snap.close, snap.average_price)
    ]
    sides = [
        a.tolist()
        for a in (
            book.bid_price,
            book.bid_quantity,
            book.bid_orders,
            book.ask_price,
            book.ask_quantity,
            book.ask_orders,
        )
    ]
    out = []
    for i, (token, ltp, lower, upper, close, average) in enumerate(zip(*cols, strict=True)):
        bp, bq, bo, ap, aq, ao = (side[i] for side in sides)
        bids = tuple(Level(p, q, o) for p, q, o in zip(bp, bq, bo, strict=True) if p > 0 and q > 0)
        asks = tuple(Level(p, q, o) for p, q, o in zip(ap, aq, ao, strict=True) if p > 0 and q > 0)
        out.append(MarketQuote(int(token), ltp, moment, bids, asks, lower, upper, close, average))
    return out
