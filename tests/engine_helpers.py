"""Instruments, quotes and shortcuts shared by the engine tests (a Friday mid-session in November 2026)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from kitekit.clock import IST
from kitekit.engine import Engine, EngineConfig, InstrumentSpec, Level, MarketQuote, resolver_of

#: A trading Friday, mid-session; the next session opens on Monday 2026-11-30.
NOW = datetime(2026, 11, 27, 11, 0, tzinfo=IST)
MONDAY_OPEN = datetime(2026, 11, 30, 9, 15, tzinfo=IST)

INFY = InstrumentSpec(408065, "NSE", "INFY", "NSE", "EQ", 0.05, 1, isin="INE009A01021")
RELIANCE = InstrumentSpec(738561, "NSE", "RELIANCE", "NSE", "EQ", 0.05, 1, isin="INE002A01018")
NIFTY_FUT = InstrumentSpec(
    13238786, "NFO", "NIFTY26DECFUT", "NFO-FUT", "FUT", 0.1, 75, 1800, date(2026, 12, 29), 0.0, "NIFTY"
)
NIFTY_CE = InstrumentSpec(
    13239042, "NFO", "NIFTY26DEC24000CE", "NFO-OPT", "CE", 0.05, 75, 1800, date(2026, 12, 29), 24000.0, "NIFTY"
)
GOLDM = InstrumentSpec(
    53253383, "MCX", "GOLDM26DECFUT", "MCX-FUT", "FUT", 1.0, 1, 0, date(2026, 12, 4), 0.0, "GOLDM", multiplier=10.0
)
NIFTY_INDEX = InstrumentSpec(256265, "NSE", "NIFTY 50", "INDICES", "EQ", 0.05, 1)
SPECS = (INFY, RELIANCE, NIFTY_FUT, NIFTY_CE, GOLDM, NIFTY_INDEX)
RESOLVE = resolver_of(SPECS)


def at(minutes: float = 0, base: datetime = NOW) -> datetime:
    """Return ``base`` plus some minutes."""
    return base + timedelta(minutes=minutes)


def quote(
    spec: InstrumentSpec,
    ltp: float,
    when: datetime = NOW,
    bids: Sequence[tuple[float, int]] = (),
    asks: Sequence[tuple[float, int]] = (),
    lower: float = 0.0,
    upper: float = 0.0,
    close: float = 0.0,
) -> MarketQuote:
    """Return a quote with the given depth (best first)."""
    return MarketQuote(
        spec.instrument_token,
        ltp,
        when,
        tuple(Level(p, q, 1) for p, q in bids),
        tuple(Level(p, q, 1) for p, q in asks),
        lower,
        upper,
        close,
    )


def infy(ltp: float = 1500.0, when: datetime = NOW, size: int = 100, **kw: Any) -> MarketQuote:
    """Return an INFY quote: five levels a side one tick apart, ``size`` shares each, circuits ±10%."""
    bids = [(round(ltp - 0.05 * (i + 1), 2), size) for i in range(5)]
    asks = [(round(ltp + 0.05 * i, 2), size) for i in range(5)]
    kw.setdefault("lower", round(ltp * 0.9, 1))
    kw.setdefault("upper", round(ltp * 1.1, 1))
    kw.setdefault("close", 1490.0)
    return quote(INFY, ltp, when, bids, asks, **kw)


def engine(now: datetime = NOW, **config: Any) -> Engine:
    """Return a fresh account at ``now`` (config overrides as keywords)."""
    return Engine(RESOLVE, now, EngineConfig(**config))


def order(
    spec: InstrumentSpec,
    side: str,
    quantity: int,
    order_type: str = "LIMIT",
    price: float | None = None,
    product: str = "MIS",
    **extra: Any,
) -> dict[str, Any]:
    """Return place-order fields as the SDK sends them (strings)."""
    params = {
        "exchange": spec.exchange,
        "tradingsymbol": spec.tradingsymbol,
        "transaction_type": side,
        "quantity": str(quantity),
        "product": product,
        "order_type": order_type,
    }
    if price is not None:
        params["price"] = str(price)
    if order_type in ("MARKET", "SL-M"):
        params.setdefault("market_protection", "-1")
    params.update({k: str(v) for k, v in extra.items()})
    return params


def statuses(eng: Engine, order_id: str, now: datetime = NOW) -> list[str]:
    """Return the statuses of an order's history, oldest first."""
    return [state["status"] for state in eng.order_history(order_id, now)]


def current(eng: Engine, order_id: str, now: datetime = NOW) -> dict[str, Any]:
    """Return an order as ``GET /orders`` shows it."""
    return next(o for o in eng.orders(now) if o["order_id"] == order_id)
