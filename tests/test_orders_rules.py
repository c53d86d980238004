"""Every pre-trade rule refuses with a message naming the rule and the nearest valid value, before anything is sent."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kitekit.clock import ManualClock
from kitekit.engine.validation import parse_place
from kitekit.errors import OrderValidationError, UnknownInstrumentError
from kitekit.instruments import InstrumentStore
from kitekit.orders import OrderRequest, PreTradeRules, Product, Rule, Validator
from kitekit.orders.model import Order, OrderChange
from kitekit.orders.rules import nearest_tick, valid_tag
from kitekit.wire.orders import OrderType, Validity, Variety

FUT = "NFO:NIFTY26DECFUT"  # lot 65, NSE freeze quantity 1800
QUOTE = {
    "instrument_token": 408065,
    "timestamp": "2026-11-27 11:00:00",
    "last_price": 1600.0,
    "lower_circuit_limit": 1440.0,
    "upper_circuit_limit": 1760.0,
}


@pytest.fixture
def validator(sim_instruments: InstrumentStore, sim_clock: ManualClock) -> Validator:
    return Validator(sim_instruments.instrument, PreTradeRules(), lambda: sim_clock.now().date())


def buy(key: str, quantity: int, **terms: Any) -> OrderRequest:
    return OrderRequest.buy(key, quantity, **terms)


def sell(key: str, quantity: int, **terms: Any) -> OrderRequest:
    return OrderRequest.sell(key, quantity, **terms)


REFUSED: list[tuple[str, OrderRequest, dict[str, Any] | None, Rule, str, Any]] = [
    ("a price off the tick", buy("NSE:INFY", 1, price=101.03), None, Rule.TICK,
     "price 101.03 is not a multiple of tick 0.05; nearest 101.05", 101.05),
    ("a trigger off the tick", sell("NSE:INFY", 1, trigger_price=99.97), None, Rule.TICK,
     "trigger_price 99.97 is not a multiple of tick 0.05; nearest 99.95", 99.95),
    ("a price off a one-paisa tick", buy("NSE:TATASTEEL", 1, price=190.415), None, Rule.TICK,
     "price 190.415 is not a multiple of tick 0.01; nearest 190.42", 190.42),
    ("a quantity off the lot", buy(FUT, 100), None, Rule.LOT,
     f"quantity 100 is not a multiple of lot 65 of {FUT}; nearest 130", 130),
    ("a quantity below one lot", buy(FUT, 20), None, Rule.LOT, "not a multiple of lot 65", 65),
    ("no quantity", buy("NSE:INFY", 0), None, Rule.QUANTITY, "quantity 0 is not above 0; nearest 1", 1),
    ("a quantity above the freeze quantity", buy(FUT, 65 * 30), None, Rule.FREEZE,
     f"quantity 1950 is above the freeze quantity 1800 of {FUT}; nearest 1755 (or send it in 2 slices with "
     "place_sliced)", 1755),
    ("a LIMIT without a price", buy("NSE:INFY", 1, order_type=OrderType.LIMIT), None, Rule.PRICE,
     "LIMIT orders need a price above 0; give a price above 0", None),
    ("a LIMIT without a price, with a quote at hand", buy("NSE:INFY", 1, order_type=OrderType.LIMIT), QUOTE,
     Rule.PRICE, "LIMIT orders need a price above 0; nearest 1600.00", 1600.0),
    ("a MARKET order with a price", buy("NSE:INFY", 1, order_type=OrderType.MARKET, price=1600.0), None,
     Rule.PRICE, "price 1600 is not taken by a MARKET order; nearest: no price", None),
    ("an SL-M without a trigger", buy("NSE:INFY", 1, order_type=OrderType.SL_M), None, Rule.TRIGGER,
     "SL-M orders need a trigger_price above 0", None),
    ("a LIMIT with a trigger", buy("NSE:INFY", 1, order_type=OrderType.LIMIT, price=1600.0, trigger_price=1590.0),
     None, Rule.TRIGGER, "trigger_price 1590 is not taken by a LIMIT order; nearest: no trigger", None),
    ("a buy SL triggering above its price", buy("NSE:INFY", 1, price=1600.0, trigger_price=1601.0), None,
     Rule.TRIGGER, "trigger_price 1601.00 is above price 1600.00 on a BUY SL order; nearest 1600.00", 1600.0),
    ("a sell SL triggering below its price", sell("NSE:INFY", 1, price=1600.0, trigger_price=1599.0), None,
     Rule.TRIGGER, "trigger_price 1599.00 is below price 1600.00 on a SELL SL order; nearest 1600.00", 1600.0),
    ("a buy stop the price already passed", buy("NSE:INFY", 1, trigger_price=1500.0), QUOTE, Rule.TRIGGER,
     "trigger_price 1500.00 of a BUY stop must be above the last price 1600.00; nearest 1600.05", 1600.05),
    ("a sell stop the price already passed", sell("NSE:INFY", 1, trigger_price=1650.0), QUOTE, Rule.TRIGGER,
     "trigger_price 1650.00 of a SELL stop must be below the last price 1600.00; nearest 1599.95", 1599.95),
    ("a price above the upper circuit", buy("NSE:INFY", 1, price=1800.0), QUOTE, Rule.CIRCUIT,
     "price 1800.00 is above the upper circuit 1760.00 of NSE:INFY; nearest 1760.00", 1760.0),
    ("a price below the lower circuit", sell("NSE:INFY", 1, price=1400.0), QUOTE, Rule.CIRCUIT,
     "price 1400.00 is below the lower circuit 1440.00 of NSE:INFY; nearest 1440.00", 1440.0),
    ("a delivery product in derivatives", buy(FUT, 65, product=Product.CNC), None, Rule.PRODUCT,
     "product CNC is not allowed on NFO (derivatives); nearest NRML", Product.NRML),
    ("a derivatives product in the cash market", buy("NSE:INFY", 1, product=Product.NRML), None, Rule.PRODUCT,
     "product NRML is not allowed on NSE (the cash market); nearest CNC", Product.CNC),
    ("a cover order of another product", buy("NSE:INFY", 1, variety=Variety.CO, product=Product.CNC,
     trigger_price=1590.0), None, Rule.PRODUCT, "product CNC is not allowed on a cover order; nearest MIS",
     Product.MIS),
    ("market protection out of range", buy("NSE:INFY", 1, market_protection=150), None, Rule.PROTECTION,
     "market_protection 150 is neither -1 (auto) nor a percentage above 0 up to 100 (2.5 is fine); nearest 100",
     100),
    ("no market protection after April 2026", buy("NSE:INFY", 1, market_protection=0), None, Rule.PROTECTION,
     "market_protection 0 is refused on MARKET and SL-M orders since 01 April 2026; nearest -1 (auto)", -1),
    ("TTL validity on a MARKET order", buy("NSE:INFY", 1, validity=Validity.TTL, validity_ttl=5), None,
     Rule.VALIDITY, "TTL validity is not taken by a MARKET order; nearest DAY", Validity.DAY),
    ("TTL validity without minutes", buy("NSE:INFY", 1, price=1600.0, validity=Validity.TTL), None, Rule.VALIDITY,
     "validity_ttl None is not 1 to 1440 minutes; nearest 1", 1),
    ("TTL validity beyond a day", buy("NSE:INFY", 1, price=1600.0, validity=Validity.TTL, validity_ttl=2000), None,
     Rule.VALIDITY, "validity_ttl 2000 is not 1 to 1440 minutes; nearest 1440", 1440),
    ("minutes without TTL validity", buy("NSE:INFY", 1, price=1600.0, validity_ttl=5), None, Rule.VALIDITY,
     "validity_ttl is only for TTL validity, not DAY", None),
    ("a disclosed quantity in derivatives", buy(FUT, 65, price=25000.0, disclosed_quantity=65), None,
     Rule.DISCLOSED, "disclosed_quantity 65 is not allowed on derivatives; nearest 0", 0),
    ("a disclosed quantity under a tenth", buy("NSE:INFY", 100, price=1600.0, disclosed_quantity=5), None,
     Rule.DISCLOSED, "disclosed_quantity 5 is not between 10% of the quantity (10) and the quantity (100); "
     "nearest 10", 10),
    ("an iceberg of one leg", buy("NSE:INFY", 100, price=1600.0, variety=Variety.ICEBERG, iceberg_legs=1), None,
     Rule.ICEBERG, "iceberg_legs 1 is not between 2 and 10; nearest 2", 2),
    ("an iceberg of legs that do not cover it", buy("NSE:INFY", 100, price=1600.0, variety=Variety.ICEBERG,
     iceberg_legs=4, iceberg_quantity=20), None, Rule.ICEBERG,
     "iceberg_quantity 20 does not split 100 into 4 legs of whole lots; nearest 25", 25),
    ("an IOC iceberg", buy("NSE:INFY", 100, price=1600.0, variety=Variety.ICEBERG, iceberg_legs=4,
     validity=Validity.IOC), None, Rule.ICEBERG, "an iceberg is a LIMIT or SL order of DAY or TTL validity, not "
     "LIMIT IOC; nearest DAY", Validity.DAY),
    ("an iceberg whose last leg is empty", buy("NSE:INFY", 100, price=1600.0, variety=Variety.ICEBERG,
     iceberg_legs=4, iceberg_quantity=40), None, Rule.ICEBERG,
     "iceberg_quantity 40 does not split 100 into 4 legs of whole lots; nearest 25", 25),
    ("a stop-loss cover order", buy("NSE:INFY", 1, variety=Variety.CO, price=1600.0, trigger_price=1590.0,
     order_type=OrderType.SL), None, Rule.COVER, "a cover order is MARKET or LIMIT, not SL; nearest LIMIT",
     OrderType.LIMIT),
    ("a cover order's stop above its buy entry", buy("NSE:INFY", 1, variety=Variety.CO, price=1600.0,
     trigger_price=1610.0, order_type=OrderType.LIMIT), QUOTE, Rule.TRIGGER,
     "trigger_price 1610.00 of a BUY cover order must be below its entry 1600.00; nearest 1599.95", 1599.95),
    ("an auction order without its number", buy("NSE:INFY", 1, variety=Variety.AUCTION, price=1600.0), None,
     Rule.AUCTION, "auction_number None is not an auction's number", None),
    ("an index", buy("NSE:NIFTY 50", 1), None, Rule.INSTRUMENT,
     "NSE:NIFTY 50 is an index and cannot be traded; trade its futures or options", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "quote", "rule", "says", "nearest"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_each_rule_refuses_naming_the_rule_and_the_nearest_valid_value(
    validator: Validator, request_: OrderRequest, quote: dict[str, Any] | None, rule: Rule, says: str, nearest: Any
) -> None:
    with pytest.raises(OrderValidationError) as caught:
        validator.check(request_, quote)
    assert (caught.value.rule, caught.value.nearest) == (rule, nearest)
    assert says in str(caught.value), str(caught.value)


def test_a_valid_request_comes_back_completed_with_the_segments_product_and_auto_protection(
    validator: Validator,
) -> None:
    cash = validator.check(buy("NSE:INFY", 10))
    assert (cash.product, cash.market_protection, cash.order_type) == (Product.CNC, -1, OrderType.MARKET)
    fut = validator.check(sell(FUT, 130, price=25000.0))
    assert (fut.product, fut.market_protection, fut.order_type) == (Product.NRML, None, OrderType.LIMIT)
    berg = validator.check(buy("NSE:INFY", 100, price=1600.0, variety=Variety.ICEBERG, iceberg_legs=3))
    assert berg.iceberg_quantity == 34


TYPED = [
    buy("NSE:INFY", 10),
    buy("NSE:INFY", 10, price=1600.0, product=Product.MIS, validity=Validity.IOC),
    sell("NSE:INFY", 5, price=1590.0, trigger_price=1595.0),
    sell("NSE:INFY", 5, trigger_price=1595.0, market_protection=2.5),
    buy("NSE:INFY", 10, price=1600.0, validity=Validity.TTL, validity_ttl=5, disclosed_quantity=2),
    buy("NSE:INFY", 100, price=1600.0, variety=Variety.ICEBERG, iceberg_legs=3),
    buy("NSE:INFY", 10, price=1600.0, variety=Variety.CO, trigger_price=1590.0, order_type=OrderType.LIMIT),
    sell(FUT, 130, price=25000.0),
    buy(FUT, 65),
]


@pytest.mark.parametrize("request_", TYPED, ids=lambda r: f"{r.variety}-{r.order_type}-{r.key}")
def test_a_checked_requests_terms_are_what_the_exchange_parses_from_its_form(
    validator: Validator, request_: OrderRequest
) -> None:
    # A backtest places these terms by the engine's typed door; the simulator parses the SDK's form into the
    # same terms. Both must be one order.
    checked = validator.check(request_)
    assert validator.terms(checked, "run7") == parse_place(checked.variety, checked.to_kite("run7"))
    assert validator.terms(checked).tag is None


def test_an_unknown_instrument_is_refused_with_the_closest_names(validator: Validator) -> None:
    with pytest.raises(UnknownInstrumentError, match="RELIANCE"):
        validator.check(buy("NSE:RELIANCEX", 1))


def test_an_order_above_the_freeze_quantity_is_sliced_in_whole_lots_within_it(validator: Validator) -> None:
    parts = validator.slices(buy(FUT, 65 * 30, price=25000.0))
    assert [p.quantity for p in parts] == [1755, 195]
    assert all(validator.check(p) for p in parts)
    assert validator.slices(buy("NSE:INFY", 5000)) == [buy("NSE:INFY", 5000)]


def test_a_tag_kite_would_refuse_is_refused_with_the_nearest_tag(validator: Validator) -> None:
    with pytest.raises(OrderValidationError) as caught:
        validator.check_tag("my-strategy-entry-0001")
    assert caught.value.rule == Rule.TAG
    assert "tag 'my-strategy-entry-0001' is not 20 letters or digits at most; nearest 'mystrategyentry0001'" in str(
        caught.value
    )
    assert validator.check_tag("entry42") == "entry42"
    assert valid_tag("a" * 30) == "a" * 20


def test_a_change_is_checked_by_the_same_rules_as_a_new_order(validator: Validator) -> None:
    order = Order.from_kite(
        {"order_id": "1", "status": "OPEN", "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
         "order_type": "LIMIT", "product": "CNC", "variety": "regular", "validity": "DAY", "quantity": 10,
         "price": 1600.0, "trigger_price": 0}
    )  # fmt: skip
    with pytest.raises(
        OrderValidationError, match=re.escape("price 1600.02 is not a multiple of tick 0.05; nearest 1600.00")
    ):
        validator.check_change(order, OrderChange(price=1600.02))
    assert validator.check_change(order, OrderChange(price=1600.05)) == OrderChange(price=1600.05)


def test_nearest_tick_rounds_halves_up_on_the_ticks_decimals() -> None:
    assert nearest_tick(101.03, 0.05) == 101.05
    assert nearest_tick(101.025, 0.05) == 101.05
    assert nearest_tick(83.12345, 0.0025) == 83.1225
