"""The typed order path (``Engine.submit``) against Kite's form path, incremental margins, lazy order dicts.

Friday 2026-11-27 mid-session (``tests/engine_helpers.py``); sequences may run into the close and Monday.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kitekit.engine import Engine, InstrumentSpec, PlaceRequest, margins
from kitekit.wire.envelope import RejectionError
from kitekit.wire.orders import OrderType, Product, TransactionType, Validity, Variety
from tests.engine_helpers import (
    GOLDM,
    INFY,
    MONDAY_OPEN,
    NIFTY_CE,
    NIFTY_FUT,
    NOW,
    RELIANCE,
    at,
    engine,
    infy,
    order,
    quote,
)

SPECS = (INFY, RELIANCE, NIFTY_FUT, NIFTY_CE, GOLDM)
LTP = {INFY.instrument_token: 1500.0, RELIANCE.instrument_token: 2500.0, NIFTY_FUT.instrument_token: 24000.0}
LTP |= {NIFTY_CE.instrument_token: 200.0, GOLDM.instrument_token: 70000.0}


def _book(spec: InstrumentSpec, ltp: float, size_lots: int, now: Any) -> Any:
    tick, size = spec.tick_size, size_lots * max(spec.lot_size, 1)
    bids = [(round(ltp - tick * (i + 1), 2), size) for i in range(3)]
    asks = [(round(ltp + tick * i, 2), size) for i in range(3)]
    return quote(spec, ltp, now, bids, asks, round(ltp * 0.9, 1), round(ltp * 1.1, 1), round(ltp * 0.99, 1))


# One step of a sequence, as plain values: both paths are driven from the same step.
quote_step = st.tuples(st.just("quote"), st.sampled_from(range(len(SPECS))), st.integers(-40, 40), st.integers(1, 30))
place_step = st.tuples(
    st.just("place"),
    st.sampled_from(range(len(SPECS))),
    st.sampled_from(["BUY", "SELL"]),
    st.sampled_from(["LIMIT", "LIMIT", "MARKET", "SL", "SL-M"]),
    st.sampled_from([0, 0, 1]),  # the product: MIS, or the segment's overnight one (CNC, NRML)
    st.integers(1, 12),  # lots
    st.integers(-20, 20),  # price, in ticks from the last price
    st.sampled_from(["regular", "regular", "regular", "regular", "amo", "co"]),
    st.sampled_from(["DAY", "DAY", "IOC"]),
)
cancel_step = st.tuples(st.just("cancel"), st.integers(0, 50))
advance_step = st.tuples(st.just("advance"), st.sampled_from([1, 1, 5, 30, 260, 1200]))
convert_step = st.tuples(st.just("convert"), st.sampled_from(range(len(SPECS))), st.integers(1, 3))
steps = st.lists(
    st.one_of(quote_step, place_step, place_step, place_step, cancel_step, advance_step, convert_step),
    min_size=8,
    max_size=50,
)


def _prices(spec: InstrumentSpec, side: str, order_type: str, ticks: int) -> tuple[float, float]:
    ltp, tick = LTP[spec.instrument_token], spec.tick_size
    price = round(ltp + ticks * tick, 2)
    if order_type in ("SL", "SL-M"):  # a stop away from the market, on the side it waits on
        trigger = round(ltp + (abs(ticks) + 2) * tick * (1 if side == "BUY" else -1), 2)
        price = trigger if order_type == "SL" else price
        return price, trigger
    return price, 0.0


def _form(step: tuple[Any, ...]) -> tuple[str, dict[str, str]]:
    _, i, side, order_type, overnight, lots, ticks, variety, validity = step
    spec = SPECS[i]
    product = "MIS" if variety == "co" or not overnight else ("NRML" if spec.is_derivative else "CNC")
    price, trigger = _prices(spec, side, order_type, ticks)
    params = order(spec, side, lots * max(spec.lot_size, 1), order_type, price, product, validity=validity)
    if trigger:
        params["trigger_price"] = str(trigger)
    if variety == "co":
        params["trigger_price"] = str(round(price - 10 * spec.tick_size * (1 if side == "BUY" else -1), 2))
    return variety, params


def _typed(step: tuple[Any, ...]) -> PlaceRequest:
    variety, params = _form(step)
    # The same order as the form, built in code: enums, ints and floats, the MARKET price left in.
    return PlaceRequest(
        variety=Variety(variety),
        exchange=params["exchange"],
        tradingsymbol=params["tradingsymbol"],
        transaction_type=TransactionType(params["transaction_type"]),
        order_type=OrderType(params["order_type"]),
        product=Product(params["product"]),
        quantity=int(params["quantity"]),
        price=float(params.get("price", 0.0)),
        trigger_price=float(params.get("trigger_price", 0.0)),
        validity=Validity(params["validity"]),
        market_protection=int(params.get("market_protection", 0)),
    )


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except RejectionError as exc:
        return ("refused", exc.error_type, exc.message)


def _run(eng: Engine, step: tuple[Any, ...], now: Any, typed: bool, placed: list[str]) -> tuple[Any, Any]:
    """Apply one step; return (what the call answered, the new now)."""
    kind = step[0]
    if kind == "quote":
        _, i, ticks, lots = step
        spec = SPECS[i]
        ltp = LTP[spec.instrument_token] = round(max(LTP[spec.instrument_token] + ticks * spec.tick_size, 1.0), 2)
        eng.on_quotes([_book(spec, ltp, lots, now)], now)
        return None, now
    if kind == "place":
        if typed:
            answer = _outcome(lambda: eng.submit(_typed(step), now))
        else:
            answer = _outcome(lambda: eng.place_order(*_form(step), now))
        if isinstance(answer, dict):
            placed.append(answer["order_id"])
        return answer, now
    if kind == "cancel":
        if not placed:
            return None, now
        oid = placed[step[1] % len(placed)]
        variety = next((o["variety"] for o in eng.orders(now) if o["order_id"] == oid), "regular")
        return _outcome(lambda: eng.cancel_order(variety, oid, now)), now
    if kind == "advance":
        now = now + timedelta(minutes=step[1])
        eng.advance(now)
        return None, now
    _, i, lots = step
    spec = SPECS[i]
    mis = next((p for p in eng.positions(now)["net"] if p["instrument_token"] == spec.instrument_token), None)
    side = "SELL" if mis is not None and mis["product"] == "MIS" and mis["quantity"] < 0 else "BUY"
    params = {
        "exchange": spec.exchange,
        "tradingsymbol": spec.tradingsymbol,
        "transaction_type": side,
        "position_type": "day",
        "quantity": str(lots * max(spec.lot_size, 1)),
        "old_product": "MIS",
        "new_product": "NRML" if spec.is_derivative else "CNC",
    }
    return _outcome(lambda: eng.convert_position(params, now)), now


def _full_available(eng: Engine, segment: str) -> float:
    """What a new order of ``segment`` may block, summed over every position from scratch."""
    acct = eng._account
    delivery, other, unrealised = acct.position_margins(segment)
    return acct.funds[segment].available(delivery.total + other.total, unrealised)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(sequence=steps)
def test_typed_and_form_paths_leave_identical_state(sequence: list[tuple[Any, ...]]) -> None:
    saved = dict(LTP)
    try:
        by_form, typed = engine(equity_funds=2_000_000.0), engine(equity_funds=2_000_000.0)
        now = NOW
        placed_form: list[str] = []
        placed_typed: list[str] = []
        for s in SPECS:
            for eng in (by_form, typed):
                eng.on_quotes([_book(s, LTP[s.instrument_token], 5, now)], now)
        for step in sequence:
            prices = dict(LTP)
            answer_form, _ = _run(by_form, step, now, False, placed_form)
            LTP.update(prices)  # the second engine sees the same prices
            answer_typed, now = _run(typed, step, now, True, placed_typed)
            assert answer_typed == answer_form, step
            assert typed.drain_updates() == by_form.drain_updates(), step
            for segment in ("equity", "commodity"):
                assert typed._account.available(segment) == pytest.approx(_full_available(typed, segment), abs=1e-6)
        assert typed.to_state() == by_form.to_state()
        assert typed.orders(now) == by_form.orders(now)
        for listed in typed.orders(now):  # today's book (a new session starts an empty one)
            oid = listed["order_id"]
            assert typed.order_history(oid, now) == by_form.order_history(oid, now)
        assert typed.positions(now) == by_form.positions(now)
        assert typed.margins(now) == by_form.margins(now)
    finally:
        LTP.clear()
        LTP.update(saved)


def test_submit_places_what_place_order_places() -> None:
    form, typed = engine(), engine()
    for eng in (form, typed):
        eng.on_quotes([infy(1500.0)], NOW)
    a = form.place_order("regular", order(INFY, "BUY", 10, "LIMIT", 1500.0), NOW)
    b = typed.submit(
        PlaceRequest(Variety.REGULAR, "NSE", "INFY", TransactionType.BUY, OrderType.LIMIT, Product.MIS, 10, 1500.0),
        NOW,
    )
    assert a == b
    assert typed.order_history(b["order_id"], NOW) == form.order_history(a["order_id"], NOW)
    assert [o["status"] for o in typed.orders(NOW)] == ["COMPLETE"]


_GOOD = PlaceRequest(Variety.REGULAR, "NSE", "INFY", TransactionType.BUY, OrderType.LIMIT, Product.MIS, 10, 1500.0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"product": "MIS"}, "product"),
        ({"variety": "regular"}, "variety"),
        ({"quantity": 10.0}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"quantity": 10**13}, "quantity"),
        ({"price": math.nan}, "price"),
        ({"price": math.inf}, "price"),
        ({"price": "1500"}, "price"),
        ({"trigger_price": -1e13}, "trigger_price"),
        ({"validity_ttl": 5.0}, "validity_ttl"),
        ({"tradingsymbol": None}, "tradingsymbol"),
        ({"tag": 7}, "tag"),
        ({"market_protection": math.nan}, "market_protection"),
        ({"algo_id": 7}, "algo_id"),
    ],
)
def test_submit_refuses_what_no_form_could_carry(change: dict[str, Any], field: str) -> None:
    eng = engine()
    eng.on_quotes([infy(1500.0)], NOW)
    with pytest.raises(RejectionError) as refused:
        eng.submit(dataclasses.replace(_GOOD, **change), NOW)
    assert refused.value.error_type == "InputException"
    assert f"`{field}`" in refused.value.message
    assert eng.orders(NOW) == []


def test_submit_drops_a_market_orders_price_as_parsing_does() -> None:
    # A stray price on a protected MARKET order is dropped, as the form's parser drops it: the order is booked
    # as a LIMIT at its protection price (issue 23) whichever door it came in by, never at the stray price.
    form, typed = engine(), engine()
    for eng in (form, typed):
        eng.on_quotes([infy(1500.0)], NOW)
    market = dataclasses.replace(_GOOD, order_type=OrderType.MARKET, price=1499.0, market_protection=-1)
    oid = typed.submit(market, NOW)["order_id"]
    fields = order(INFY, "BUY", 10, "MARKET", 1499.0, market_protection="-1")
    assert form.place_order("regular", fields, NOW)["order_id"] == oid
    booked = typed.order_history(oid, NOW)
    assert booked == form.order_history(oid, NOW)
    assert booked[0]["order_type"] == "LIMIT" and booked[0]["price"] not in (0, 1499.0)
    assert booked[0]["market_protection"] == 0 and "mktp" in booked[0]["tags"]
    assert typed.orders(NOW)[0]["status"] == "COMPLETE"


def test_submit_takes_a_whole_market_protection_as_parsing_does() -> None:
    # market_protection is a float since 2026 (2.5 allowed); a typed request may still carry a whole number.
    whole, fraction = engine(), engine()
    for eng in (whole, fraction):
        eng.on_quotes([infy(1500.0)], NOW)
    request = dataclasses.replace(_GOOD, order_type=OrderType.MARKET, price=0.0)
    a = whole.submit(dataclasses.replace(request, market_protection=2), NOW)["order_id"]
    b = fraction.submit(dataclasses.replace(request, market_protection=2.0), NOW)["order_id"]
    assert whole.order_history(a, NOW) == fraction.order_history(b, NOW)
    assert "mktp:2.00" in whole.order_history(a, NOW)[0]["tags"]


def test_an_order_remargins_only_its_own_instrument(monkeypatch: pytest.MonkeyPatch) -> None:
    # 16 instruments with open positions: a new order on one of them must not re-margin the other 15.
    specs = [InstrumentSpec(7000 + i, "NSE", f"S{i}", "NSE", "EQ", 0.05, 1) for i in range(16)]
    table = {(s.exchange, s.tradingsymbol): s for s in specs}
    eng = Engine(lambda exchange, symbol: table.get((exchange, symbol)), NOW)
    for s in specs:
        eng.on_quotes([_book(s, 100.0, 100, NOW)], NOW)
        eng.place_order("regular", order(s, "BUY", 5, "LIMIT", 100.0), NOW)
    eng._account.available("equity")  # settle the totals of the positions just opened
    counted: list[int] = []
    real = margins.margin_total

    def counting(spec: InstrumentSpec, *args: Any) -> float:
        counted.append(spec.instrument_token)
        return real(spec, *args)

    # Counts the instruments re-margined, and margins them as before.
    monkeypatch.setattr("kitekit.engine.account.margin_total", counting)
    for i in range(4):
        eng.on_quotes([_book(specs[3], 100.0 + i * 0.05, 100, at(i))], at(i))
        eng.place_order("regular", order(specs[3], "SELL", 1, "LIMIT", 99.95), at(i))
    assert set(counted) == {specs[3].instrument_token}
    assert eng._account.available("equity") == pytest.approx(_full_available(eng, "equity"), abs=1e-6)


def test_updates_and_history_are_fresh_dicts_each_read() -> None:
    eng = engine()
    eng.on_quotes([infy(1500.0)], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 5, "LIMIT", 1500.0), NOW)["order_id"]
    updates = eng.drain_updates()
    assert [u["status"] for u in updates] == ["OPEN", "COMPLETE"]
    updates[0]["status"] = "scribbled"
    history = eng.order_history(oid, NOW)
    history[0]["status"] = "scribbled"
    assert [s["status"] for s in eng.order_history(oid, NOW)] == [
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "OPEN",
        "COMPLETE",
    ]
    assert eng.drain_updates() == []
    # The history as saved is the dicts read back, and a restored order reads the same.
    state = eng.to_state()
    assert state["account"]["orders"][oid]["history"] == eng.order_history(oid, NOW)
    again = Engine.from_state(state, eng._flow.resolve)
    assert again.order_history(oid, NOW) == eng.order_history(oid, NOW)
    assert again.to_state() == state


def test_an_order_booked_at_its_first_quote_keeps_the_tags_of_its_earlier_states() -> None:
    # A protected MARKET AMO is priced at the open and tagged mktp then; the states before it say what was
    # true before it (the lazy history must not read the new tags into them).
    evening = NOW.replace(hour=20)
    eng = engine(evening)
    eng.on_quotes([infy(when=NOW.replace(hour=15, minute=29))], evening)
    oid = eng.place_order("amo", order(INFY, "BUY", 10, "MARKET", product="CNC"), evening)["order_id"]
    monday = at(1, MONDAY_OPEN)
    eng.on_quotes([infy(1501.0, monday)], monday)
    history = eng.order_history(oid, monday)
    queued = next(s for s in history if s["status"] == "AMO REQ RECEIVED")
    assert "tags" not in queued and queued["order_type"] == "MARKET"
    assert history[-1]["status"] == "COMPLETE" and history[-1]["tags"] == ["mktp", "mktp:0.50"]


def test_a_history_read_between_states_reads_every_state_after_it_too_and_after_a_restore() -> None:
    # States are kept as snapshots until read, then as dicts: a read in the middle of an order's life must
    # not hide or reorder the states that come after it, nor must a restore.
    eng = engine()
    eng.on_quotes([infy(1500.0)], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 5, "LIMIT", 1490.0), NOW)["order_id"]
    opened = ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN"]
    assert [s["status"] for s in eng.order_history(oid, NOW)] == opened
    eng.modify_order("regular", oid, {"price": "1489"}, NOW)
    modified = [*opened, "MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED", "OPEN"]
    history = eng.order_history(oid, NOW)
    assert [s["status"] for s in history] == modified
    assert [s["price"] for s in history] == [1490] * 6 + [1489] * 2
    again = Engine.from_state(eng.to_state(), eng._flow.resolve)
    for each in (eng, again):
        each.cancel_order("regular", oid, NOW)
        assert [s["status"] for s in each.order_history(oid, NOW)] == [*modified, "CANCEL PENDING", "CANCELLED"]
    assert again.order_history(oid, NOW) == eng.order_history(oid, NOW)


def test_a_place_request_takes_its_fields_in_their_order_with_their_defaults() -> None:
    # PlaceRequest's __init__ is written out (each slot set through its own setter, for speed): it must stay
    # the dataclass's own, field for field.
    parameters = list(inspect.signature(PlaceRequest).parameters.values())
    fields = dataclasses.fields(PlaceRequest)
    assert [p.name for p in parameters] == [f.name for f in fields]
    assert [p.default for p in parameters] == [
        inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default for f in fields
    ]
    values = [object() for _ in fields]
    request = PlaceRequest(*values)  # type: ignore[arg-type]
    assert [getattr(request, f.name) for f in fields] == values
    assert dataclasses.replace(request) == request
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.price = 1.0  # type: ignore[misc]
