"""The unmodified upstox-python-sdk 2.30 against the Upstox simulator: login, profile, dump, quotes, history.

Every test runs at ``SIM_NOW`` (Friday 2026-11-27, 11:00 IST, mid-session) on the shared simulated market.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import upstox_client
from upstox_client.rest import ApiException

from kitekit.sim.upstox import UpstoxServer
from kitekit.sim.upstox.http.market import DUMP_PATH
from kitekit.wire.upstox.errors import decode_errors
from tests.upstox_helpers import API_VERSION, sdk_login

RELIANCE = "NSE_EQ|INE00018A016"
NIFTY = "NSE_INDEX|Nifty 50"


def test_login_through_the_dialog_gives_a_flat_profile_with_tokens(upstox_sim: UpstoxServer) -> None:
    _, token = sdk_login(upstox_sim)
    assert token.user_id == upstox_sim.sim.config.shared.user_id
    assert token.broker == "UPSTOX"
    assert token.access_token and token.extended_token


def test_profile_through_the_sdk(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    profile = upstox_client.UserApi(client).get_profile(API_VERSION)
    assert profile.status == "success"
    assert profile.data.user_id == upstox_sim.sim.config.shared.user_id


def test_a_v2_call_without_api_version_is_refused_with_udapi100015(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    token = client.configuration.access_token
    r = requests.get(f"{upstox_sim.url}/v2/user/profile", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 400
    problem = decode_errors(r.content)[0]
    assert problem.error_code == "UDAPI100015"
    body = r.json()["errors"][0]
    assert body["errorCode"] == body["error_code"] == "UDAPI100015"


def test_a_bad_token_is_refused_with_401_udapi100050(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    client.configuration.access_token = "not-a-token"
    with pytest.raises(ApiException) as caught:
        upstox_client.UserApi(client).get_profile(API_VERSION)
    assert caught.value.status == 401
    assert decode_errors(caught.value.body)[0].error_code == "UDAPI100050"


def test_the_code_works_once(upstox_sim: UpstoxServer) -> None:
    from kitekit.sim.upstox.sdk import sim_configuration
    from tests.upstox_helpers import dialog_code

    config = upstox_sim.sim.config
    code = dialog_code(upstox_sim)
    login = upstox_client.LoginApi(upstox_client.ApiClient(sim_configuration(upstox_sim.url)))
    form = dict(
        code=code,
        client_id=config.client_id,
        client_secret=config.client_secret,
        redirect_uri=config.redirect_uri,
        grant_type="authorization_code",
    )
    login.token(API_VERSION, **form)
    with pytest.raises(ApiException) as caught:
        login.token(API_VERSION, **form)
    assert caught.value.status == 400


def test_the_instruments_dump_is_gzipped_json_with_upstox_keys(upstox_sim: UpstoxServer) -> None:
    r = requests.get(f"{upstox_sim.url}{DUMP_PATH}", timeout=60)
    rows = json.loads(gzip.decompress(r.content))
    by_key = {row["instrument_key"]: row for row in rows}
    assert by_key[RELIANCE]["trading_symbol"] == "RELIANCE"
    assert by_key[RELIANCE]["isin"] == "INE00018A016"
    assert by_key[NIFTY]["instrument_type"] == "INDEX"
    option = next(row for row in rows if row["segment"] == "NSE_FO" and row["instrument_type"] == "CE")
    assert option["instrument_key"] == f"NSE_FO|{option['exchange_token']}"
    assert option["expiry"] % 1000 == 0 and option["underlying_key"] == NIFTY


def test_quotes_v2_and_v3_through_the_sdk(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    v2 = upstox_client.MarketQuoteApi(client)
    full = v2.get_full_market_quote(f"{RELIANCE},{NIFTY}", API_VERSION)
    item = full.data["NSE_EQ:RELIANCE"]
    assert item.instrument_token == RELIANCE and item.last_price > 0 and len(item.depth.buy) == 5
    ltp = v2.ltp(RELIANCE, API_VERSION)
    assert ltp.data["NSE_EQ:RELIANCE"].last_price == item.last_price
    ohlc = v2.get_market_quote_ohlc(RELIANCE, "1d", API_VERSION)
    assert ohlc.data["NSE_EQ:RELIANCE"].ohlc.high >= ohlc.data["NSE_EQ:RELIANCE"].ohlc.low
    v3 = upstox_client.MarketQuoteV3Api(client)
    assert v3.get_ltp(instrument_key=RELIANCE).data["NSE_EQ:RELIANCE"].last_price == item.last_price
    assert v3.get_market_quote_ohlc("1d", instrument_key=NIFTY).data["NSE_INDEX:NIFTY"].live_ohlc.open > 0


def test_more_than_500_keys_are_refused_with_udapi100043(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    keys = ",".join(f"NSE_FO|{n}" for n in range(501))
    with pytest.raises(ApiException) as caught:
        upstox_client.MarketQuoteApi(client).ltp(keys, API_VERSION)
    assert caught.value.status == 400
    assert decode_errors(caught.value.body)[0].error_code == "UDAPI100043"


def test_history_v2_and_v3_come_newest_first_and_caps_refuse(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    v2 = upstox_client.HistoryApi(client)
    day = v2.get_historical_candle_data1(RELIANCE, "day", "2026-11-26", "2026-11-01", API_VERSION)
    times = [c[0] for c in day.data.candles]
    assert times == sorted(times, reverse=True) and times[0].startswith("2026-11-26T")
    v3 = upstox_client.HistoryV3Api(client)
    fives = v3.get_historical_candle_data1(RELIANCE, "minutes", "5", "2026-11-26", "2026-11-26")
    assert len(fives.data.candles) == 75 and fives.data.candles[-1][0] == "2026-11-26T09:15:00+05:30"
    with pytest.raises(ApiException) as caught:  # one-minute candles: a month per request at most
        v3.get_historical_candle_data1(RELIANCE, "minutes", "1", "2026-11-26", "2026-09-01")
    assert caught.value.status == 400
    intraday = v3.get_intra_day_candle_data(RELIANCE, "minutes", "30")
    assert intraday.data.candles[-1][0] == "2026-11-27T09:15:00+05:30"


def test_kitekit_sim_broker_upstox_serves_the_upstox_protocol(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kitekit.cli",
            "sim",
            "--broker",
            "upstox",
            "--port",
            "0",
            "--state",
            str(tmp_path / "w"),
            "--at",
            "2026-11-27",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert match and "SIMULATED" in first, first
        r = requests.get(f"{match.group(1)}/v2/user/profile", headers={"Api-Version": "2.0"}, timeout=10)
        assert r.status_code == 401 and r.json()["errors"][0]["errorCode"] == "UDAPI100050"
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
