"""The exchange's parts without a server: instrument specs, ISINs, order caps, order fault dice, mutual funds."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from kiteconnect import KiteConnect

from kitekit.clock import IST
from kitekit.markethours import TradingCalendar
from kitekit.sim.config import OrderFaultConfig
from kitekit.sim.faults import OrderFault, OrderFaults
from kitekit.sim.instruments import SpecBook, isin_check_digit
from kitekit.sim.market import Market
from kitekit.sim.market.funds import CSV_HEADER, FUNDS, instruments_csv
from kitekit.sim.mf import MfBook
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.ratelimit import OrderCaps
from kitekit.wire.envelope import ErrorType, RejectionError

FUND = FUNDS[0].tradingsymbol


@pytest.mark.parametrize("isin", ["INE009A01021", "INE002A01018", "US0378331005"])
def test_the_isin_check_digit_is_iso_6166s(isin: str) -> None:
    assert isin_check_digit(isin[:11]) == isin[11]


def test_specs_carry_nses_index_freeze_limits_only_on_index_derivatives(sim_market: Market) -> None:
    book = SpecBook(sim_market)
    book.moment = SIM_NOW
    uni = book.universe()

    def derivative(name: str) -> str:
        rows = zip(uni.symbol, uni.name, uni.exchange, strict=True)
        return next(symbol for symbol, n, e in rows if n == name and e == "NFO")

    nifty, bank, stock = derivative("NIFTY"), derivative("BANKNIFTY"), derivative("RELIANCE")
    assert [book.resolve("NFO", s).freeze_quantity for s in (nifty, bank, stock)] == [1800, 600, 0]  # type: ignore[union-attr]
    infy = book.resolve("NSE", "INFY")
    assert infy is not None and infy.freeze_quantity == 0 and infy.isin == book.resolve("BSE", "INFY").isin  # type: ignore[union-attr]
    assert infy.isin.startswith("INE") and isin_check_digit(infy.isin[:11]) == infy.isin[11]
    assert book.resolve("NSE", "NOPE") is None and book.resolve("NSE", "NIFTY 50").tradable is False  # type: ignore[union-attr]


def test_order_caps_count_per_user_per_clock_minute_and_per_day() -> None:
    caps = OrderCaps(per_minute=3, per_day=5)
    at = datetime(2026, 11, 27, 11, 0, 5, tzinfo=IST)
    assert [caps.allow("A", at) for _ in range(4)] == [True, True, True, False]
    assert caps.allow("B", at)  # another user has their own count
    assert caps.allow("A", at + timedelta(seconds=55), 2) and not caps.allow("A", at + timedelta(seconds=56))
    assert not caps.allow("A", at + timedelta(minutes=2))  # the day's 5 are spent
    assert caps.allow("A", at + timedelta(days=1)) and caps.rejected == 3


def test_scripted_order_faults_come_first_then_the_seeded_dice() -> None:
    faults = OrderFaults(OrderFaultConfig(next=("drop", "none", "reject"), error_rate=1.0, seed=3))
    assert [faults.draw() for _ in range(4)] == [OrderFault.DROP, None, OrderFault.REJECT, OrderFault.ERROR]
    faults.update(error_rate=0.0, drop_rate=0.5, seed=1)
    drawn = [faults.draw() for _ in range(200)]
    assert set(drawn) == {OrderFault.DROP, None} and 60 < drawn.count(OrderFault.DROP) < 140
    assert faults.injected[OrderFault.DROP] == drawn.count(OrderFault.DROP) + 1


def _book() -> MfBook:
    return MfBook("KK1234", TradingCalendar())


def test_an_mf_purchase_is_allotted_at_the_next_open_at_the_previous_days_nav() -> None:
    book = _book()
    oid = book.place_order({"tradingsymbol": FUND, "transaction_type": "BUY", "amount": "10000"}, SIM_NOW)["order_id"]
    book.advance(SIM_NOW + timedelta(hours=4))
    assert book.order(oid)["status"] == "OPEN"
    monday = datetime(2026, 11, 30, 9, 15, tzinfo=IST)
    book.advance(monday)
    order = book.order(oid)
    assert order["status"] == "COMPLETE" and order["exchange_timestamp"] == "2026-11-27"
    assert order["quantity"] == round(10000 / order["average_price"], 3)
    (held,) = book.holding_list(monday)
    assert held["quantity"] == order["quantity"] and held["folio"] == order["folio"]


def test_mf_orders_refuse_what_kite_would() -> None:
    book = _book()
    for form, kind in [
        ({"tradingsymbol": "NOPE", "transaction_type": "BUY", "amount": "500"}, ErrorType.INPUT),
        ({"tradingsymbol": FUND, "transaction_type": "BUY", "amount": "50"}, ErrorType.INPUT),
        ({"tradingsymbol": FUND, "transaction_type": "BUY", "amount": "nan"}, ErrorType.INPUT),
        ({"tradingsymbol": FUND, "transaction_type": "SELL", "quantity": "1"}, ErrorType.HOLDING),
        ({"tradingsymbol": FUND, "transaction_type": "HOLD", "amount": "500"}, ErrorType.INPUT),
    ]:
        with pytest.raises(RejectionError) as err:
            book.place_order(form, SIM_NOW)
        assert (err.value.error_type, err.value.status) == (kind, 400)


def test_a_sip_buys_on_each_instalment_date_until_its_instalments_are_done() -> None:
    book = _book()
    form = {"tradingsymbol": FUND, "amount": "1000", "instalments": "2", "frequency": "monthly", "instalment_day": "1"}
    sip_id = book.place_sip(form, SIM_NOW)["sip_id"]
    assert book.sip(sip_id)["next_instalment"] == "2026-12-01"
    book.advance(datetime(2027, 1, 5, 10, 0, tzinfo=IST))
    sip = book.sip(sip_id)
    assert (sip["completed_instalments"], sip["pending_instalments"], sip["status"]) == (2, 0, "COMPLETED")
    assert [o["variety"] for o in book.order_list()] == ["sip", "sip"]
    assert sip["last_instalment"] == "2027-01-01 09:15:00"


def test_a_paused_sip_buys_nothing() -> None:
    book = _book()
    form = {"tradingsymbol": FUND, "amount": "1000", "instalments": "-1", "frequency": "weekly"}
    sip_id = book.place_sip(form, SIM_NOW)["sip_id"]
    book.modify_sip(sip_id, {"status": "paused"}, SIM_NOW)
    book.advance(SIM_NOW + timedelta(days=30))
    assert book.order_list() == [] and book.sip(sip_id)["pending_instalments"] == -1


def test_the_mf_instruments_csv_has_kites_header_and_parses_in_the_sdk() -> None:
    raw = instruments_csv(TradingCalendar(), SIM_NOW)
    assert raw.decode().splitlines()[0] == CSV_HEADER
    rows = KiteConnect("k")._parse_mf_instruments(raw)
    assert [r["tradingsymbol"] for r in rows] == [f.tradingsymbol for f in FUNDS]
    assert rows[0]["last_price_date"] == date(2026, 11, 26) and rows[0]["purchase_allowed"] is True
