"""The neutral layer's own logic: identities, contract symbols, limits written once; Kite's facts agree with wire/."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from itertools import pairwise

import pytest

from kitekit.brokers import Endpoint, HistorySpan, InstrumentId, InstrumentKind, SessionInfo, derivative_symbol
from kitekit.brokers.instruments import rule_facts
from kitekit.brokers.kite import KITE_CAPABILITIES
from kitekit.brokers.kite.convert import instrument_of
from kitekit.brokers.session import relogin_advice
from kitekit.clock import IST
from kitekit.errors import HistoryRangeError, InstrumentError, TickerError
from kitekit.instruments import InstrumentStore
from kitekit.orders.placement import Budget
from kitekit.session.record import next_token_expiry
from kitekit.ticker.shards import SubscriptionBook
from kitekit.wire.history import Interval
from kitekit.wire.routes import DEFAULT_RATES, EndpointClass, QuoteEndpoint

MORNING = datetime(2026, 11, 27, 11, 0, tzinfo=IST)


def test_an_identity_is_exchange_and_symbol_with_the_exchange_in_capitals() -> None:
    assert InstrumentId.parse(" nse:NIFTY 50 ") == InstrumentId("NSE", "NIFTY 50")
    assert str(InstrumentId("NFO", "NIFTY26DECFUT")) == "NFO:NIFTY26DECFUT"
    for text in ("INFY", "NSE:", ":INFY", "NSE: "):
        with pytest.raises(InstrumentError, match="EXCHANGE:SYMBOL"):
            InstrumentId.parse(text)


def test_every_contract_in_the_simulators_dump_is_spelled_by_its_facts(sim_instruments: InstrumentStore) -> None:
    # Another broker's adapter spells its contracts with derivative_symbol; Kite's symbols are the reference.
    table = sim_instruments.frame(exchange=("NFO", "BFO"))
    table = table[table["name"].isin(["NIFTY", "BANKNIFTY", "SENSEX", "RELIANCE"])]
    last = table.groupby(["name", table["expiry"].map(lambda d: (d.year, d.month))])["expiry"].transform("max")
    assert len(table) > 1000
    rows = zip(
        table["name"], table["instrument_type"], table["expiry"], table["strike"], table["expiry"] == last, strict=True
    )
    spelled = [derivative_symbol(n, k, e, s, monthly=bool(m)) for n, k, e, s, m in rows]
    assert spelled == list(table["tradingsymbol"])


def test_a_contract_symbol_needs_a_derivative() -> None:
    assert derivative_symbol("NIFTY", "PE", date(2026, 12, 1), 25_000.5, monthly=False) == "NIFTY26D0125000.5PE"
    with pytest.raises(ValueError, match="not a futures or options"):
        derivative_symbol("INFY", "EQ", date(2026, 12, 1), monthly=True)


def test_a_kite_row_becomes_a_neutral_instrument_and_back_into_the_rules_record(
    sim_instruments: InstrumentStore,
) -> None:
    for query, kind in (("NSE:INFY", InstrumentKind.EQUITY), ("NIFTY 50", InstrumentKind.INDEX)):
        record = sim_instruments.instrument(query)
        neutral = instrument_of(record)
        assert neutral.kind is kind and neutral.broker_key == str(record.instrument_token)
        assert rule_facts(neutral) == replace(record, exchange_token=0, last_price=0.0)
    option = sim_instruments.option_chain("NIFTY").dropna().iloc[0]
    record = sim_instruments.instrument(int(option["ce_token"]))
    assert (
        instrument_of(record).kind is InstrumentKind.CALL and rule_facts(instrument_of(record)).strike == record.strike
    )


# -- limits written once ------------------------------------------------------------------------------------------
def test_kites_capabilities_are_the_facts_the_client_and_simulator_share() -> None:
    caps = KITE_CAPABILITIES
    assert caps.rate(Endpoint.QUOTE) == DEFAULT_RATES[EndpointClass.QUOTE] == 1.0
    assert caps.rate(Endpoint.HISTORY) == DEFAULT_RATES[EndpointClass.HISTORICAL]
    orders = {(w.count, w.seconds) for w in caps.rates[Endpoint.ORDER]}
    assert (Budget().per_minute, 60.0) in orders and (Budget().per_day, 86_400.0) in orders
    assert caps.quote_batch == {q.value: q.batch_limit for q in QuoteEndpoint}
    assert {k: s.max_days for k, s in caps.history.items()} == {i.value: i.max_days for i in Interval}
    book = SubscriptionBook()
    assert (caps.feed.connections, caps.feed.per_connection) == (book.max_connections, book.per_connection)
    assert next_token_expiry(MORNING).time() == caps.session_expiry == time(6, 0)


def test_a_range_is_cut_into_windows_one_request_may_ask_for() -> None:
    start = datetime(2026, 1, 1, tzinfo=IST)
    windows = KITE_CAPABILITIES.history_windows("minute", start, start + timedelta(days=130))
    assert len(windows) == 3 and windows[0] == (start, start + timedelta(days=60))
    assert all(b - a <= timedelta(days=60) for a, b in windows) and windows[-1][1] == start + timedelta(days=130)
    assert all(nxt[0] > prev[1] for prev, nxt in pairwise(windows))
    uncapped = replace(KITE_CAPABILITIES, history={"week": HistorySpan("week", None)})
    assert uncapped.history_windows("week", start, start + timedelta(days=5000)) == [
        (start, start + timedelta(days=5000))
    ]
    with pytest.raises(HistoryRangeError, match="Kite Connect has no week candles; it serves minute"):
        KITE_CAPABILITIES.span("week")
    with pytest.raises(HistoryRangeError, match="ends"):
        KITE_CAPABILITIES.history_windows("day", start, start - timedelta(days=1))


def test_quote_keys_and_feed_subscriptions_are_split_within_the_brokers_caps() -> None:
    keys = [f"NSE:S{i}" for i in range(2501)]
    batches = KITE_CAPABILITIES.quote_batches("quote", keys)
    assert [len(b) for b in batches] == [500] * 5 + [1] and [k for b in batches for k in b] == keys
    shards = KITE_CAPABILITIES.feed_shards(keys * 3, "full")
    assert [len(s) for s in shards] == [3000, 3000, 1503]
    with pytest.raises(TickerError, match="4 connections in full mode; Kite Connect allows 3 of 3,000"):
        KITE_CAPABILITIES.feed_shards(keys * 4, "full")


def test_the_advice_to_log_in_again_is_written_once_for_every_broker() -> None:
    info = SessionInfo("kite", "AB1234", "A B", MORNING, next_token_expiry(MORNING))
    hint = "kitekit login"
    assert relogin_advice(None, MORNING, hint, timedelta(hours=1)) == "Not logged in. Log in: kitekit login"
    assert relogin_advice(info, MORNING, hint, timedelta(hours=1)) is None
    late = info.expires_at - timedelta(minutes=20)
    assert "ends at 2026-11-28 06:00 IST, in 20 minutes" in (relogin_advice(info, late, hint, timedelta(hours=1)) or "")
    assert "expired at 2026-11-28 06:00 IST" in (relogin_advice(info, info.expires_at, hint, timedelta(0)) or "")
    dead = SessionInfo("kite", "AB1234", "A B", MORNING, info.expires_at, dead=True)
    assert "rejected" in (relogin_advice(dead, MORNING, hint, timedelta(0)) or "") and dead.left(MORNING) == timedelta(
        0
    )
