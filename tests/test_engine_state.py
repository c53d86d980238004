"""State to JSON and back without loss, and the same inputs always giving the same outputs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from kitekit.engine import Engine, EngineConfig, MarketQuote, apply_changes
from kitekit.engine.quote import Level
from kitekit.wire.orders import GttStatus, OrderStatus, OrderType
from tests.engine_helpers import INFY, MONDAY_OPEN, NIFTY_FUT, NOW, RESOLVE, at, engine, infy, order, quote


def _first_half(eng: Engine) -> None:
    eng.add_holding("NSE", "RELIANCE", 10, 2500.0, NOW)
    eng.on_quotes([infy(), quote(NIFTY_FUT, 24000.0, NOW, asks=[(24000.0, 150)], close=23950.0)], NOW)
    eng.place_order("regular", order(INFY, "BUY", 300, price=1500.05), NOW)  # partial fill, rests
    eng.place_order("regular", order(INFY, "SELL", 50, "SL", price=1480.0, trigger_price=1485.0), NOW)
    eng.place_order("regular", order(INFY, "BUY", 10, price=1400.0, validity="TTL", validity_ttl=30), NOW)
    eng.place_order("regular", order(NIFTY_FUT, "BUY", 75, "MARKET", product="NRML"), NOW)
    eng.place_order("co", order(INFY, "BUY", 5, "MARKET", trigger_price=1450.0), NOW)
    eng.place_order("iceberg", order(INFY, "BUY", 30, price=1450.0, iceberg_legs=3, iceberg_quantity=10), NOW)
    gtt = {
        "type": "single",
        "condition": json.dumps(
            {"exchange": "NSE", "tradingsymbol": "INFY", "trigger_values": [1600.0], "last_price": 1500.0}
        ),
        "orders": json.dumps(
            [
                {
                    "exchange": "NSE",
                    "tradingsymbol": "INFY",
                    "transaction_type": "SELL",
                    "quantity": 5,
                    "order_type": "LIMIT",
                    "product": "MIS",
                    "price": 1599.0,
                }
            ]
        ),
    }
    eng.place_gtt(gtt, NOW)
    eng.on_quotes([infy(1502.0, at(1))], at(1))


def _second_half(eng: Engine) -> dict[str, Any]:
    eng.on_quotes([infy(1484.0, at(10))], at(10))  # fires the SL sell
    eng.on_quotes([infy(1600.5, at(20))], at(20))  # fires the GTT
    eng.advance(at(45))  # the TTL order lapses
    evening = NOW.replace(hour=19)
    eng.place_order("amo", order(INFY, "BUY", 5, price=1610.0, product="CNC"), evening)
    eng.on_quotes([infy(1605.0, at(1, MONDAY_OPEN))], at(1, MONDAY_OPEN))
    return _snapshot(eng, at(1, MONDAY_OPEN))


def _snapshot(eng: Engine, now: datetime) -> dict[str, Any]:
    return {
        "orders": eng.orders(now),
        "histories": {o["order_id"]: eng.order_history(o["order_id"], now) for o in eng.orders(now)},
        "trades": eng.trades(now),
        "positions": eng.positions(now),
        "holdings": eng.holdings(now),
        "margins": eng.margins(now),
        "gtts": eng.gtts(now),
        "updates": eng.drain_updates(),
    }


def test_state_survives_a_json_round_trip_and_the_restored_engine_carries_on_identically() -> None:
    original = engine()
    _first_half(original)
    original.drain_updates()
    state = original.to_state()
    restored = Engine.from_state(json.loads(json.dumps(state)), RESOLVE, EngineConfig())
    assert restored.to_state() == state
    assert _second_half(restored) == _second_half(original)


def test_the_saved_state_holds_every_book() -> None:
    eng = engine()
    _first_half(eng)
    account = eng.to_state()["account"]
    assert {"orders", "trades", "positions", "holdings", "funds", "gtts", "quotes", "specs", "ids"} <= set(account)
    assert json.loads(json.dumps(account)) == account  # plain JSON values only


def test_a_state_of_another_version_is_refused() -> None:
    state = engine().to_state()
    with pytest.raises(ValueError, match="version"):
        Engine.from_state({**state, "version": 99}, RESOLVE)


def test_the_same_seed_clock_and_orders_give_the_same_results() -> None:
    runs = []
    for _ in range(2):
        eng = engine(seed=7)
        _first_half(eng)
        runs.append(_second_half(eng))
    assert runs[0] == runs[1]


def test_another_seed_changes_the_ids_but_not_the_trading() -> None:
    a, b = engine(seed=1), engine(seed=2)
    for eng in (a, b):
        _first_half(eng)
    sa, sb = _second_half(a), _second_half(b)
    assert {o["order_id"] for o in sa["orders"]}.isdisjoint(o["order_id"] for o in sb["orders"])
    key = ("tradingsymbol", "status", "filled_quantity", "average_price")
    assert [tuple(o[k] for k in key) for o in sa["orders"]] == [tuple(o[k] for k in key) for o in sb["orders"]]
    assert sa["positions"] == sb["positions"]


def test_engines_sharing_liquidity_compete_for_the_same_depth() -> None:
    from kitekit.engine import Liquidity

    shared = Liquidity()
    one = Engine(RESOLVE, NOW, EngineConfig(seed=1), liquidity=shared)
    two = Engine(RESOLVE, NOW, EngineConfig(seed=2), liquidity=shared)
    book = MarketQuote(INFY.instrument_token, 1500.0, NOW, (), (Level(1500.0, 100), Level(1500.05, 100)))
    for eng in (one, two):
        eng.on_quotes([book], NOW)
        eng.place_order("regular", order(INFY, "BUY", 100, "MARKET"), NOW)
    assert one.trades(NOW)[0]["average_price"] == 1500.0
    assert two.trades(NOW)[0]["average_price"] == 1500.05


class _Folding:
    """An engine whose every call is followed by its changes, folded into a state kept beside it (as a ledger)."""

    def __init__(self, eng: Engine, check_each: bool) -> None:
        self.eng, self.check_each = eng, check_each
        self.state = json.loads(json.dumps(eng.to_state()))
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.eng, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            apply_changes(self.state, json.loads(json.dumps(self.eng.changes())))
            self.calls += 1
            if self.check_each:
                assert self.state == self.eng.to_state(), f"after {name}"
            return result

        return call


@pytest.mark.parametrize("check_each", [True, False])
def test_the_changes_of_every_call_folded_into_the_first_state_give_the_state_now(check_each: bool) -> None:
    eng = engine()
    folding = _Folding(eng, check_each)
    _first_half(folding)  # type: ignore[arg-type]
    assert folding.state == eng.to_state()
    _second_half(folding)  # type: ignore[arg-type]  # fills, a GTT, a TTL lapse, an AMO, a new session
    assert folding.calls > 15 and folding.state == eng.to_state()
    assert Engine.from_state(folding.state, RESOLVE, EngineConfig()).to_state() == eng.to_state()


def test_a_change_holds_only_what_the_call_touched() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    for i in range(50):
        eng.place_order("regular", order(INFY, "BUY" if i % 2 else "SELL", 1, "MARKET"), NOW)
    eng.place_order("regular", order(INFY, "BUY", 1, price=1400.0), NOW)  # rests
    eng.changes()
    new = eng.place_order("regular", order(INFY, "BUY", 1, "MARKET"), at(1))["order_id"]
    change = eng.changes()
    assert list(change["orders"]) == [new]  # not the 50 finished ones, nor the one still resting unchanged
    assert len(change["trades"]) == 1 and "orders" not in change["set"] and "trades" not in change["set"]


def _resting_walked(eng: Engine) -> dict[int, list[float]]:
    """The resting prices found the slow way: a walk over every live order and GTT."""
    levels: dict[int, set[float]] = {}
    for o in eng._account.live():  # the index is checked against the orders themselves
        if o.status is OrderStatus.AMO_REQ_RECEIVED:
            continue
        prices = levels.setdefault(o.instrument_token, set())
        if o.order_type in (OrderType.LIMIT, OrderType.SL) and o.price:
            prices.add(o.price)
        if o.is_stop and not o.triggered:
            prices.add(o.trigger_price)
        if o.cap_price:
            prices.add(o.cap_price)
    for g in eng._account.gtts.values():
        if g.status is GttStatus.ACTIVE:
            levels.setdefault(g.instrument_token, set()).update(g.trigger_values)
    return {t: sorted(p) for t, p in levels.items() if p}


class _Checking:
    """An engine whose resting prices are checked against a walk over its orders after every call."""

    def __init__(self, eng: Engine) -> None:
        self.eng, self.checked = eng, 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.eng, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            assert self.eng.resting_levels() == _resting_walked(self.eng), f"after {name}"
            self.checked += 1
            return result

        return call


def test_the_resting_prices_kept_as_orders_change_are_those_of_the_live_orders() -> None:
    eng = engine()
    checking = _Checking(eng)
    _first_half(checking)  # type: ignore[arg-type]
    assert eng.resting_levels()[INFY.instrument_token]  # limits, a stop, a GTT rest on INFY
    [ttl] = [o["order_id"] for o in eng.orders(at(1)) if o["price"] == 1400.0]
    checking.modify_order("regular", ttl, {"price": "1401.0"}, at(2))
    checking.on_quotes([infy(1503.0, at(3))], at(3))
    checking.place_order("regular", order(INFY, "BUY", 1000, "MARKET"), at(3))  # the rest waits at its band
    _second_half(checking)  # type: ignore[arg-type]
    restored = Engine.from_state(eng.to_state(), RESOLVE, EngineConfig())
    assert checking.checked > 15 and restored.resting_levels() == eng.resting_levels()
