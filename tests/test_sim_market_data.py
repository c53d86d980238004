"""Quotes, OHLC, LTP and historical candles from the simulator, through the official SDK."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.clock import IST, ManualClock
from kitekit.markethours import TradingCalendar
from kitekit.sim.config import SimConfig
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.wire.history import Interval

from .shapes import LTP, MARGIN_SEGMENT, OHLC_ITEM, PROFILE, QUOTE, assert_shape

pytestmark = pytest.mark.usefixtures("unlimited")

KNOWN = {
    "NSE:NIFTY 50": 256265,
    "NSE:NIFTY BANK": 260105,
    "NSE:RELIANCE": 738561,
    "NSE:INFY": 408065,
    "NSE:TCS": 2953217,
    "NSE:HDFCBANK": 341249,
}


def _get(sim: SimServer, kite: KiteConnect, path: str, **params: Any) -> requests.Response:
    return requests.get(
        f"{sim.url}{path}",
        params=params,
        timeout=10,
        headers={"Authorization": f"token {kite.api_key}:{kite.access_token}"},
    )


def _symbols(sim: SimServer, sim_clock: ManualClock, count: int) -> list[str]:
    uni = sim.sim.market.universe(sim_clock.now())
    return [f"{uni.exchange[i]}:{uni.symbol[i]}" for i in range(count)]


def test_profile_and_margins_have_the_documented_shape(sim_kite: KiteConnect) -> None:
    assert_shape(sim_kite.profile(), PROFILE)
    both = sim_kite.margins()
    assert set(both) == {"equity", "commodity"}
    for seg in both.values():
        assert_shape(seg, MARGIN_SEGMENT)
    assert_shape(sim_kite.margins("commodity"), MARGIN_SEGMENT)
    with pytest.raises(kex.InputException):
        sim_kite.margins("crypto")


def test_well_known_instruments_keep_their_real_tokens(sim_kite: KiteConnect) -> None:
    ltp = sim_kite.ltp(*KNOWN)
    assert {k: v["instrument_token"] for k, v in ltp.items()} == KNOWN


def test_quote_maps_are_keyed_by_the_request_strings_and_omit_unknowns(sim_kite: KiteConnect) -> None:
    keys = ["NSE:INFY", "408065", "NSE:NIFTY 50", "NSE:NO-SUCH", "99999999"]
    for call in (sim_kite.ltp, sim_kite.ohlc, sim_kite.quote):
        data = call(*keys)
        assert set(data) == {"NSE:INFY", "408065", "NSE:NIFTY 50"}
        assert data["NSE:INFY"]["last_price"] == data["408065"]["last_price"]


def test_ltp_ohlc_and_quote_have_the_documented_shapes(sim: SimServer, sim_kite: KiteConnect) -> None:
    keys = ["NSE:RELIANCE", "NSE:NIFTY 50", "NFO:" + _first(sim, "NFO-FUT")]
    for path, shape in (("/quote/ltp", LTP), ("/quote/ohlc", OHLC_ITEM), ("/quote", QUOTE)):
        body = _get(sim, sim_kite, path, i=keys).json()
        assert body["status"] == "success"
        for key in keys:
            assert_shape(body["data"][key], shape, f"{path}[{key}]")
    full = _get(sim, sim_kite, "/quote", i=keys).json()["data"]
    for key in keys:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", full[key]["timestamp"])
        assert len(full[key]["last_trade_time"]) == 19


def _first(sim: SimServer, segment: str) -> str:
    uni = sim.sim.market.universe(sim.sim.clock.now())
    return next(uni.symbol[i] for i in range(len(uni)) if uni.segment[i] == segment)


def test_ltp_ohlc_and_quote_agree_at_the_same_moment(sim_kite: KiteConnect) -> None:
    keys = ["NSE:RELIANCE", "NSE:NIFTY 50", "BSE:RELIANCE"]
    ltp, ohlc, quote = sim_kite.ltp(*keys), sim_kite.ohlc(*keys), sim_kite.quote(*keys)
    for k in keys:
        assert ltp[k]["last_price"] == ohlc[k]["last_price"] == quote[k]["last_price"]
        assert ohlc[k]["ohlc"] == quote[k]["ohlc"]
        o = quote[k]["ohlc"]
        assert o["low"] <= quote[k]["last_price"] <= o["high"] and o["low"] <= o["open"] <= o["high"]
        assert quote[k]["net_change"] == pytest.approx(quote[k]["last_price"] - o["close"], abs=1e-6)
    assert ltp["NSE:RELIANCE"]["last_price"] == ltp["BSE:RELIANCE"]["last_price"]


def test_quote_depth_has_five_ordered_levels_and_circuits_bracket_the_close(sim_kite: KiteConnect) -> None:
    q = sim_kite.quote("NSE:INFY")["NSE:INFY"]
    bids, asks = q["depth"]["buy"], q["depth"]["sell"]
    assert len(bids) == len(asks) == 5
    assert [b["price"] for b in bids] == sorted((b["price"] for b in bids), reverse=True)
    assert [a["price"] for a in asks] == sorted(a["price"] for a in asks)
    assert bids[0]["price"] < asks[0]["price"]
    assert q["lower_circuit_limit"] < q["ohlc"]["close"] < q["upper_circuit_limit"]
    index = sim_kite.quote("NSE:NIFTY 50")["NSE:NIFTY 50"]
    assert index["volume"] == 0 and all(level["quantity"] == 0 for level in index["depth"]["buy"])


def test_prices_move_during_the_session_and_repeat_for_the_same_moment(
    sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    first = sim_kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["last_price"]
    sim_clock.advance(timedelta(minutes=7))
    later = sim_kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["last_price"]
    sim_clock.advance(timedelta(minutes=-7))
    again = sim_kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["last_price"]
    assert first == again != later


def test_same_seed_and_moment_give_the_same_prices_in_a_fresh_market(sim_kite: KiteConnect) -> None:
    fresh = Market(SimConfig().seed)
    now = datetime(2026, 11, 27, 11, 0, tzinfo=IST)
    uni = fresh.universe(now)
    snap = fresh.snapshot(uni, np.array([uni.resolve("NSE:RELIANCE")]), now)
    assert sim_kite.ltp("NSE:RELIANCE")["NSE:RELIANCE"]["last_price"] == float(snap.last_price[0])


def test_prices_are_frozen_outside_market_hours_and_on_weekends(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    def price() -> float:
        login_via_redirect(sim, sim_kite)  # the clock jumps past the 06:00 token flush
        return float(sim_kite.ltp("NSE:RELIANCE")["NSE:RELIANCE"]["last_price"])

    sim_clock.set(datetime(2026, 11, 27, 15, 30, tzinfo=IST))
    close = price()
    for moment in (
        datetime(2026, 11, 27, 18, 0, tzinfo=IST),
        datetime(2026, 11, 28, 12, 0, tzinfo=IST),
        datetime(2026, 11, 30, 9, 14, tzinfo=IST),
    ):
        sim_clock.set(moment)
        assert price() == close
    quote = sim_kite.quote("NSE:RELIANCE")["NSE:RELIANCE"]
    assert quote["timestamp"] == datetime(2026, 11, 27, 15, 29, 59, tzinfo=IST).replace(tzinfo=None)  # SDK: naive
    sim_clock.set(datetime(2026, 11, 30, 9, 15, tzinfo=IST))
    monday_quote = sim_kite.quote("NSE:RELIANCE")["NSE:RELIANCE"]
    assert monday_quote["ohlc"]["close"] == close


def test_futures_and_options_move_with_their_underlying(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    uni = sim.sim.market.universe(sim_clock.now())
    fut = next(
        uni.symbol[i] for i in range(len(uni)) if uni.symbol[i].startswith("NIFTY") and uni.segment[i] == "NFO-FUT"
    )
    spot_now = sim_kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["last_price"]
    fut_now = sim_kite.ltp(f"NFO:{fut}")[f"NFO:{fut}"]["last_price"]
    assert fut_now > spot_now  # positive cost of carry
    assert fut_now / spot_now == pytest.approx(1.0, abs=0.03)
    strike = round(spot_now / 50) * 50
    call = next(
        uni.symbol[i]
        for i in range(len(uni))
        if uni.name[i] == "NIFTY" and uni.strike[i] == strike and uni.symbol[i].endswith("CE")
    )
    put = call[:-2] + "PE"
    moves = []
    for _ in range(6):
        sim_clock.advance(timedelta(minutes=20))
        data = sim_kite.ltp("NSE:NIFTY 50", f"NFO:{call}", f"NFO:{put}")
        moves.append(
            (
                data["NSE:NIFTY 50"]["last_price"],
                data[f"NFO:{call}"]["last_price"],
                data[f"NFO:{put}"]["last_price"],
            )
        )
    clear = [(a, b) for a, b in itertools.pairwise(moves) if abs(b[0] - a[0]) > 20]
    assert len(clear) >= 2, moves  # the steps must hold clear moves of the index, or nothing is checked
    for (s0, c0, p0), (s1, c1, p1) in clear:  # the call follows the index, the put opposes it
        assert (c1 - c0) * (s1 - s0) > 0 and (p1 - p0) * (s1 - s0) < 0


def test_derivatives_report_open_interest_and_equities_none(sim: SimServer, sim_kite: KiteConnect) -> None:
    fut = "NFO:" + _first(sim, "NFO-FUT")
    q = sim_kite.quote(fut, "NSE:INFY")
    assert q[fut]["oi"] > 0 and q[fut]["oi_day_low"] <= q[fut]["oi"] <= q[fut]["oi_day_high"]
    assert q["NSE:INFY"]["oi"] == 0


@pytest.mark.parametrize(("path", "limit"), [("/quote", 500), ("/quote/ohlc", 1000), ("/quote/ltp", 1000)])
def test_batch_limits_accept_the_maximum_and_refuse_one_more(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, path: str, limit: int
) -> None:
    keys = _symbols(sim, sim_clock, limit + 1)
    ok = _get(sim, sim_kite, path, i=keys[:limit])
    assert ok.status_code == 200 and len(ok.json()["data"]) == limit
    over = _get(sim, sim_kite, path, i=keys)
    assert over.status_code == 400 and over.json()["error_type"] == "InputException"


def test_quote_without_instruments_is_an_input_error(sim: SimServer, sim_kite: KiteConnect) -> None:
    r = _get(sim, sim_kite, "/quote/ltp")
    assert r.status_code == 400 and r.json()["error_type"] == "InputException"


# -- historical ------------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [i.value for i in Interval])
def test_every_interval_returns_candles_and_its_span_limit_is_exact(sim_kite: KiteConnect, interval: str) -> None:
    limit = Interval(interval).max_days
    end = datetime(2026, 11, 27, 15, 30, tzinfo=IST).replace(tzinfo=None)  # the SDK formats naive datetimes
    candles = sim_kite.historical_data(738561, end - timedelta(days=limit), end, interval)
    assert candles and all(c["low"] <= min(c["open"], c["close"]) for c in candles)
    with pytest.raises(kex.InputException) as err:
        sim_kite.historical_data(738561, end - timedelta(days=limit + 1), end, interval)
    assert err.value.code == 400


def test_candle_rows_are_kite_formatted_and_oi_adds_one_element(sim: SimServer, sim_kite: KiteConnect) -> None:
    params = {"from": "2026-11-27 09:15:00", "to": "2026-11-27 10:00:00", "interval": "5minute"}
    rows = _get(sim, sim_kite, "/instruments/historical/738561/5minute", **params).json()["data"]["candles"]
    assert rows[0][0] == "2026-11-27T09:15:00+0530"
    assert all(len(r) == 6 for r in rows)
    with_oi = _get(sim, sim_kite, "/instruments/historical/738561/5minute", oi=1, **params).json()["data"]
    assert all(len(r) == 7 for r in with_oi["candles"])
    day = _get(sim, sim_kite, "/instruments/historical/738561/day", **{**params, "interval": "day"}).json()
    assert day["data"]["candles"][0][0] == "2026-11-27T00:00:00+0530"


def test_sdk_candles_are_timezone_aware_with_oi(sim_kite: KiteConnect) -> None:
    candles = sim_kite.historical_data(738561, "2026-11-26", "2026-11-27", "minute", oi=True)
    assert candles[0]["date"].utcoffset() == timedelta(hours=5, minutes=30)
    assert set(candles[0]) == {"date", "open", "high", "low", "close", "volume", "oi"}


def test_candles_agree_with_the_live_quote(sim_kite: KiteConnect) -> None:
    quote = sim_kite.quote("NSE:RELIANCE")["NSE:RELIANCE"]
    minutes = sim_kite.historical_data(738561, "2026-11-27 09:15:00", "2026-11-27 15:30:00", "minute")
    assert minutes[-1]["date"].strftime("%H:%M") == "11:00"  # the clock is at 11:00:00; that candle is live
    assert minutes[-1]["close"] == quote["last_price"]
    assert sum(c["volume"] for c in minutes) == quote["volume"]
    assert max(c["high"] for c in minutes) == quote["ohlc"]["high"]
    assert min(c["low"] for c in minutes) == quote["ohlc"]["low"]
    day = sim_kite.historical_data(738561, "2026-11-27", "2026-11-27", "day")[0]
    ohlc = quote["ohlc"]
    assert (day["open"], day["high"], day["low"], day["close"]) == (
        ohlc["open"],
        ohlc["high"],
        ohlc["low"],
        quote["last_price"],
    )


def test_history_accepts_dates_and_datetimes_and_refuses_bad_input(sim: SimServer, sim_kite: KiteConnect) -> None:
    assert sim_kite.historical_data(738561, "2026-11-20", "2026-11-27", "day")
    for params, token, interval in (
        ({"from": "2026-11-27", "to": "2026-11-20"}, "738561", "day"),  # from after to
        ({"from": "27/11/2026", "to": "2026-11-27"}, "738561", "day"),  # bad format
        ({"to": "2026-11-27"}, "738561", "day"),  # missing from
        ({"from": "2026-11-20", "to": "2026-11-27"}, "123", "day"),  # unknown token
        ({"from": "2026-11-20", "to": "2026-11-27"}, "abc", "day"),  # not a token
        ({"from": "2026-11-20", "to": "2026-11-27"}, "738561", "hour"),  # unknown interval
        ({"from": "2026-11-20", "to": "2026-11-27"}, "738561", "30 minute"),
        (
            {"from": "2026-11-20", "to": "2026-11-27", "continuous": 1},
            "738561",
            "minute",
        ),  # intraday continuous
        ({"from": "2026-11-20", "to": "2026-11-27", "continuous": 1}, "738561", "day"),  # continuous equity
    ):
        r = _get(sim, sim_kite, f"/instruments/historical/{token}/{interval}", **params)
        assert r.status_code == 400, (params, token, interval, r.text)
        assert r.json()["error_type"] == "InputException"


def test_continuous_day_candles_for_a_future(sim: SimServer, sim_kite: KiteConnect) -> None:
    uni = sim.sim.market.universe(sim.sim.clock.now())
    token = next(int(uni.token[i]) for i in range(len(uni)) if uni.segment[i] == "NFO-FUT")
    candles = sim_kite.historical_data(token, "2025-01-01", "2026-11-27", "day", continuous=True)
    assert len(candles) > 400  # stitched back beyond the live contract's own life


def test_future_dates_give_no_candles_beyond_now(sim_kite: KiteConnect) -> None:
    candles = sim_kite.historical_data(738561, "2026-11-27 09:15:00", "2026-11-28 15:30:00", "15minute")
    assert candles and candles[-1]["date"].strftime("%H:%M") == "11:00"  # the live candle, one second old


def test_an_expired_contract_keeps_its_day_candles_up_to_its_expiry_and_nothing_intraday(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, sim_market: Market
) -> None:
    expiry_day = datetime(2026, 11, 23, 10, 0, tzinfo=IST)  # NIFTY26NOVFUT's last day
    listed = sim_market.universe(expiry_day)
    token = int(listed.token[listed.resolve("NFO:NIFTY26NOVFUT")])
    sim_clock.set(expiry_day + timedelta(days=2))  # the next trading day (the 24th is a holiday): not listed
    assert sim_market.universe(sim_clock.now()).resolve(str(token)) is None
    candles = sim_kite.historical_data(token, "2026-11-01", "2026-11-25", "day")
    assert candles and candles[-1]["date"].date() == expiry_day.date()
    with pytest.raises(kex.InputException, match="only day candles are kept for expired contracts"):
        sim_kite.historical_data(token, "2026-11-20", "2026-11-23", "minute")
    with pytest.raises(kex.InputException, match="invalid token"):
        sim_kite.historical_data(token + 256 * 7919, "2026-11-01", "2026-11-25", "day")


# -- options: contracts that never trade, open interest that carries over -----------------------------------------


def _nifty_options(sim: SimServer, expiry: str) -> tuple[Any, list[int]]:
    uni = sim.sim.market.universe(sim.sim.clock.now())
    rows = [i for i in range(len(uni)) if uni.name[i] == "NIFTY" and str(uni.expiry[i]) == expiry]
    return uni, sorted(rows, key=lambda i: (uni.strike[i], uni.kind[i]))


def test_a_far_out_of_the_money_option_never_trades_and_has_no_price_volume_oi_or_candles(
    sim: SimServer, sim_kite: KiteConnect
) -> None:
    uni, rows = _nifty_options(sim, "2026-12-01")
    dead = [i for i in rows if uni.dead[i]]
    live = [i for i in rows if not uni.dead[i]]
    assert dead and live
    # The wings: every strike that never trades is further from the money than every one that does.
    spot = sim_kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["last_price"]
    gap = [abs(uni.strike[i] - spot) for i in dead]
    assert min(gap) > max(abs(uni.strike[i] - spot) for i in live if abs(uni.strike[i] - spot) < min(gap)) > 0
    key = f"NFO:{uni.symbol[dead[-1]]}"
    q = sim_kite.quote(key)[key]
    assert q["last_price"] == 0 and q["volume"] == 0 and q["oi"] == q["oi_day_high"] == q["oi_day_low"] == 0
    assert q["ohlc"] == {"open": 0, "high": 0, "low": 0, "close": 0} and q["average_price"] == 0
    assert q["last_trade_time"] is None and q["last_quantity"] == 0 and q["net_change"] == 0
    assert all(level["price"] == 0 for level in q["depth"]["buy"])  # nobody bids for it
    assert sim_kite.ltp(key)[key]["last_price"] == 0 and sim_kite.ohlc(key)[key]["ohlc"]["close"] == 0
    token = int(uni.token[dead[-1]])
    assert sim_kite.historical_data(token, "2026-11-01", "2026-11-27", "day", oi=True) == []
    assert sim_kite.historical_data(token, "2026-11-27 09:15:00", "2026-11-27 11:00:00", "minute") == []
    # A live one always has a last price and volume, whose minute candles add up to it.
    key = f"NFO:{uni.symbol[live[0]]}"
    q = sim_kite.quote(key)[key]
    minutes = sim_kite.historical_data(int(uni.token[live[0]]), "2026-11-27 09:15:00", "2026-11-27 11:00:00", "minute")
    assert q["last_price"] > 0 and q["volume"] > 0 and sum(c["volume"] for c in minutes) == q["volume"]


def test_open_interest_opens_where_the_previous_session_closed(sim: SimServer, sim_kite: KiteConnect) -> None:
    uni, rows = _nifty_options(sim, "2026-12-29")
    spot = sim_kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["last_price"]
    near = sorted((i for i in rows if not uni.dead[i]), key=lambda i: abs(uni.strike[i] - spot))[:8]
    keys = [f"NFO:{uni.symbol[i]}" for i in near]
    quotes = sim_kite.quote(*keys)
    moves: list[float] = []
    for i, key in zip(near, keys, strict=True):
        days = sim_kite.historical_data(int(uni.token[i]), "2026-11-17", "2026-11-27", "day", oi=True)
        q = quotes[key]
        # Today's day range of OI runs from the previous close's OI (where it opened) to now.
        assert days[-2]["oi"] in (q["oi_day_low"], q["oi_day_high"]) and days[-1]["oi"] == q["oi"]
        oi = np.array([d["oi"] for d in days], dtype=float)
        moves.extend((np.diff(oi) / oi[:-1]).tolist())
    changes = np.array(moves)
    # Day-to-day changes of some percent, both ways (more where the market moves to a strike, and as expiry
    # nears): the build-up a change in OI signals means something.
    assert (np.abs(changes) < 1).all() and np.median(np.abs(changes)) < 0.25
    assert (changes > 0.01).any() and (changes < -0.01).any()


def test_markets_of_one_seed_share_a_days_universe_which_equals_one_built_alone() -> None:
    now = datetime(2026, 11, 27, 11, 0, tzinfo=IST)
    seed = SimConfig().seed
    shared = Market(seed).universe(now)
    assert Market(seed).universe(now) is shared  # built once in the process (seconds: 115k rows)
    alone = Market(seed, calendar=TradingCalendar()).universe(now)  # another calendar object: not shared
    assert alone is not shared and alone.as_of == shared.as_of
    assert alone.symbol == shared.symbol and alone.exchange == shared.exchange
    for column in ("token", "exchange_token", "kind", "uid", "strike", "lot", "last_price", "dead"):
        assert np.array_equal(getattr(alone, column), getattr(shared, column)), column
