"""Positions, P&L, funds and holdings after trades, worked out by hand in each test."""

from __future__ import annotations

from datetime import datetime

import pytest

from kitekit.clock import IST
from kitekit.engine import MarketQuote
from kitekit.wire.envelope import ErrorType, RejectionError
from tests.engine_helpers import (
    GOLDM,
    INFY,
    MONDAY_OPEN,
    NIFTY_FUT,
    NOW,
    RELIANCE,
    at,
    engine,
    order,
    quote,
)


def _flat(ltp: float, when: datetime = NOW) -> MarketQuote:
    # One deep level a side at the last price (bid a tick under): fills are easy to work out by hand.
    return quote(INFY, ltp, when, bids=[(ltp - 0.05, 10_000)], asks=[(ltp, 10_000)], close=1490.0)


def test_an_intraday_round_trip_gives_the_positions_pnl_and_cash_worked_out_by_hand() -> None:
    eng = engine()
    eng.on_quotes([_flat(1500.0)], NOW)
    eng.place_order("regular", order(INFY, "BUY", 100, "MARKET"), NOW)  # 100 @ 1500.00
    eng.on_quotes([_flat(1510.05, at(5))], at(5))
    eng.place_order("regular", order(INFY, "SELL", 60, "MARKET"), at(5))  # 60 @ 1510.00 (best bid)
    net = eng.positions(at(5))["net"][0]
    # Bought 100 @ 1500, sold 60 @ 1510: 40 open at 1500, last price 1510.05.
    buy_value, sell_value = 100 * 1500.0, 60 * 1510.0
    assert (net["quantity"], net["average_price"], net["last_price"]) == (40, 1500.0, 1510.05)
    assert net["buy_value"] == buy_value and net["sell_value"] == sell_value
    assert net["value"] == pytest.approx(sell_value - buy_value)  # -59,400
    assert net["realised"] == pytest.approx(60 * 10.0)  # 600
    assert net["pnl"] == pytest.approx(sell_value - buy_value + 40 * 1510.05)  # 1,002
    assert net["unrealised"] == pytest.approx(40 * 10.05)  # 402
    assert net["m2m"] == pytest.approx(net["pnl"])  # nothing carried overnight
    # Charges, Zerodha intraday: buy 150,000 → brokerage 20 (0.03% caps at 45), exchange 4.605, SEBI 0.15,
    # stamp 4.5, GST 18% of 24.755; sell 90,600 → brokerage 20, STT 22.65, exchange 2.78142, SEBI 0.0906.
    buy_charges = 20 + 4.605 + 0.15 + 4.5 + 0.18 * (20 + 4.605 + 0.15)
    sell_charges = 20 + 22.65 + 2.78142 + 0.0906 + 0.18 * (20 + 2.78142 + 0.0906)
    funds = eng.margins(at(5), "equity")
    assert funds["available"]["cash"] == pytest.approx(1_000_000 + 600 - buy_charges - sell_charges)
    assert funds["utilised"]["m2m_realised"] == pytest.approx(600)
    assert funds["utilised"]["exposure"] == pytest.approx(0.2 * 40 * 1500.0)  # MIS margin of what is open
    assert funds["net"] == pytest.approx(funds["available"]["cash"] - 12_000)


def test_selling_first_makes_a_short_position_with_negative_quantity() -> None:
    eng = engine()
    eng.on_quotes([_flat(1500.0)], NOW)
    eng.place_order("regular", order(INFY, "SELL", 50, "MARKET"), NOW)  # 50 @ 1499.95
    eng.on_quotes([_flat(1480.0, at(1))], at(1))
    net = eng.positions(at(1))["net"][0]
    assert (net["quantity"], net["sell_quantity"], net["average_price"]) == (-50, 50, 1499.95)
    assert net["pnl"] == pytest.approx(50 * (1499.95 - 1480.0))
    eng.place_order("regular", order(INFY, "BUY", 50, "MARKET"), at(1))  # 50 @ 1480.00
    closed = eng.positions(at(1))["net"][0]
    assert (closed["quantity"], closed["realised"]) == (0, pytest.approx(50 * 19.95))


def test_a_delivery_buy_becomes_t1_then_a_settled_holding_and_is_paid_at_settlement() -> None:
    eng = engine()
    eng.on_quotes([_flat(1500.0)], NOW)
    eng.place_order("regular", order(INFY, "BUY", 10, "MARKET", product="CNC"), NOW)
    assert eng.positions(NOW)["net"][0]["product"] == "CNC"
    friday = eng.margins(NOW, "equity")
    assert friday["utilised"]["delivery"] == pytest.approx(15_000)  # blocked in full until settlement
    cash_before = friday["available"]["cash"]
    (monday,) = eng.holdings(MONDAY_OPEN)
    assert (monday["quantity"], monday["t1_quantity"], monday["average_price"]) == (0, 10, 1500.0)
    assert eng.positions(MONDAY_OPEN) == {"net": [], "day": []}
    funds = eng.margins(MONDAY_OPEN, "equity")
    assert funds["available"]["cash"] == pytest.approx(cash_before - 15_000)
    assert funds["available"]["opening_balance"] == funds["available"]["cash"]
    (tuesday,) = eng.holdings(MONDAY_OPEN.replace(day=1, month=12))
    assert (tuesday["quantity"], tuesday["t1_quantity"], tuesday["opening_quantity"]) == (10, 0, 10)


def test_selling_a_seeded_holding_uses_it_today_and_credits_the_sale_at_settlement() -> None:
    eng = engine()
    eng.add_holding("NSE", "RELIANCE", 10, 2500.0, NOW)
    eng.on_quotes([quote(RELIANCE, 2600.0, NOW, bids=[(2600.0, 100)], asks=[(2600.05, 100)], close=2580.0)], NOW)
    (held,) = eng.holdings(NOW)
    assert held["pnl"] == pytest.approx(10 * 100.0) and held["day_change"] == pytest.approx(20.0)
    eng.place_order("regular", order(RELIANCE, "SELL", 4, "MARKET", product="CNC"), NOW)
    assert eng.holdings(NOW)[0]["used_quantity"] == 4
    assert eng.positions(NOW)["net"][0]["quantity"] == -4
    cash = eng.margins(NOW, "equity")["available"]["cash"]
    (after,) = eng.holdings(MONDAY_OPEN)
    assert (after["quantity"], after["used_quantity"]) == (6, 0)
    assert eng.margins(MONDAY_OPEN, "equity")["available"]["cash"] == pytest.approx(cash + 4 * 2600.0)


def test_a_future_carried_overnight_shows_overnight_quantity_and_m2m_against_the_close() -> None:
    eng = engine(equity_funds=5_000_000)
    eng.on_quotes([quote(NIFTY_FUT, 24000.0, NOW, asks=[(24000.0, 750)], close=23900.0)], NOW)
    eng.place_order("regular", order(NIFTY_FUT, "BUY", 75, "MARKET", product="NRML"), NOW)
    monday = at(1, MONDAY_OPEN)
    eng.on_quotes([quote(NIFTY_FUT, 24100.0, monday, close=24050.0)], monday)
    positions = eng.positions(monday)
    assert positions["day"] == []
    net = positions["net"][0]
    assert (net["overnight_quantity"], net["quantity"], net["average_price"]) == (75, 75, 24000.0)
    assert net["pnl"] == pytest.approx(75 * 100.0)  # against the buy price
    assert net["m2m"] == pytest.approx(75 * 50.0)  # against Friday's close
    assert net["buy_m2m"] == pytest.approx(75 * 24050.0)


def test_an_expired_contract_settles_at_its_last_price_at_the_next_session() -> None:
    expiry_day = datetime(2026, 12, 4, 11, 0, tzinfo=IST)
    eng = engine(expiry_day)
    eng.on_quotes([quote(GOLDM, 75000.0, expiry_day, asks=[(75000.0, 10)], close=74000.0)], expiry_day)
    eng.place_order("regular", order(GOLDM, "BUY", 1, "MARKET", product="NRML"), expiry_day)
    eng.on_quotes([quote(GOLDM, 75500.0, at(60, expiry_day))], at(60, expiry_day))
    cash = eng.margins(expiry_day, "commodity")["available"]["cash"]
    monday = datetime(2026, 12, 7, 9, 15, tzinfo=IST)
    assert eng.positions(monday)["net"] == []
    # One contract of 10 units, bought at 75,000 and settled at 75,500.
    assert eng.margins(monday, "commodity")["available"]["cash"] == pytest.approx(cash + 10 * 500.0)


def test_converting_an_intraday_position_to_delivery_moves_it_and_its_margin() -> None:
    eng = engine()
    eng.on_quotes([_flat(1500.0)], NOW)
    eng.place_order("regular", order(INFY, "BUY", 10, "MARKET"), NOW)
    params = {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "position_type": "day",
        "quantity": "6",
        "old_product": "MIS",
        "new_product": "CNC",
    }
    assert eng.convert_position(params, NOW) is True
    by_product = {p["product"]: p for p in eng.positions(NOW)["net"]}
    assert (by_product["MIS"]["quantity"], by_product["CNC"]["quantity"]) == (4, 6)
    assert by_product["CNC"]["average_price"] == 1500.0
    used = eng.margins(NOW, "equity")["utilised"]
    assert used["delivery"] == pytest.approx(6 * 1500.0) and used["exposure"] == pytest.approx(0.2 * 4 * 1500.0)
    with pytest.raises(RejectionError) as err:
        eng.convert_position({**params, "quantity": "5"}, NOW)
    assert err.value.error_type is ErrorType.INPUT


def test_converting_to_delivery_without_the_funds_is_a_margin_exception() -> None:
    eng = engine(equity_funds=5_000)
    eng.on_quotes([_flat(1500.0)], NOW)
    eng.place_order("regular", order(INFY, "BUY", 10, "MARKET"), NOW)  # 3,000 MIS margin
    params = {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "position_type": "day",
        "quantity": "10",
        "old_product": "MIS",
        "new_product": "CNC",
    }
    with pytest.raises(RejectionError) as err:
        eng.convert_position(params, NOW)
    assert (err.value.error_type, err.value.status) == (ErrorType.MARGIN, 400)


def test_user_margins_have_both_segments_and_reject_an_unknown_one() -> None:
    eng = engine(commodity_funds=100_000)
    both = eng.margins(NOW)
    assert set(both) == {"equity", "commodity"}
    assert both["commodity"]["available"]["opening_balance"] == 100_000
    with pytest.raises(RejectionError):
        eng.margins(NOW, "currency")
