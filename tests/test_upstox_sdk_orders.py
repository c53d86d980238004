"""Orders, books, positions, holdings and funds through the unmodified upstox-python-sdk on the Upstox simulator.

Every test runs at ``SIM_NOW`` (Friday 2026-11-27, 11:00 IST, mid-session) unless it moves ``sim_clock``.
"""

from __future__ import annotations

from datetime import datetime

import pytest
import upstox_client
from upstox_client.rest import ApiException

from kitekit.clock import IST, ManualClock
from kitekit.sim.upstox import UpstoxServer
from kitekit.wire.upstox.errors import decode_errors
from tests.upstox_helpers import API_VERSION, sdk_login

INFY = "NSE_EQ|INE00013A016"


def _infy(upstox_sim: UpstoxServer) -> str:
    listing = upstox_sim.sim.listing()
    return listing.keys[listing.universe.resolve("NSE:INFY") or 0]


def _market_buy(key: str, quantity: int, tag: str = "") -> dict[str, object]:
    body: dict[str, object] = dict(
        quantity=quantity,
        product="I",
        validity="DAY",
        price=0.0,
        instrument_token=key,
        order_type="MARKET",
        transaction_type="BUY",
        disclosed_quantity=0,
        trigger_price=0.0,
        is_amo=False,
    )
    if tag:
        body["tag"] = tag
    return body


def test_place_v2_fills_and_shows_in_books_positions_and_trades(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    key = _infy(upstox_sim)
    orders = upstox_client.OrderApi(client)
    placed = orders.place_order(upstox_client.PlaceOrderRequest(**_market_buy(key, 3, "t1")), API_VERSION)
    order_id = placed.data.order_id
    book = orders.get_order_book(API_VERSION).data
    mine = next(o for o in book if o.order_id == order_id)
    assert (mine.status, mine.instrument_token, mine.product, mine.tag) == ("complete", key, "I", "t1")
    assert orders.get_order_status(order_id=order_id).data.filled_quantity == 3
    states = orders.get_order_details(API_VERSION, order_id=order_id).data
    assert states[-1].status == "complete"
    trades = orders.get_trade_history(API_VERSION).data
    assert [t.quantity for t in trades if t.order_id == order_id] == [3]
    assert orders.get_trades_by_order(order_id, API_VERSION).data[0].order_type == "MARKET"
    positions = upstox_client.PortfolioApi(client).get_positions(API_VERSION).data
    assert next(p for p in positions if p.instrument_token == key).quantity == 3


def test_limit_order_modified_then_cancelled_v2_and_v3(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    key = _infy(upstox_sim)
    quote = upstox_client.MarketQuoteApi(client).ltp(key, API_VERSION).data
    far = round(next(iter(quote.values())).last_price * 0.8, 1)
    body = {**_market_buy(key, 1), "order_type": "LIMIT", "price": far}
    v3 = upstox_client.OrderApiV3(client)
    placed = v3.place_order(upstox_client.PlaceOrderV3Request(**body))
    assert placed.metadata.latency >= 0
    (order_id,) = placed.data.order_ids
    modify = upstox_client.ModifyOrderRequest(
        quantity=2, validity="DAY", price=far - 1, order_id=order_id, order_type="LIMIT", trigger_price=0.0
    )
    assert upstox_client.OrderApi(client).modify_order(modify, API_VERSION).data.order_id == order_id
    assert v3.modify_order(modify).data.order_id == order_id
    assert v3.cancel_order(order_id).data.order_id == order_id
    status = upstox_client.OrderApi(client).get_order_status(order_id=order_id).data
    assert (status.status, status.quantity) == ("cancelled", 2)
    with pytest.raises(ApiException) as caught:
        upstox_client.OrderApi(client).cancel_order(order_id, API_VERSION)
    assert caught.value.status == 400


def test_v3_slice_splits_an_order_above_the_freeze_quantity(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    listing = upstox_sim.sim.listing()
    uni = listing.universe
    # The cheapest NIFTY call: a freeze quantity's worth stays within the account's margin.
    calls = [
        i for i in range(len(uni)) if uni.name[i] == "NIFTY" and uni.symbol[i].endswith("CE") and uni.last_price[i] > 0
    ]
    row = min(calls, key=lambda i: float(uni.last_price[i]))
    freeze, lot = listing.freeze_quantity(row), int(uni.lot[row])
    quantity = (freeze // lot + 1) * lot
    body = {**_market_buy(listing.keys[row], quantity), "product": "D", "slice": True}
    placed = upstox_client.OrderApiV3(client).place_order(upstox_client.PlaceOrderV3Request(**body))
    assert len(placed.data.order_ids) == 2
    unsliced = {**body, "slice": False}
    with pytest.raises(ApiException):  # over the freeze quantity without slicing: refused
        upstox_client.OrderApiV3(client).place_order(upstox_client.PlaceOrderV3Request(**unsliced))


def test_multi_order_answers_each_line_by_correlation_id(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    key = _infy(upstox_sim)
    good = upstox_client.MultiOrderRequest(**_market_buy(key, 1), slice=False, correlation_id="a1")
    bad = upstox_client.MultiOrderRequest(
        **{**_market_buy(key, 1), "instrument_token": "NSE_FO|1"}, slice=False, correlation_id="b2"
    )
    answer = upstox_client.OrderApi(client).place_multi_order([good, bad])
    assert answer.status == "partial_success"
    assert [d.correlation_id for d in answer.data] == ["a1"]
    assert answer.errors[0].correlation_id == "b2"
    assert (answer.summary.total, answer.summary.success, answer.summary.payload_error) == (2, 1, 1)


def test_multi_order_over_25_lines_is_refused(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    lines = [
        upstox_client.MultiOrderRequest(**_market_buy(_infy(upstox_sim), 1), slice=False, correlation_id=f"c{i}")
        for i in range(26)
    ]
    with pytest.raises(ApiException) as caught:
        upstox_client.OrderApi(client).place_multi_order(lines)
    assert caught.value.status == 400
    assert upstox_sim.sim.exchange.accepted_orders() == []


def test_holdings_and_funds(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    holdings = upstox_client.PortfolioApi(client).get_holdings(API_VERSION).data
    reliance = next(h for h in holdings if h.trading_symbol == "RELIANCE")
    assert reliance.quantity == 10 and reliance.instrument_token == f"NSE_EQ|{reliance.isin}"
    funds = upstox_client.UserApi(client).get_user_fund_margin(API_VERSION).data
    assert funds["equity"].available_margin > 0
    assert set(upstox_client.UserApi(client).get_user_fund_margin(API_VERSION, segment="COM").data) == {"commodity"}


def test_funds_are_unavailable_between_midnight_and_0530(upstox_sim: UpstoxServer, sim_clock: ManualClock) -> None:
    client, _ = sdk_login(upstox_sim)
    sim_clock.set(datetime(2026, 11, 28, 1, 0, tzinfo=IST))
    with pytest.raises(ApiException) as caught:
        upstox_client.UserApi(client).get_user_fund_margin(API_VERSION)
    assert decode_errors(caught.value.body)[0].error_code == "UDAPI100072"
    sim_clock.set(datetime(2026, 11, 28, 5, 30, tzinfo=IST))
    client, _ = sdk_login(upstox_sim)  # the night's token died at 03:30
    assert upstox_client.UserApi(client).get_user_fund_margin(API_VERSION).status == "success"


def test_the_token_dies_at_0330_next_day(upstox_sim: UpstoxServer, sim_clock: ManualClock) -> None:
    client, _ = sdk_login(upstox_sim)
    sim_clock.set(datetime(2026, 11, 28, 3, 29, tzinfo=IST))
    upstox_client.UserApi(client).get_profile(API_VERSION)
    sim_clock.set(datetime(2026, 11, 28, 3, 30, tzinfo=IST))
    with pytest.raises(ApiException) as caught:
        upstox_client.UserApi(client).get_profile(API_VERSION)
    assert caught.value.status == 401


def test_logout_revokes_the_token(upstox_sim: UpstoxServer) -> None:
    client, token = sdk_login(upstox_sim)
    # The SDK's logout() sends no Authorization of its own (auth_settings = []): the token goes as a header.
    client.set_default_header("Authorization", f"Bearer {token.access_token}")
    assert upstox_client.LoginApi(client).logout(API_VERSION).data is True
    with pytest.raises(ApiException) as caught:
        upstox_client.UserApi(client).get_profile(API_VERSION)
    assert caught.value.status == 401
