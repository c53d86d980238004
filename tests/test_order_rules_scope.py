"""Where a rule says it cannot break (its order types, varieties, banded exchanges), it never does.

The engine runs only the market rules that can break for an order's type and variety
(:func:`kitekit.wire.order_rules.scoped`), so a rule's declared scope must never be narrower than its test:
generated terms and markets of every order type, variety and exchange are judged by every rule, and the
first rule broken is the same over the scoped list as over the whole one.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from kitekit.engine import InstrumentSpec, MarketQuote
from kitekit.wire.order_rules import (
    MARKET_RULES,
    MODIFY_MARKET_RULES,
    MODIFY_RULES,
    ORDER_RULES,
    PLACE_RULES,
    TRIGGER_RULES,
    TRIGGERED_MARKET_RULES,
    Facts,
    Scopes,
    first_breach,
    scoped,
)
from kitekit.wire.order_terms import OrderLimits, PlaceRequest
from kitekit.wire.orders import OrderType, Product, TransactionType, Validity, Variety
from tests.engine_helpers import GOLDM, INFY, NIFTY_CE, NIFTY_FUT, NIFTY_INDEX, NOW, quote

BSE_FUT = dataclasses.replace(NIFTY_FUT, instrument_token=1, exchange="BFO", tradingsymbol="SENSEX26DECFUT")
SPECS = (INFY, NIFTY_FUT, NIFTY_CE, GOLDM, NIFTY_INDEX, BSE_FUT)
LISTS = (PLACE_RULES, MODIFY_RULES, MARKET_RULES, TRIGGER_RULES, MODIFY_MARKET_RULES, TRIGGERED_MARKET_RULES)


@st.composite
def cases(draw: st.DrawFn) -> tuple[PlaceRequest, Facts]:
    """Return terms of any type and variety, priced around (and far from) a market that may be missing."""
    spec: InstrumentSpec = draw(st.sampled_from(SPECS))
    last = draw(st.sampled_from([0.0, 40.0, 120.0, 1500.0, 24000.0]))
    tick = spec.tick_size
    near = st.sampled_from([0.0, -tick, tick / 3, last, last * 0.5, last * 0.97, last * 1.03, last * 2, 49.0])
    price, trigger = draw(near), draw(near)
    market: MarketQuote | None = None
    if draw(st.booleans()):
        lower, upper = draw(st.sampled_from([0.0, last * 0.9])), draw(st.sampled_from([0.0, last * 1.1]))
        average = draw(st.sampled_from([0.0, last, last * 1.05]))
        market = dataclasses.replace(quote(spec, last, lower=lower, upper=upper), average_price=average)
    req = PlaceRequest(
        draw(st.sampled_from(list(Variety))),
        spec.exchange,
        spec.tradingsymbol,
        draw(st.sampled_from(list(TransactionType))),
        draw(st.sampled_from(list(OrderType))),
        draw(st.sampled_from(list(Product))),
        draw(st.sampled_from([-1, 0, 1, 75, 1875, 20000])),
        price,
        trigger,
        draw(st.sampled_from(list(Validity))),
        draw(st.sampled_from([None, 0, 90])),
        draw(st.sampled_from([0, 10, 75])),
        draw(st.sampled_from([0, 2, 11])),
        draw(st.sampled_from([0, 75, 1000])),
        draw(st.sampled_from([None, "", "7"])),
        draw(st.sampled_from([None, "tag1", "bad tag"])),
        draw(st.sampled_from([0.0, -1.0, 2.5, 150.0])),
        draw(st.booleans()),
    )
    return req, Facts(spec, OrderLimits(), draw(st.sampled_from([None, NOW.date()])), market)


@settings(max_examples=1000, deadline=None)
@given(cases())
def test_a_rule_never_breaks_outside_its_scope(case: tuple[PlaceRequest, Facts]) -> None:
    req, facts = case
    for rule in ORDER_RULES:
        if not rule.can_break(req.order_type, req.variety, facts.spec.exchange):
            assert not rule.breaks(req, facts), f"{rule.name} broke outside its declared scope: {req}"


@settings(max_examples=1000, deadline=None)
@given(cases())
def test_the_scoped_rules_answer_as_all_of_them(case: tuple[PlaceRequest, Facts]) -> None:
    req, facts = case
    for rules in LISTS:
        narrowed = scoped(rules, req.order_type, req.variety, facts.spec.exchange)
        assert narrowed == tuple(r for r in rules if r in narrowed)  # a subsequence: the order is kept
        assert first_breach(narrowed, req, facts) is first_breach(rules, req, facts)


def test_a_cash_limit_order_meets_only_the_circuit() -> None:
    # What the engine's speed rests on (BENCHMARKS.md): a LIMIT order on NSE is judged by one market rule.
    names = [r.name for r in scoped(MARKET_RULES, OrderType.LIMIT, Variety.REGULAR, "NSE")]
    assert names == ["price_circuit"]
    assert [r.name for r in scoped(MARKET_RULES, OrderType.LIMIT, Variety.REGULAR, "NFO")] == [
        "price_circuit",
        "price_band",
    ]
    assert [r.name for r in scoped(MARKET_RULES, OrderType.SL_M, Variety.CO, "NSE")] == [
        "trigger_circuit",
        "stop_passed",
        "cover_stop_side",
    ]


def test_the_scopes_kept_for_an_exchange_are_the_scoped_rules() -> None:
    # The engine keeps each instrument's scoped rules by order type and variety (Scopes): they must be
    # scoped()'s own, whichever order type and variety asks first.
    for rules in LISTS:
        for spec in SPECS:
            kept = Scopes(rules, spec.exchange)
            for variety in reversed(Variety):
                for order_type in OrderType:
                    assert kept.of(order_type, variety) == scoped(rules, order_type, variety, spec.exchange)
                    assert kept.of(order_type, variety) is kept.of(order_type, variety)
