"""Margins and charges of reference orders, each worked out by hand from the documented rates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from kitekit.clock import IST
from kitekit.engine.charges import order_charges
from kitekit.engine.spec import InstrumentSpec
from kitekit.wire.orders import Product
from tests.engine_helpers import GOLDM, INFY, NIFTY_CE, NIFTY_FUT, NOW, engine, order, quote

AFTER_2026_BUDGET = date(2026, 11, 27)
BEFORE_2026_BUDGET = date(2026, 3, 2)


def _charges(spec: InstrumentSpec, product: Product, buy: bool, qty: int, price: float, on: date) -> dict[str, Any]:
    return order_charges(spec, product, buy, qty, price, on)


def test_an_equity_delivery_buy_pays_no_brokerage_but_stt_both_ways_and_stamp_duty() -> None:
    c = _charges(INFY, Product.CNC, True, 10, 1500.0, AFTER_2026_BUDGET)
    turnover = 15_000.0
    assert c["brokerage"] == 0
    assert (c["transaction_tax"], c["transaction_tax_type"]) == (pytest.approx(turnover * 0.001), "stt")  # 15
    assert c["exchange_turnover_charge"] == pytest.approx(turnover * 0.0000307)  # 0.4605
    assert c["sebi_turnover_charge"] == pytest.approx(0.015)  # ₹10 per crore
    assert c["stamp_duty"] == pytest.approx(turnover * 0.00015)  # 2.25
    assert c["gst"]["igst"] == c["gst"]["total"] == pytest.approx(0.18 * (0.4605 + 0.015))
    assert c["total"] == pytest.approx(15 + 0.4605 + 0.015 + 2.25 + 0.18 * 0.4755)  # 17.81109


def test_an_intraday_sell_pays_capped_brokerage_and_sell_side_stt_only() -> None:
    c = _charges(INFY, Product.MIS, False, 100, 1500.0, AFTER_2026_BUDGET)
    assert c["brokerage"] == 20.0  # 0.03% of 150,000 is 45: the ₹20 ceiling applies
    assert c["transaction_tax"] == pytest.approx(150_000 * 0.00025)  # 37.5
    assert c["stamp_duty"] == 0
    small = _charges(INFY, Product.MIS, False, 10, 1500.0, AFTER_2026_BUDGET)
    assert small["brokerage"] == pytest.approx(15_000 * 0.0003)  # 4.5, under the ceiling


def test_a_futures_sell_pays_the_2026_stt_rate_after_april_and_the_old_one_before() -> None:
    turnover = 75 * 24000.0  # 1,800,000
    after = _charges(NIFTY_FUT, Product.NRML, False, 75, 24000.0, AFTER_2026_BUDGET)
    assert after["transaction_tax"] == pytest.approx(turnover * 0.0005)  # 900
    assert after["exchange_turnover_charge"] == pytest.approx(turnover * 0.0000183)  # 32.94
    assert after["total"] == pytest.approx(20 + 900 + 32.94 + 1.8 + 0.18 * (20 + 32.94 + 1.8))  # 964.5932
    before = _charges(NIFTY_FUT, Product.NRML, False, 75, 24000.0, BEFORE_2026_BUDGET)
    assert before["transaction_tax"] == pytest.approx(turnover * 0.0002)  # 360


def test_an_option_buy_pays_flat_brokerage_and_charges_on_the_premium() -> None:
    c = _charges(NIFTY_CE, Product.NRML, True, 75, 100.0, AFTER_2026_BUDGET)
    premium = 7_500.0
    assert (c["brokerage"], c["transaction_tax"]) == (20.0, 0.0)
    assert c["exchange_turnover_charge"] == pytest.approx(premium * 0.0003553)  # 2.66475
    assert c["stamp_duty"] == pytest.approx(premium * 0.00003)  # 0.225
    assert c["total"] == pytest.approx(20 + 2.66475 + 0.0075 + 0.225 + 0.18 * (20 + 2.66475 + 0.0075))


def test_a_commodity_future_pays_ctt_on_its_multiplied_value() -> None:
    c = _charges(GOLDM, Product.NRML, False, 1, 75_000.0, AFTER_2026_BUDGET)
    turnover = 1 * 75_000.0 * 10  # GOLDM trades 10 units per lot
    assert (c["transaction_tax"], c["transaction_tax_type"]) == (pytest.approx(turnover * 0.0001), "ctt")  # 75
    assert c["total"] == pytest.approx(20 + 75 + 15.75 + 0.75 + 0.18 * (20 + 15.75 + 0.75))  # 118.07


def _margin(eng: Any, spec: InstrumentSpec, side: str, qty: int, price: float, product: str) -> dict[str, Any]:
    item = {**order(spec, side, qty, price=price, product=product), "variety": "regular"}
    block: dict[str, Any] = eng.order_margins([item], NOW)[0]
    return block


def test_order_margins_are_full_value_for_delivery_and_a_fifth_for_intraday() -> None:
    eng = engine()
    cnc = _margin(eng, INFY, "BUY", 10, 1500.0, "CNC")
    assert (cnc["type"], cnc["var"], cnc["total"], cnc["leverage"]) == ("equity", 15_000, 15_000, 1)
    mis = _margin(eng, INFY, "BUY", 10, 1500.0, "MIS")
    assert (mis["var"], mis["leverage"]) == (pytest.approx(3_000), pytest.approx(5))
    assert mis["charges"]["brokerage"] == pytest.approx(4.5)


def test_futures_and_short_options_need_span_and_exposure_and_long_options_the_premium() -> None:
    eng = engine()
    fut = _margin(eng, NIFTY_FUT, "BUY", 75, 24000.0, "NRML")
    # Index derivatives: SPAN 9% and exposure 2% of 1,800,000.
    assert (fut["span"], fut["exposure"], fut["total"]) == (
        pytest.approx(162_000),
        pytest.approx(36_000),
        pytest.approx(198_000),
    )
    long_call = _margin(eng, NIFTY_CE, "BUY", 75, 100.0, "NRML")
    assert (long_call["option_premium"], long_call["total"]) == (7_500, 7_500)
    short_call = _margin(eng, NIFTY_CE, "SELL", 75, 100.0, "NRML")
    assert short_call["total"] == pytest.approx(198_000)  # on the strike's notional, 24,000 × 75
    gold = _margin(eng, GOLDM, "BUY", 1, 75_000.0, "NRML")
    assert (gold["type"], gold["total"]) == ("commodity", pytest.approx(750_000 * 0.09))


def test_a_market_order_is_margined_at_the_last_price() -> None:
    eng = engine()
    eng.on_quotes([quote(INFY, 1600.0, NOW)], NOW)
    item = {**order(INFY, "BUY", 10, "MARKET", product="CNC"), "variety": "regular"}
    assert eng.order_margins([item], NOW)[0]["total"] == 16_000


def test_a_basket_that_nets_out_needs_no_final_margin() -> None:
    eng = engine()
    buy = {**order(NIFTY_FUT, "BUY", 75, price=24000.0, product="NRML"), "variety": "regular"}
    sell = {**order(NIFTY_FUT, "SELL", 75, price=24000.0, product="NRML"), "variety": "regular"}
    basket = eng.basket_margins([buy, sell], NOW)
    assert basket["initial"]["total"] == pytest.approx(2 * 198_000)
    assert basket["final"]["total"] == 0
    assert basket["initial"]["tradingsymbol"] == "" and len(basket["orders"]) == 2
    assert basket["charges"]["brokerage"] == 40.0
    compact = eng.basket_margins([buy, sell], NOW, compact=True)
    assert compact["final"] == {"total": 0.0} and set(compact["orders"][0]) == {
        "type",
        "tradingsymbol",
        "exchange",
        "total",
    }


def test_a_basket_that_closes_an_open_position_needs_nothing_when_positions_are_considered() -> None:
    eng = engine(equity_funds=5_000_000)
    eng.on_quotes([quote(NIFTY_FUT, 24000.0, NOW, asks=[(24000.0, 750)])], NOW)
    eng.place_order("regular", order(NIFTY_FUT, "BUY", 75, "MARKET", product="NRML"), NOW)
    sell = {**order(NIFTY_FUT, "SELL", 75, price=24000.0, product="NRML"), "variety": "regular"}
    assert eng.basket_margins([sell], NOW)["final"]["total"] == pytest.approx(198_000)
    assert eng.basket_margins([sell], NOW, consider_positions=True)["final"]["total"] == 0


def test_the_virtual_contract_note_charges_executed_orders_at_their_average_price() -> None:
    eng = engine()
    executed = {
        "order_id": "1",
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "variety": "regular",
        "product": "CNC",
        "order_type": "MARKET",
        "quantity": 10,
        "average_price": 1500.0,
    }
    (note,) = eng.order_charges([executed], NOW)
    assert (note["price"], note["quantity"], note["product"]) == (1500.0, 10, "CNC")
    assert note["charges"]["total"] == pytest.approx(17.81109)


def test_charges_are_debited_from_cash_per_executed_order_not_per_fill() -> None:
    eng = engine()
    two_levels = quote(INFY, 1500.0, NOW, asks=[(1500.0, 50), (1500.05, 100)])
    eng.on_quotes([two_levels], NOW)
    eng.place_order("regular", order(INFY, "BUY", 100, price=1500.05), NOW)  # two fills, one order
    cash = eng.margins(NOW, "equity")["available"]["cash"]
    turnover = 50 * 1500.0 + 50 * 1500.05
    brokerage = 20.0  # once for the order, not twice
    exchange, sebi, stamp = turnover * 0.0000307, turnover * 1e-6, turnover * 0.00003
    assert cash == pytest.approx(
        1_000_000 - (brokerage + exchange + sebi + stamp + 0.18 * (brokerage + exchange + sebi))
    )


def test_calculators_use_the_rates_of_the_day_asked() -> None:
    march = datetime(2026, 3, 2, 11, 0, tzinfo=IST)
    eng = engine(march)
    item = {**order(NIFTY_FUT, "SELL", 75, price=24000.0, product="NRML"), "variety": "regular"}
    assert eng.order_margins([item], march)[0]["charges"]["transaction_tax"] == pytest.approx(360.0)
