"""Kite's records, quote items and tick dicts turned into the neutral types, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kitekit.brokers.instruments import neutral_instrument
from kitekit.brokers.model import BrokerInstrument, Ohlc, Quote, Tick, depth_levels
from kitekit.clock import IST
from kitekit.wire.instruments_csv import Instrument

__all__ = ["BROKER", "instrument_of", "quote_of", "tick_of"]

BROKER = "kite"

#: Kite's dump lists indices as EQ in the INDICES segment.


def instrument_of(record: Instrument) -> BrokerInstrument:
    """Return a row of Kite's dump as a neutral instrument (its key is Kite's own ``EXCHANGE:TRADINGSYMBOL``)."""
    return neutral_instrument(record, BROKER, str(record.instrument_token))


def _ist(value: Any) -> datetime | None:
    """Return a time of Kite's REST answer as an aware IST datetime (the SDK leaves Kite's IST times naive)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=IST)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value).replace(tzinfo=IST)
    return None


def _local(value: Any) -> datetime | None:
    """Return a tick's time as an aware IST datetime: the SDK's parser makes them in the machine's local zone."""
    if isinstance(value, datetime):
        return value.astimezone(IST)  # a naive one is read as local time, as the parser made it
    return None


def _ohlc(item: Mapping[str, Any]) -> Ohlc | None:
    ohlc = item.get("ohlc")
    if not ohlc:
        return None
    return Ohlc(float(ohlc["open"]), float(ohlc["high"]), float(ohlc["low"]), float(ohlc["close"]))


def quote_of(key: str, item: Mapping[str, Any]) -> Quote:
    """Return one item of Kite's ``/quote``, ``/quote/ohlc`` or ``/quote/ltp`` answer as a neutral quote."""
    depth = item.get("depth") or {}
    return Quote(
        key=key,
        last_price=float(item["last_price"]),
        timestamp=_ist(item.get("timestamp")),
        ohlc=_ohlc(item),
        volume=int(item.get("volume") or 0),
        average_price=float(item.get("average_price") or 0.0),
        oi=float(item.get("oi") or 0.0),
        bids=depth_levels(depth.get("buy", ())),
        asks=depth_levels(depth.get("sell", ())),
        lower_circuit_limit=float(item.get("lower_circuit_limit") or 0.0),
        upper_circuit_limit=float(item.get("upper_circuit_limit") or 0.0),
        last_trade_time=_ist(item.get("last_trade_time")),
        raw=item,
    )


def tick_of(key: str, tick: Mapping[str, Any]) -> Tick:
    """Return one of the SDK's tick dicts (as :class:`~kitekit.ticker.Ticker` delivers them) as a neutral tick."""
    depth = tick.get("depth") or {}
    return Tick(
        key=key,
        last_price=float(tick["last_price"]),
        mode=str(tick.get("mode", "")),
        timestamp=_local(tick.get("exchange_timestamp")) or _local(tick.get("last_trade_time")),
        volume=int(tick.get("volume_traded") or 0),
        last_quantity=int(tick.get("last_traded_quantity") or 0),
        average_price=float(tick.get("average_traded_price") or 0.0),
        oi=float(tick.get("oi") or 0.0),
        ohlc=_ohlc(tick),
        bids=depth_levels(depth.get("buy", ())),
        asks=depth_levels(depth.get("sell", ())),
        raw=tick,
    )
