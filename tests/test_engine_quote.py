"""The engine's market input (``MarketQuote.from_kite``) and its matching primitives, from plain values."""

from __future__ import annotations

from datetime import datetime

import pytest

from kitekit.clock import IST
from kitekit.engine import InstrumentSpec, Level, Liquidity, MarketQuote
from kitekit.engine.matching import auto_protection, protection_cap, stop_triggered
from kitekit.wire.order_rules import on_tick
from tests.engine_helpers import INFY, NIFTY_CE, NOW

WIRE_ITEM = {
    "instrument_token": 408065,
    "timestamp": "2026-11-27 11:00:00",
    "last_trade_time": "2026-11-27 10:59:59",
    "last_price": 1500.0,
    "lower_circuit_limit": 1350.0,
    "upper_circuit_limit": 1650.0,
    "ohlc": {"open": 1490.0, "high": 1510.0, "low": 1485.0, "close": 1492.5},
    "depth": {
        "buy": [{"price": 1499.95, "quantity": 40, "orders": 3}] + [{"price": 0, "quantity": 0, "orders": 0}] * 4,
        "sell": [{"price": 1500.0, "quantity": 25, "orders": 2}, {"price": 1500.05, "quantity": 60, "orders": 4}]
        + [{"price": 0, "quantity": 0, "orders": 0}] * 3,
    },
}


def test_a_quote_item_as_kite_sends_it_becomes_a_market_quote_without_the_empty_levels() -> None:
    q = MarketQuote.from_kite(WIRE_ITEM)
    assert q.timestamp == datetime(2026, 11, 27, 11, 0, tzinfo=IST)
    assert q.bids == (Level(1499.95, 40, 3),)
    assert q.asks == (Level(1500.0, 25, 2), Level(1500.05, 60, 4))
    assert (q.lower_circuit_limit, q.upper_circuit_limit, q.close) == (1350.0, 1650.0, 1492.5)


def test_a_quote_item_as_the_sdk_returns_it_reads_its_naive_timestamp_as_ist() -> None:
    sdk_item = {**WIRE_ITEM, "timestamp": datetime(2026, 11, 27, 11, 0)}  # noqa: DTZ001 - the SDK makes it naive
    assert MarketQuote.from_kite(sdk_item) == MarketQuote.from_kite(WIRE_ITEM)


def test_an_ltp_item_makes_a_quote_without_depth_given_its_token_and_time() -> None:
    q = MarketQuote.from_kite({"last_price": 10.5, "last_trade_time": "2026-11-27 11:00:00"}, instrument_token=5)
    assert (q.instrument_token, q.bids, q.asks, q.upper_circuit_limit) == (5, (), (), 0.0)
    with pytest.raises(ValueError, match="timestamp"):
        MarketQuote.from_kite({"instrument_token": 5, "last_price": 10.5})
    with pytest.raises(ValueError, match="aware"):
        MarketQuote(5, 1.0, datetime(2026, 11, 27, 11, 0))  # noqa: DTZ001 - the point of the test


def test_as_kite_and_from_kite_round_trip() -> None:
    q = MarketQuote.from_kite(WIRE_ITEM)
    assert MarketQuote.from_kite(q.as_kite()) == q


def _book() -> MarketQuote:
    return MarketQuote(1, 100.0, NOW, (Level(99.95, 10), Level(99.9, 10)), (Level(100.0, 10), Level(100.05, 10)))


def test_liquidity_walks_levels_up_to_the_limit_and_remembers_what_it_took() -> None:
    liquidity = Liquidity()
    book = _book()
    assert liquidity.fill(book, True, 15, None) == [(100.0, 10), (100.05, 5)]
    assert liquidity.fill(book, True, 15, None) == [(100.05, 5)]
    assert liquidity.fill(book, True, 15, 100.0) == []
    assert liquidity.fill(book, False, 25, 99.9) == [(99.95, 10), (99.9, 10)]


def test_a_new_quote_is_a_fresh_book() -> None:
    liquidity = Liquidity()
    liquidity.fill(_book(), True, 20, None)
    later = MarketQuote(1, 100.0, NOW.replace(minute=1), (), (Level(100.0, 10),))
    assert liquidity.fill(later, True, 5, None) == [(100.0, 5)]


def test_fills_come_in_whole_lots() -> None:
    book = MarketQuote(1, 100.0, NOW, (), (Level(100.0, 110), Level(100.05, 500)))
    assert Liquidity().fill(book, True, 200, None, lot=75) == [(100.0, 75), (100.05, 125 - 125 % 75)]


def test_stops_fire_at_or_beyond_their_trigger() -> None:
    assert stop_triggered(True, 100.0, 100.0) and not stop_triggered(True, 100.0, 99.95)
    assert stop_triggered(False, 100.0, 99.0) and not stop_triggered(False, 100.0, 100.05)


def test_protection_caps_round_inwards_to_the_tick_and_stay_inside_the_circuits() -> None:
    book = MarketQuote(1, 100.0, NOW, upper_circuit_limit=101.5, lower_circuit_limit=95.0)
    assert protection_cap(True, 100.0, 1.03, book, 0.05) == 101.0
    assert protection_cap(False, 100.0, 1.03, book, 0.05) == 99.0
    assert protection_cap(True, 100.0, 3, book, 0.05) == 101.5  # the upper circuit
    assert protection_cap(False, 100.0, 10, book, 0.05) == 95.0


def test_auto_protection_is_wider_for_cheap_instruments_and_options() -> None:
    stock = InstrumentSpec(1, "NSE", "X")
    assert [auto_protection(stock, p) for p in (5, 50, 200, 1500)] == [5.0, 2.0, 1.0, 0.5]
    assert auto_protection(NIFTY_CE, 50) == 5.0 and auto_protection(INFY, 50) == 2.0


def test_tick_multiples_tolerate_float_noise() -> None:
    assert on_tick(1500.05, 0.05) and on_tick(0.1 + 0.2, 0.05) and not on_tick(1500.03, 0.05)
