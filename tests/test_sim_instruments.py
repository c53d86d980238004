"""The simulator's instruments dump: Kite's exact CSV, gzip on the wire, parsed by the official SDK."""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from datetime import date

import pytest
import requests
from kiteconnect import KiteConnect

from kitekit.clock import ManualClock
from kitekit.markethours import TradingCalendar
from kitekit.sim.market import Market
from kitekit.sim.server import SimServer
from kitekit.wire.instruments_csv import HEADER
from kitekit.wire.segments import Segment

SEGMENT_CODE = {"NSE": 1, "NFO": 2, "CDS": 3, "BSE": 4, "BFO": 5, "MCX": 7}


@pytest.fixture(scope="module")
def dump(sim_market: Market) -> list[dict[str, str]]:
    from kitekit.sim.pytest_plugin import SIM_NOW

    raw, _ = sim_market.universe(SIM_NOW).dump()
    return list(csv.DictReader(io.StringIO(raw.decode())))


def test_dump_is_gzip_csv_with_the_exact_header(sim_kite: KiteConnect, sim: SimServer) -> None:
    headers = {
        "Authorization": f"token {sim_kite.api_key}:{sim_kite.access_token}",
        "Accept-Encoding": "gzip",
    }
    r = requests.get(f"{sim.url}/instruments/NSE", headers=headers, stream=True, timeout=30)
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-encoding"] == "gzip"
    text = gzip.decompress(r.raw.read()).decode()
    assert text.split("\n", 1)[0] == HEADER


def test_sdk_parses_the_whole_dump_of_over_100k_instruments(sim_kite: KiteConnect) -> None:
    rows = sim_kite.instruments()
    assert len(rows) >= 100_000
    by_symbol = {(r["exchange"], r["tradingsymbol"]): r for r in rows}
    assert by_symbol[("NSE", "NIFTY 50")]["instrument_token"] == 256265
    assert by_symbol[("NSE", "RELIANCE")]["instrument_token"] == 738561
    assert any(isinstance(r["expiry"], date) for r in rows)


def test_exchange_dump_holds_only_that_exchange(sim_kite: KiteConnect) -> None:
    rows = sim_kite.instruments("CDS")
    assert rows and {r["exchange"] for r in rows} == {"CDS"}


def test_unknown_exchange_is_an_input_error(sim_kite: KiteConnect) -> None:
    from kiteconnect import exceptions as kex

    with pytest.raises(kex.InputException):
        sim_kite.instruments("NASDAQ")


def test_every_token_follows_the_segment_rule(dump: list[dict[str, str]]) -> None:
    for r in dump:
        code = Segment.INDICES if r["segment"] == "INDICES" else SEGMENT_CODE[r["exchange"]]
        assert int(r["instrument_token"]) == int(r["exchange_token"]) * 256 + code, r


def test_numeric_columns_always_hold_numbers(dump: list[dict[str, str]]) -> None:
    for r in dump:
        for col in ("last_price", "strike", "tick_size"):
            float(r[col])
            assert "." in r[col]
        assert r["lot_size"].isdigit()
        assert r["expiry"] == "" or date.fromisoformat(r["expiry"])


def test_universe_spans_every_segment_with_options_around_spot(dump: list[dict[str, str]]) -> None:
    segments = Counter(r["segment"] for r in dump)
    for seg in (
        "NSE",
        "BSE",
        "INDICES",
        "NFO-FUT",
        "NFO-OPT",
        "BFO-OPT",
        "CDS-FUT",
        "CDS-OPT",
        "MCX-FUT",
        "MCX-OPT",
    ):
        assert segments[seg] > 0, seg
    nifty_strikes = sorted({float(r["strike"]) for r in dump if r["name"] == "NIFTY" and r["instrument_type"] == "CE"})
    assert nifty_strikes[1] - nifty_strikes[0] == 50
    expiries = sorted({r["expiry"] for r in dump if r["name"] == "NIFTY" and r["instrument_type"] == "CE"})
    assert len(expiries) >= 6  # weeklies and monthlies
    assert all(date.fromisoformat(e).weekday() <= 1 for e in expiries)  # Tuesday, or Monday before a holiday


def test_weekly_and_monthly_symbols_follow_kite_conventions(dump: list[dict[str, str]]) -> None:
    symbols = {r["tradingsymbol"] for r in dump if r["name"] == "NIFTY"}
    assert "NIFTY26DECFUT" in symbols
    assert any(s.startswith("NIFTY26D01") for s in symbols)  # weekly: YY + month code + day
    assert any(s.startswith("NIFTY26DEC") and s.endswith("CE") for s in symbols)  # monthly


def test_contracts_keep_their_tokens_from_one_day_to_the_next(sim_market: Market) -> None:
    from datetime import datetime

    from kitekit.clock import IST

    today = sim_market.universe(datetime(2026, 11, 27, 9, 0, tzinfo=IST))
    tomorrow = sim_market.universe(datetime(2026, 11, 30, 9, 0, tzinfo=IST))
    common = set(today.by_key) & set(tomorrow.by_key)
    assert len(common) > 50_000
    for key in list(common)[:5000]:
        assert today.token[today.by_key[key]] == tomorrow.token[tomorrow.by_key[key]]


def test_dump_day_rolls_at_eight_in_the_morning(sim_market: Market, sim_clock: ManualClock) -> None:
    from datetime import datetime

    from kitekit.clock import IST

    assert sim_market.dump_day(datetime(2026, 11, 30, 7, 59, tzinfo=IST)) == date(2026, 11, 27)
    assert sim_market.dump_day(datetime(2026, 11, 30, 8, 0, tzinfo=IST)) == date(2026, 11, 30)
    assert sim_market.dump_day(datetime(2026, 11, 29, 12, 0, tzinfo=IST)) == date(2026, 11, 27)
    assert TradingCalendar().is_trading_day(date(2026, 11, 30))
