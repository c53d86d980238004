"""The broker contract: every neutral operation, written once, run against each broker on its simulator.

Each test reads only the neutral interfaces (``kitekit.brokers``) and the harness; a broker passes by keeping
the promises Kite's packages keep. The day is the simulator's: Friday 2026-11-27 11:00 IST (``SIM_NOW``).
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from pathlib import Path

import pytest

from kitekit.brokers import (
    CANDLE_COLUMNS,
    CHAIN_COLUMNS,
    BrokerInstruments,
    BrokerOrders,
    BrokerPair,
    BrokerSession,
    Endpoint,
    FeedMode,
    HistoryService,
    InstrumentKind,
    LiveFeed,
    QuoteService,
    Tick,
    derivative_symbol,
)
from kitekit.clock import IST
from kitekit.errors import (
    NoSessionError,
    OrderValidationError,
    PartialDataError,
    SessionExpiredError,
    UnknownInstrumentError,
)
from kitekit.orders import OrderRequest, OrderStatus

from ..conftest import eventually
from .conftest import Harness

INFY = "NSE:INFY"
NIFTY = "NSE:NIFTY 50"


# -- the parts ----------------------------------------------------------------------------------------------------
def test_every_part_of_the_broker_is_the_neutral_interface(logged_in: Harness) -> None:
    broker = logged_in.broker
    assert isinstance(broker.session, BrokerSession)
    assert isinstance(broker.instruments(), BrokerInstruments)
    assert isinstance(broker.quotes(), QuoteService)
    assert isinstance(broker.history(), HistoryService)
    assert isinstance(broker.feed(), LiveFeed)
    assert isinstance(broker.orders(), BrokerOrders)


def test_the_capabilities_describe_every_limit_the_neutral_layer_reads(harness: Harness) -> None:
    caps = harness.broker.capabilities
    assert caps.name == harness.broker.name and caps.label
    for endpoint in Endpoint:
        assert 0 < caps.rate(endpoint) < math.inf, endpoint
    assert {"ltp", "ohlc", "quote"} <= set(caps.quote_batch) and min(caps.quote_batch.values()) > 0
    assert {"minute", "day"} <= set(caps.history)
    assert set(caps.feed.modes) == {m.value for m in FeedMode} and caps.feed.capacity > 0
    assert caps.tag_ok("a1") and not caps.tag_ok("x" * (caps.tag.max_length + 1))
    assert caps.login_methods


# -- session ------------------------------------------------------------------------------------------------------
def test_a_login_saves_a_session_that_ends_at_the_brokers_daily_expiry(harness: Harness) -> None:
    session = harness.broker.session
    assert session.saved() is None
    assert session.login_hint in (session.advice() or "")
    with pytest.raises(NoSessionError):
        session.client()

    info = session.login_unattended()

    assert info.broker == harness.broker.name and info.user_id
    assert info.expires_at == session.next_expiry(info.login_time) > harness.clock.now()
    caps = harness.broker.capabilities
    if caps.session_lifetime is None:  # a daily flush (Kite, Upstox)
        assert info.expires_at.astimezone(IST).time() == caps.session_expiry
    else:  # a lifetime from the login (Angel One's JWT)
        assert info.expires_at - info.login_time == caps.session_lifetime
    assert session.valid() == info == session.saved()
    assert session.advice() is None


def test_the_advice_to_log_in_again_comes_within_the_horizon_and_after_the_expiry(logged_in: Harness) -> None:
    session = logged_in.broker.session
    info = session.saved()
    assert info is not None

    logged_in.clock.set(info.expires_at - timedelta(minutes=30))
    assert session.valid(timedelta(hours=1)) is None and session.valid() == info
    assert "in 30 minutes" in (session.advice(timedelta(hours=1)) or "")

    logged_in.clock.set(info.expires_at + timedelta(minutes=1))
    assert session.valid() is None
    advice = session.advice() or ""
    assert "expired" in advice and session.login_hint in advice
    with pytest.raises(SessionExpiredError):
        session.client()


def test_a_logout_ends_the_session_and_a_second_finds_none(logged_in: Harness) -> None:
    session = logged_in.broker.session
    assert session.logout() is True
    assert session.saved() is None and session.logout() is False


# -- instruments --------------------------------------------------------------------------------------------------
def test_an_equity_is_found_by_its_neutral_identity_and_by_the_brokers_own_key(logged_in: Harness) -> None:
    instruments = logged_in.broker.instruments().load()
    infy = instruments.instrument(INFY)
    assert (infy.key, infy.kind, infy.broker) == (INFY, InstrumentKind.EQUITY, logged_in.broker.name)
    assert infy.tick_size > 0 and infy.lot_size >= 1 and infy.tradable
    assert instruments.instrument(infy.broker_key) == infy
    assert instruments.key("INFY") == INFY and instruments.broker_key(INFY) == infy.broker_key
    assert instruments.search("INFY")[0].key == INFY


def test_an_index_is_an_index_by_its_name_and_takes_no_orders(logged_in: Harness) -> None:
    index = logged_in.broker.instruments().instrument("NIFTY 50")
    assert (index.key, index.kind, index.tradable) == (NIFTY, InstrumentKind.INDEX, False)


def test_futures_and_option_chains_name_every_contract_the_neutral_way(logged_in: Harness) -> None:
    instruments = logged_in.broker.instruments()
    future = instruments.nearest_future("NIFTY")
    assert future.kind is InstrumentKind.FUTURE and future.expiry is not None
    assert future.symbol == derivative_symbol(future.name, "FUT", future.expiry, monthly=True)
    assert instruments.futures("NIFTY")[0].key == future.key

    expiries = instruments.expiries("NIFTY")
    assert expiries == sorted(expiries) and expiries[0] >= logged_in.clock.now().date()
    chain = instruments.option_chain("NIFTY")
    assert tuple(chain.columns) == CHAIN_COLUMNS and len(chain) > 10
    row = chain.dropna().iloc[len(chain.dropna()) // 2]
    call, put = instruments.instrument(row["ce_key"]), instruments.instrument(row["pe_key"])
    assert (call.kind, put.kind) == (InstrumentKind.CALL, InstrumentKind.PUT)
    assert call.strike == put.strike == row["strike"] and call.expiry == put.expiry == expiries[0]
    assert call.broker_key == row["ce_broker_key"] and instruments.key(row["pe_broker_key"]) == put.key


def test_an_unknown_instrument_is_an_error_not_an_empty_answer(logged_in: Harness) -> None:
    with pytest.raises(UnknownInstrumentError):
        logged_in.broker.instruments().instrument("NSE:NO-SUCH-THING")


def test_the_pre_trade_rules_read_the_same_facts_as_the_neutral_instrument(logged_in: Harness) -> None:
    instruments = logged_in.broker.instruments()
    future = instruments.nearest_future("NIFTY")
    facts = instruments.rule_facts().instrument(future.key)
    assert (facts.exchange, facts.tradingsymbol, facts.instrument_type) == (future.exchange, future.symbol, "FUT")
    assert (facts.tick_size, facts.lot_size, facts.expiry) == (future.tick_size, future.lot_size, future.expiry)


# -- quotes -------------------------------------------------------------------------------------------------------
def test_quotes_come_back_under_the_callers_own_keys_with_neutral_fields(logged_in: Harness) -> None:
    quotes = logged_in.broker.quotes()
    infy = logged_in.broker.instruments().instrument(INFY)
    got = quotes.quote(INFY, "NIFTY 50", infy.broker_key)
    assert set(got) == {INFY, "NIFTY 50", infy.broker_key} and not got.missing
    assert got[INFY].key == got[infy.broker_key].key == INFY and got["NIFTY 50"].key == NIFTY
    full = got[INFY]
    assert full.last_price > 0 and full.timestamp is not None and full.timestamp.tzinfo is not None
    assert full.ohlc is not None and full.ohlc.low <= full.ohlc.high
    assert full.bids and full.asks and full.bids[0].price < full.asks[0].price
    assert [lv.price for lv in full.bids] == sorted((lv.price for lv in full.bids), reverse=True)
    assert quotes.ltp(INFY)[INFY].ohlc is None and quotes.ohlc(INFY)[INFY].ohlc is not None


def test_more_instruments_than_one_call_takes_are_batched_and_merged(logged_in: Harness) -> None:
    size = logged_in.broker.capabilities.quote_batch["ltp"]
    keys = logged_in.listed(size + 1)
    before = logged_in.calls("quote")
    got = logged_in.broker.quotes().ltp(*keys, strict=False)
    assert len(got) + len(got.missing) == size + 1 and len(got) > size // 2
    assert logged_in.calls("quote") - before == 2


def test_an_instrument_without_data_is_listed_with_the_reason(logged_in: Harness) -> None:
    quotes = logged_in.broker.quotes()
    with pytest.raises(PartialDataError) as failure:
        quotes.ltp(INFY, "NSE:NO-SUCH-THING")
    assert set(failure.value.data) == {INFY}
    lenient = quotes.ltp(INFY, "NSE:NO-SUCH-THING", strict=False)
    assert set(lenient) == {INFY} and set(lenient.missing) == {"NSE:NO-SUCH-THING"}


# -- history ------------------------------------------------------------------------------------------------------
def test_a_range_longer_than_one_request_comes_back_as_one_frame_without_seams(logged_in: Harness) -> None:
    caps = logged_in.broker.capabilities
    span = caps.span("minute").max_days
    assert span is not None
    now = logged_in.clock.now()
    before = logged_in.calls("history")
    frame = logged_in.broker.history().candles(INFY, "minute", now - timedelta(days=span + 3), now)
    assert logged_in.calls("history") - before >= 2
    assert set(CANDLE_COLUMNS) <= set(frame.columns) and len(frame) > 1000
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert str(getattr(frame.index, "tz", None)) == str(IST)
    assert (frame["low"] <= frame["high"]).all()


# -- the live feed ------------------------------------------------------------------------------------------------
def test_the_feed_delivers_neutral_ticks_keyed_by_identity_in_each_mode(logged_in: Harness) -> None:
    feed = logged_in.broker.feed()
    seen: list[Tick] = []
    feed.on_ticks = seen.extend
    assert feed.subscribe([INFY, "NIFTY 50"], FeedMode.FULL) == [INFY, NIFTY]
    assert feed.subscriptions == {INFY: FeedMode.FULL, NIFTY: FeedMode.FULL}
    feed.start()
    try:
        eventually(lambda: {t.key for t in list(seen)} == {INFY, NIFTY})
        infy = next(t for t in list(seen) if t.key == INFY)
        assert infy.last_price > 0 and infy.timestamp is not None and infy.timestamp.tzinfo is not None
        assert infy.bids and infy.asks
        feed.set_mode(FeedMode.LTP, [INFY])
        assert feed.subscriptions[INFY] is FeedMode.LTP
        assert feed.unsubscribe(["NIFTY 50"]) == [NIFTY] and set(feed.subscriptions) == {INFY}
    finally:
        feed.stop()


def test_the_feed_is_iterated_under_asyncio(logged_in: Harness) -> None:
    feed = logged_in.broker.feed()
    feed.subscribe([INFY], FeedMode.QUOTE)

    async def first() -> list[Tick]:
        async with feed:
            async for ticks in feed:
                return ticks
        return []

    ticks = asyncio.run(asyncio.wait_for(first(), timeout=15))
    assert ticks and {t.key for t in ticks} == {INFY} and not feed.running


# -- orders -------------------------------------------------------------------------------------------------------
def test_paper_is_the_default_and_places_each_intent_once(logged_in: Harness, tmp_path: Path) -> None:
    gateway = logged_in.broker.orders(folder=tmp_path / "paper")
    assert gateway.paper
    placed = gateway.place(OrderRequest.buy(INFY, 1), "contract-paper-1")
    again = gateway.place(OrderRequest.buy(INFY, 1), "contract-paper-1")
    assert again.order_id == placed.order_id and len(gateway.orders()) == 1
    assert gateway.order(placed.order_id).status == OrderStatus.COMPLETE
    assert logged_in.accepted_tags() == []  # nothing reached the exchange


def test_live_orders_are_sent_once_per_intent_and_cancelled_idempotently(logged_in: Harness, tmp_path: Path) -> None:
    gateway = logged_in.broker.orders(paper=False, folder=tmp_path / "live")
    assert not gateway.paper
    last = logged_in.broker.quotes().ltp(INFY)[INFY].last_price
    tick = logged_in.broker.instruments().instrument(INFY).tick_size
    price = round(round(last * 0.9 / tick) * tick, 2)
    placed = gateway.place(OrderRequest.buy(INFY, 1, price=price), "contract-live-1")
    again = gateway.place(OrderRequest.buy(INFY, 1, price=price), "contract-live-1")
    assert again.order_id == placed.order_id
    assert logged_in.accepted_tags().count(placed.tag) == 1
    gateway.cancel(placed.order_id)
    gateway.cancel(placed.order_id)
    assert gateway.order(placed.order_id).status == OrderStatus.CANCELLED


def test_the_pre_trade_rules_refuse_before_anything_is_sent(logged_in: Harness, tmp_path: Path) -> None:
    gateway = logged_in.broker.orders(paper=False, folder=tmp_path / "live")
    tick = logged_in.broker.instruments().instrument(INFY).tick_size
    before = logged_in.calls("order")
    with pytest.raises(OrderValidationError) as refusal:
        gateway.place(OrderRequest.buy(INFY, 1, price=1000 + tick / 3), "contract-refused-1")
    assert refusal.value.rule == "tick" and logged_in.calls("order") == before


# -- data from one broker, orders on another ----------------------------------------------------------------------
def test_a_pair_matches_instruments_by_identity_and_prices_paper_fills_by_the_data_brokers_quotes(
    logged_in: Harness, tmp_path: Path
) -> None:
    pair = BrokerPair(logged_in.broker, logged_in.broker)
    assert not pair.mixed and pair.instruments() is not None
    on_data, on_orders = pair.match("INFY")
    assert on_data.key == on_orders.key == INFY

    # The mixed mode's paper gateway: fills priced by the data side's neutral quotes, not the order side's client.
    gateway = logged_in.broker.orders(folder=tmp_path / "mixed", quotes=logged_in.broker.quotes())
    placed = gateway.place(OrderRequest.buy(INFY, 2), "contract-mixed-1")
    order = gateway.order(placed.order_id)
    book = logged_in.broker.quotes().quote(INFY)[INFY]
    assert order.status == OrderStatus.COMPLETE and order.filled_quantity == 2
    assert book.asks[0].price <= order.average_price <= book.asks[-1].price
