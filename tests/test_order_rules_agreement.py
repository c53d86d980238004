"""The client's pre-trade check and the exchange refuse exactly the same requests, for the same first rule.

Both run :mod:`kitekit.wire.order_rules`; these tests hold them to it from outside: generated requests go
through the client's :class:`Validator` and, as the client would send them, through the real engine the
simulator serves, and the two verdicts must match (refused or not, and by which rule). The engine's words
are mapped back to a rule through its own tables, so a rule that drifts on either side shows up here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kitekit.engine import InstrumentSpec, MarketQuote
from kitekit.engine.risk import RMS_SAYS
from kitekit.engine.validation import KITE_SAYS
from kitekit.errors import OrderValidationError, UnknownInstrumentError
from kitekit.orders import OrderRequest, PreTradeRules, Validator
from kitekit.orders.model import Order, OrderChange
from kitekit.orders.rules import ADVICE, complete, terms_of
from kitekit.orders.validator import standing_terms
from kitekit.wire.envelope import RejectionError
from kitekit.wire.instruments_csv import Instrument
from kitekit.wire.order_rules import (
    MARKET_RULES,
    MODIFY_MARKET_RULES,
    MODIFY_RULES,
    ORDER_RULES,
    PLACE_RULES,
    TRIGGER_RULES,
    Facts,
    OrderRule,
    first_breach,
)
from kitekit.wire.order_terms import ModifyRequest, OrderLimits, merge
from kitekit.wire.orders import OrderType, Product, TransactionType, Validity, Variety
from tests.engine_helpers import GOLDM, INFY, NIFTY_CE, NIFTY_FUT, NIFTY_INDEX, NOW, current, engine, quote

SPECS = (INFY, NIFTY_FUT, NIFTY_CE, GOLDM, NIFTY_INDEX)
LAST = {INFY.key: 1500.0, NIFTY_FUT.key: 24000.0, NIFTY_CE.key: 120.0, GOLDM.key: 9500.0, NIFTY_INDEX.key: 26000.0}
LIMITS = OrderLimits()

#: The rules a client request cannot break: it sends no autoslice flag (it slices with place_sliced), checks
#: its tag apart from the request (tested below), and an SL's price meets the band only when its stop triggers.
CLIENT_NEVER_MEETS = {"iceberg_autoslice", "autoslice_slices", "tag", "stop_band"}


def instrument(key: str) -> Instrument:
    spec = next((s for s in SPECS if s.key == key), None)
    if spec is None:
        raise UnknownInstrumentError(key)
    return Instrument(
        instrument_token=spec.instrument_token,
        exchange_token=spec.instrument_token >> 8,
        tradingsymbol=spec.tradingsymbol,
        name=spec.name,
        last_price=0.0,
        expiry=spec.expiry,
        strike=spec.strike,
        tick_size=spec.tick_size,
        lot_size=spec.lot_size,
        instrument_type=spec.instrument_type,
        segment=spec.segment,
        exchange=spec.exchange,
    )


VALIDATOR = Validator(instrument, PreTradeRules(), lambda: NOW.date())


def market_of(spec: InstrumentSpec) -> MarketQuote:
    """A quote with circuits at ±10% of the last price."""
    last = LAST[spec.key]
    return quote(spec, last, lower=round(last * 0.9, 1), upper=round(last * 1.1, 1))


def prices(spec: InstrumentSpec) -> st.SearchStrategy[float]:
    """Prices around the last one: on the tick, off it, outside a future's price band, outside the circuits, 0."""
    last, tick = LAST[spec.key], spec.tick_size
    near = [round(last + k * tick, 4) for k in (-20, -1, 0, 1, 20)]
    band = [round(last * 0.97, 1), round(last * 1.03, 1)]
    circuit = [round(last * 0.8, 1), round(last * 1.2, 1)]
    return st.sampled_from([*near, round(last + tick / 3, 4), *band, *circuit, 0.0, -tick])


@st.composite
def requests(draw: st.DrawFn) -> tuple[OrderRequest, bool]:
    """Return a request (fields only where its order type and validity take them) and whether to quote it."""
    spec = draw(st.sampled_from(SPECS))
    variety = draw(
        st.sampled_from(
            [Variety.REGULAR, Variety.REGULAR, Variety.CO, Variety.ICEBERG, Variety.ICEBERG, Variety.AUCTION]
        )
    )
    # Icebergs are mostly LIMIT orders, so that their own rules are reached often.
    types = [OrderType.LIMIT, OrderType.LIMIT, *OrderType] if variety is Variety.ICEBERG else list(OrderType)
    order_type = draw(st.sampled_from(types))
    lot = spec.lot_size
    terms: dict[str, Any] = {
        "variety": variety,
        "order_type": order_type,
        "product": draw(st.sampled_from([None, None, *Product])),
        "validity": draw(st.sampled_from([Validity.DAY, Validity.DAY, Validity.IOC, Validity.TTL])),
    }
    quantity = draw(
        st.one_of(st.integers(1, 40).map(lambda n: n * lot), st.integers(-1, 2000), st.sampled_from([1875, 1800]))
    )
    if order_type in (OrderType.LIMIT, OrderType.SL):
        terms["price"] = draw(prices(spec))
    if order_type in (OrderType.SL, OrderType.SL_M) or variety is Variety.CO:
        terms["trigger_price"] = draw(prices(spec))
    if order_type in (OrderType.MARKET, OrderType.SL_M):
        terms["market_protection"] = draw(st.sampled_from([None, -1, 0, 3, 100, 150, -2]))
    if terms["validity"] is Validity.TTL:
        terms["validity_ttl"] = draw(st.sampled_from([None, 0, 1, 90, 1440, 1441]))
    if draw(st.integers(0, 4)) == 0:
        terms["disclosed_quantity"] = draw(st.sampled_from([-1, 1, quantity // 10, quantity // 5, quantity + 1]))
    if variety is Variety.ICEBERG:
        terms["iceberg_legs"] = draw(st.sampled_from([None, 1, 2, 4, 10, 11]))
        if draw(st.booleans()):
            terms["iceberg_quantity"] = draw(st.sampled_from([0, lot, 10 * lot, quantity // 2, quantity]))
    if variety is Variety.AUCTION:
        terms["auction_number"] = draw(st.sampled_from([None, "22", "x9", "٢٢"]))
    side = draw(st.sampled_from(list(TransactionType)))
    return OrderRequest.of(spec.key, side, quantity, **terms), draw(st.booleans())


def client_verdict(req: OrderRequest, market: MarketQuote | None) -> tuple[str, str] | None:
    try:
        VALIDATOR.check(req, market)
    except OrderValidationError as exc:
        return exc.rule, exc.field
    return None


def engine_verdict(req: OrderRequest, market: MarketQuote | None) -> tuple[str, str] | None:
    """Send what the client would send to a fresh engine; map its refusal back to a rule by its own words."""
    spec = VALIDATOR.spec(req.key)
    sent = complete(req, spec, PreTradeRules())
    eng = engine(equity_funds=1e9, commodity_funds=1e9)
    if market is not None:
        eng.on_quotes([market], NOW)
    terms = terms_of(sent, spec)
    says = {KITE_SAYS[r](terms, spec, LIMITS): r for r in PLACE_RULES}
    if market is not None:
        says |= {RMS_SAYS[r](terms, market): r for r in MARKET_RULES}
    refusal = refused_by(eng.place_order, str(sent.variety), sent.to_kite(), NOW)
    if refusal is None:
        placed = eng.orders(NOW)[0]  # a fresh account: the first order is this one (a CO adds its stop after)
        refusal = placed["status_message"] if placed["status"] == "REJECTED" else None
        if refusal not in says:
            return None  # accepted, or rejected for funds or holdings: no rule of the request's
    assert refusal in says, f"the engine refused {sent} for no shared rule: {refusal}"
    return str(says[refusal].rule), says[refusal].field


def refused_by(call: Callable[..., object], *args: Any) -> str | None:
    """Return the message of the RejectionError ``call(*args)`` raises, or None when it raises none."""
    try:
        call(*args)
    except RejectionError as exc:
        return exc.message
    return None


def test_every_rule_has_words_on_both_sides() -> None:
    assert set(ADVICE) == set(ORDER_RULES)
    assert set(KITE_SAYS) == set(PLACE_RULES)
    assert set(RMS_SAYS) == set(MARKET_RULES + TRIGGER_RULES)
    assert len({r.name for r in ORDER_RULES}) == len(ORDER_RULES)


def test_the_client_and_the_engine_refuse_the_same_generated_requests_by_the_same_rule() -> None:
    met: set[str] = set()

    @settings(
        max_examples=1500,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests())
    # Three that random requests reach rarely (they must pass every rule before): the three are judged each run.
    @example((OrderRequest.buy(INFY.key, 5, trigger_price=1700.0, market_protection=-1), True))
    @example((OrderRequest.buy(NIFTY_FUT.key, 75, price=23280.0, product=Product.NRML), True))
    @example(
        (
            OrderRequest.buy(INFY.key, 9, price=1500.0, variety=Variety.ICEBERG, iceberg_legs=2, iceberg_quantity=4),
            False,
        )
    )
    def agree(case: tuple[OrderRequest, bool]) -> None:
        req, quoted = case
        market = market_of(VALIDATOR.spec(req.key)) if quoted else None
        client = client_verdict(req, market)
        assert client == engine_verdict(req, market), req
        spec = VALIDATOR.spec(req.key)
        sent = complete(req, spec, PreTradeRules())
        facts = Facts(spec, LIMITS, NOW.date(), None if sent.variety is Variety.AMO else market)
        broken = first_breach(PLACE_RULES + MARKET_RULES, terms_of(sent, spec), facts)
        if broken is not None:
            met.add(broken.name)

    agree()
    # Every rule was met by some request, so each was compared on both sides.
    assert {r.name for r in ORDER_RULES} - CLIENT_NEVER_MEETS - met == set()


@given(st.text(min_size=1, max_size=24))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_a_tag_is_refused_by_the_client_exactly_when_the_engine_refuses_it(tag: str) -> None:
    try:
        VALIDATOR.check_tag(tag)
        client_refuses = False
    except OrderValidationError:
        client_refuses = True
    eng = engine()
    req = OrderRequest.buy(INFY.key, 1, price=1500.0, product=Product.MIS)
    refusal = refused_by(eng.place_order, "regular", req.to_kite(tag=tag), NOW)
    assert refusal in (None, KITE_SAYS[_rule("tag")](terms_of(req, INFY), INFY, LIMITS))
    assert client_refuses == (refusal is not None)


def test_a_modification_is_refused_by_the_client_exactly_when_the_engine_refuses_it() -> None:
    eng = engine(equity_funds=1e9)
    market = market_of(NIFTY_FUT)
    eng.on_quotes([market], NOW)
    placed = OrderRequest.buy(NIFTY_FUT.key, 75, price=23600.0, product=Product.NRML)  # within the 2% band
    order_id = eng.place_order("regular", placed.to_kite(), NOW)["order_id"]
    assert current(eng, order_id)["status"] == "OPEN"
    for change in (
        OrderChange(quantity=100),
        OrderChange(quantity=1875),
        OrderChange(price=23600.03),
        OrderChange(price=30000.0),
        OrderChange(order_type=OrderType.SL, trigger_price=23001.0),
        OrderChange(order_type=OrderType.SL, price=24500.0, trigger_price=24400.0),
        OrderChange(validity=Validity.TTL),
        OrderChange(quantity=150, price=23000.1),
    ):
        order = Order.from_kite(current(eng, order_id))  # as it stands after the changes accepted so far
        try:
            VALIDATOR.check_change(order, change, market)
            client = None
        except OrderValidationError as exc:
            client = (exc.rule, exc.field)
        new = merge(standing_terms(order), ModifyRequest(**dataclasses.asdict(change)))
        says = {KITE_SAYS[r](new, NIFTY_FUT, LIMITS): r for r in MODIFY_RULES}
        says |= {RMS_SAYS[r](new, market): r for r in MODIFY_MARKET_RULES}
        said = refused_by(eng.modify_order, "regular", order_id, change.to_kite(), NOW)
        refused = None if said is None else (str(says[said].rule), says[said].field)
        assert client == refused, change


def _rule(name: str) -> OrderRule:
    return next(r for r in ORDER_RULES if r.name == name)


@pytest.mark.parametrize("rule", ORDER_RULES, ids=lambda r: r.name)
def test_each_rule_names_a_field_of_the_request(rule: OrderRule) -> None:
    fields = {f.name for f in dataclasses.fields(terms_of(OrderRequest.buy(INFY.key, 1), INFY))}
    assert rule.field in fields
