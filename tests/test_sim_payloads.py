"""The simulator's payloads and request checks, called as plain functions: no server, no HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import parse_qs, parse_qsl, urlsplit

import numpy as np
import pytest

from kitekit.clock import IST, ManualClock
from kitekit.sim.auth import Grant
from kitekit.sim.config import LoginMode, SimConfig
from kitekit.sim.http import SimApp
from kitekit.sim.http.admin import app_payload, info_payload, update_app
from kitekit.sim.http.app import redact_query
from kitekit.sim.http.edge import flag
from kitekit.sim.http.login import redirect_location, web_login_payload
from kitekit.sim.http.market import (
    candles_payload,
    check_exchange,
    parse_history_query,
    quote_keys,
    quote_payload,
    quotes,
)
from kitekit.sim.http.session import require, session_payload
from kitekit.sim.http.user import profile_payload
from kitekit.sim.market import Market, Snapshot
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.wire.envelope import ErrorType, RejectionError
from kitekit.wire.history import Interval
from kitekit.wire.routes import EXCHANGES, QuoteEndpoint

from .shapes import LTP, OHLC_ITEM, PROFILE, QUOTE, SESSION, assert_shape

KEYS = ["NSE:INFY", "NSE:NIFTY 50", "NSE:RELIANCE"]


def _input_error(err: pytest.ExceptionInfo[RejectionError]) -> tuple[ErrorType, int]:
    return err.value.error_type, err.value.status


@pytest.fixture(scope="module")
def snap(sim_market: Market) -> Snapshot:
    uni = sim_market.universe(SIM_NOW)
    rows = [uni.resolve(k) for k in KEYS]
    return sim_market.snapshot(uni, np.array(rows), SIM_NOW)


# -- user and session ------------------------------------------------------------------------------


def test_profile_payload_has_the_documented_shape_and_lists_the_shared_exchanges() -> None:
    profile = profile_payload(SimConfig(user_name="Asha Rao"))
    assert_shape(profile, PROFILE)
    assert profile["exchanges"] == list(EXCHANGES)
    assert profile["products"] == ["CNC", "NRML", "MIS", "MTF"]
    assert profile["order_types"] == ["MARKET", "LIMIT", "SL", "SL-M"]
    assert profile["user_shortname"] == "Asha"


def test_session_payload_carries_the_grant_and_a_19_char_login_time() -> None:
    grant = Grant(
        access_token="at",
        api_key="kitekit_sim",
        user_id="KK1234",
        login_time="2026-11-27T11:00:05+05:30",
        expires_at="2026-11-28T06:00:00+05:30",
        public_token="pt",
        enctoken="et",
    )
    payload = session_payload(grant, profile_payload(SimConfig()))
    assert_shape(payload, SESSION)
    assert payload["login_time"] == "2026-11-27 11:00:05"
    assert (payload["access_token"], payload["public_token"], payload["refresh_token"]) == ("at", "pt", "")
    assert list(payload)[-1] == "meta"


def test_require_names_the_first_missing_form_field() -> None:
    require({"api_key": "k", "checksum": "c"}, "api_key", "checksum")
    with pytest.raises(RejectionError, match=r"Missing `request_token`\.") as err:
        require({"api_key": "k", "request_token": ""}, "api_key", "request_token", "checksum")
    assert _input_error(err) == (ErrorType.INPUT, 400)


def test_redirect_location_keeps_the_registered_query_then_adds_kite_and_app_pairs() -> None:
    url = redirect_location(
        "http://127.0.0.1:5055/callback?app=1",
        {"action": "login", "status": "success", "request_token": "rt"},
        "state=abc&next=%2Fhome",
    )
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("127.0.0.1:5055", "/callback")
    assert parse_qsl(parts.query) == [
        ("app", "1"),
        ("action", "login"),
        ("status", "success"),
        ("request_token", "rt"),
        ("state", "abc"),
        ("next", "/home"),
    ]


def test_web_login_payload_asks_for_a_totp() -> None:
    payload = web_login_payload("KK1234", "rid")
    assert payload["request_id"] == "rid" and payload["twofa_type"] == "totp"


# -- quotes ----------------------------------------------------------------------------------------


def test_quote_keys_drop_repeats_and_enforce_each_endpoints_batch_limit() -> None:
    assert quote_keys(["NSE:INFY", "408065", "NSE:INFY"], QuoteEndpoint.LTP) == ["NSE:INFY", "408065"]
    for endpoint in QuoteEndpoint:
        keys = [str(n) for n in range(endpoint.batch_limit + 1)]
        assert len(quote_keys(keys[:-1], endpoint)) == endpoint.batch_limit
        with pytest.raises(RejectionError, match=f"{endpoint.path} takes at most {endpoint.batch_limit}") as err:
            quote_keys(keys, endpoint)
        assert _input_error(err) == (ErrorType.INPUT, 400)
    with pytest.raises(RejectionError, match="No instruments"):
        quote_keys([], QuoteEndpoint.QUOTE)


@pytest.mark.parametrize(
    ("endpoint", "shape"), [(QuoteEndpoint.LTP, LTP), (QuoteEndpoint.OHLC, OHLC_ITEM), (QuoteEndpoint.QUOTE, QUOTE)]
)
def test_quote_payload_has_each_endpoints_shape_keyed_as_given(
    snap: Snapshot, endpoint: QuoteEndpoint, shape: dict[str, object]
) -> None:
    payload = quote_payload(endpoint, snap, KEYS)
    assert list(payload) == KEYS
    for key in KEYS:
        assert_shape(payload[key], shape, key)
    assert payload["NSE:INFY"]["instrument_token"] == 408065
    assert payload["NSE:INFY"]["last_price"] == float(snap.last_price[0])


def test_full_quote_payload_agrees_with_ohlc_and_reads_the_snapshots_moment(snap: Snapshot) -> None:
    full = quote_payload(QuoteEndpoint.QUOTE, snap, KEYS)
    ohlc = quote_payload(QuoteEndpoint.OHLC, snap, KEYS)
    for key in KEYS:
        assert full[key]["ohlc"] == ohlc[key]["ohlc"]
        assert full[key]["net_change"] == round(full[key]["last_price"] - full[key]["ohlc"]["close"], 4)
        assert full[key]["timestamp"] == "2026-11-27 11:00:00"
    index = full["NSE:NIFTY 50"]
    assert index["volume"] == 0 and all(
        level == {"price": 0.0, "quantity": 0, "orders": 0} for level in index["depth"]["buy"]
    )


def test_quotes_key_by_the_strings_sent_and_omit_unknown_instruments(sim_market: Market) -> None:
    data = quotes(sim_market, QuoteEndpoint.LTP, ["408065", "NSE:NO-SUCH", "NSE:INFY"], SIM_NOW)
    assert list(data) == ["408065", "NSE:INFY"]
    assert data["408065"] == data["NSE:INFY"]
    assert quotes(sim_market, QuoteEndpoint.QUOTE, ["NSE:NO-SUCH"], SIM_NOW) == {}


def test_check_exchange_accepts_kites_exchanges_and_the_whole_dump() -> None:
    check_exchange(None)
    for exchange in EXCHANGES:
        check_exchange(exchange)
    with pytest.raises(RejectionError, match="Invalid exchange 'NASDAQ'") as err:
        check_exchange("NASDAQ")
    assert _input_error(err) == (ErrorType.INPUT, 400)


# -- history ---------------------------------------------------------------------------------------


def test_history_query_reads_datetimes_dates_and_flags() -> None:
    q = parse_history_query("738561", "5minute", {"from": "2026-11-27 09:15:00", "to": "2026-11-27", "oi": "1"})
    assert q.interval is Interval.MINUTE_5
    assert q.start == datetime(2026, 11, 27, 9, 15, tzinfo=IST)
    assert q.end == datetime(2026, 11, 27, 23, 59, 59, tzinfo=IST)  # a bare `to` date is the whole day
    assert (q.oi, q.continuous) == (True, False)
    day = parse_history_query("738561", "day", {"from": "2026-11-01", "to": "2026-11-27", "continuous": "True"})
    assert day.continuous


@pytest.mark.parametrize("interval", list(Interval))
def test_history_query_span_limit_is_exact(interval: Interval) -> None:
    end = datetime(2026, 11, 27, 15, 30, tzinfo=IST)
    ok = {"from": f"{end - timedelta(days=interval.max_days):%Y-%m-%d %H:%M:%S}", "to": f"{end:%Y-%m-%d %H:%M:%S}"}
    assert parse_history_query("738561", interval.value, ok).interval is interval
    over = {**ok, "from": f"{end - timedelta(days=interval.max_days + 1):%Y-%m-%d %H:%M:%S}"}
    with pytest.raises(RejectionError, match=f"max limit: {interval.max_days} days"):
        parse_history_query("738561", interval.value, over)


@pytest.mark.parametrize(
    ("token", "interval", "query", "message"),
    [
        ("abc", "day", {"from": "2026-11-20", "to": "2026-11-27"}, "invalid token"),
        ("738561", "hour", {"from": "2026-11-20", "to": "2026-11-27"}, "invalid interval 'hour'"),
        ("738561", "day", {"to": "2026-11-27"}, "`from` and `to` are required"),
        ("738561", "day", {"from": "27/11/2026", "to": "2026-11-27"}, "invalid from/to date"),
        ("738561", "day", {"from": "2026-11-28", "to": "2026-11-27"}, "`from` date is after `to` date"),
        ("738561", "minute", {"from": "2026-11-20", "to": "2026-11-27", "continuous": "1"}, "only for the `day`"),
    ],
)
def test_history_query_refuses_what_kite_refuses(
    token: str, interval: str, query: dict[str, str], message: str
) -> None:
    with pytest.raises(RejectionError, match=message) as err:
        parse_history_query(token, interval, query)
    assert _input_error(err) == (ErrorType.INPUT, 400)


def test_candles_payload_formats_kite_candle_times_and_adds_oi_on_request(sim_market: Market) -> None:
    query = parse_history_query("738561", "5minute", {"from": "2026-11-27 09:15:00", "to": "2026-11-27 10:00:00"})
    rows = candles_payload(sim_market, query, SIM_NOW)["candles"]
    assert rows[0][0] == "2026-11-27T09:15:00+0530" and all(len(r) == 6 for r in rows)
    with_oi = parse_history_query("738561", "5minute", {"from": "2026-11-27 09:15:00", "to": "2026-11-27", "oi": "1"})
    assert all(len(r) == 7 for r in candles_payload(sim_market, with_oi, SIM_NOW)["candles"])


def test_candles_payload_refuses_unknown_tokens_and_continuous_non_futures(sim_market: Market) -> None:
    unknown = parse_history_query("123", "day", {"from": "2026-11-20", "to": "2026-11-27"})
    with pytest.raises(RejectionError, match="invalid token"):
        candles_payload(sim_market, unknown, SIM_NOW)
    stitched = {"from": "2026-11-20", "to": "2026-11-27", "continuous": "1"}
    with pytest.raises(RejectionError, match="only for futures"):
        candles_payload(sim_market, parse_history_query("738561", "day", stitched), SIM_NOW)
    uni = sim_market.universe(SIM_NOW)
    future = next(str(uni.token[i]) for i in range(len(uni)) if uni.segment[i] == "NFO-FUT")
    assert candles_payload(sim_market, parse_history_query(future, "day", stitched), SIM_NOW)["candles"]


# -- admin and edge --------------------------------------------------------------------------------


def test_info_payload_shows_settings_and_counters_but_no_secret(sim_market: Market) -> None:
    config = SimConfig()
    info = info_payload(SimApp(config, ManualClock(SIM_NOW), sim_market))
    assert info["api_key"] == config.api_key and info["now"] == SIM_NOW.isoformat()
    assert info["live_sessions"] == 0 and info["rate_limited"] == 0
    text = json.dumps(info)
    for secret in (config.api_secret, config.password, config.totp_secret):
        assert secret not in text


def test_update_app_checks_the_redirect_url_and_login_mode() -> None:
    config = SimConfig()
    update_app(config, {"redirect_url": "https://example.invalid/cb", "login_mode": "auto"})
    assert app_payload(config) == {"redirect_url": "https://example.invalid/cb", "login_mode": "auto"}
    assert config.login_mode is LoginMode.AUTO
    with pytest.raises(ValueError, match="http"):
        update_app(config, {"redirect_url": "ftp://example.invalid/cb"})
    with pytest.raises(ValueError):
        update_app(config, {"login_mode": "sometimes"})
    assert app_payload(config)["redirect_url"] == "https://example.invalid/cb"


def test_redact_query_masks_every_secret_parameter_and_keeps_the_rest() -> None:
    query = "api_key=k&access_token=t1&request_token=r1&checksum=c1&i=NSE%3AINFY&i=408065"
    redacted = parse_qs(redact_query(query))
    assert redacted == {
        "api_key": ["k"],
        "access_token": ["***"],
        "request_token": ["***"],
        "checksum": ["***"],
        "i": ["NSE:INFY", "408065"],
    }
    assert redact_query("") == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("True", True), (" yes ", True), ("0", False), ("False", False), (None, False)],
)
def test_flag_reads_the_sdks_spellings_of_a_boolean(value: str | None, expected: bool) -> None:
    assert flag(value) is expected


def test_the_ltp_fast_path_gives_exactly_the_snapshots_last_prices(sim_market: Market) -> None:
    uni = sim_market.universe(SIM_NOW)
    rows = np.arange(0, len(uni), 37)  # every kind of contract: equities, indices, futures, options
    for minutes in (0, 7, 95, 400):  # open, intraday, after the close
        now = SIM_NOW.replace(hour=9, minute=15) + timedelta(minutes=minutes)
        fast = sim_market.last_prices(uni, rows, now)
        assert np.array_equal(fast, sim_market.snapshot(uni, rows, now).last_price)
