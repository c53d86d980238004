"""Option chains on the simulator: its prices are a smile without static arbitrage, read back by the analytics,
through the library (``kitekit.chain.chain``) and the terminal (``kitekit chain``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kitekit.chain import chain, live_expiry
from kitekit.cli import run
from kitekit.clock import ManualClock
from kitekit.instruments import InstrumentStore
from kitekit.options import DEFAULT_RATE
from kitekit.quotes import MarketData
from kitekit.sim.market.pricing import RISK_FREE_RATE
from kitekit.sim.server import SimServer
from tests.conftest import empty_cli_home


@pytest.fixture
def data(sim_kite: Any, sim_instruments: InstrumentStore, unlimited: Any) -> MarketData:
    return MarketData(sim_kite, resolve=sim_instruments.key)


def test_the_simulator_discounts_at_the_analytics_default_rate() -> None:
    assert RISK_FREE_RATE == DEFAULT_RATE


def test_a_weekly_chain_on_the_simulator_reads_back_as_a_smooth_smile_at_a_parity_forward(
    sim_instruments: InstrumentStore, data: MarketData, sim_clock: ManualClock
) -> None:
    got = chain(sim_instruments, data, "NIFTY", clock=sim_clock)
    assert got.expiry.isoformat() == "2026-12-01" and got.forward_source == "parity"
    spot = data.ltp("NIFTY 50")["NIFTY 50"]["last_price"]
    carried = spot * np.exp(DEFAULT_RATE * got.tau)
    assert abs(got.forward / carried - 1) < 2e-5  # parity gives back the simulator's own forward
    k, iv = got.smile()
    near = np.abs(np.log(k / got.forward)) < 0.03  # where prices are well above a tick
    assert near.sum() > 10 and (np.abs(np.diff(iv[near])) < 0.01).all() and 0.05 < got.atm_iv < 0.6
    assert np.isfinite(got.pcr_oi) and got.max_pain in got.strikes and got.atm_strike in got.strikes


def test_index_options_have_a_skew_puts_richer_than_calls_away_from_the_money(
    sim_instruments: InstrumentStore, data: MarketData, sim_clock: ManualClock
) -> None:
    for expiry in sim_instruments.expiries("NIFTY")[:3]:
        got = chain(sim_instruments, data, "NIFTY", expiry, clock=sim_clock)
        k, iv = got.smile()
        put_97, put_95, call_103 = np.interp(np.log([0.97, 0.95, 1.03]), np.log(k / got.forward), iv)
        # Out of the money at the same distance: the put's IV above the ATM's, the call's below it.
        assert put_97 > got.atm_iv + 0.01 > got.atm_iv > call_103 + 0.005, expiry
        # Further out the put wing keeps rising.
        assert put_95 > put_97, expiry


def test_a_monthly_chain_is_valued_on_its_future_and_has_no_static_arbitrage(
    sim_instruments: InstrumentStore, data: MarketData, sim_clock: ManualClock
) -> None:
    future = sim_instruments.nearest_future("NIFTY")
    assert future.expiry is not None
    got = chain(sim_instruments, data, "NIFTY", future.expiry, clock=sim_clock)
    assert got.forward_source == "future"
    cols, tick = got.columns, 0.05
    # The strikes that trade: far out of the money nothing does (no last price), and no bound binds a price
    # that does not exist.
    traded = (cols["ce_ltp"] > 0) & (cols["pe_ltp"] > 0)
    assert traded.sum() > 20 and (~traded).any() and np.ptp(np.flatnonzero(traded)) == traded.sum() - 1
    k, call, put = got.strikes[traded], cols["ce_ltp"][traded], cols["pe_ltp"][traded]
    disc = np.exp(-DEFAULT_RATE * got.tau)
    # Vertical: calls fall and puts rise with the strike, by no more than the discounted strike step.
    assert (np.diff(call) <= tick).all() and (np.diff(put) >= -tick).all()
    assert (-np.diff(call) <= disc * np.diff(k) + tick).all()
    # Butterfly: convex in the strike, within the ticks the prices are rounded to.
    assert (call[:-2] - 2 * call[1:-1] + call[2:] >= -2 * tick).all()
    assert (put[:-2] - 2 * put[1:-1] + put[2:] >= -2 * tick).all()
    # Against the future: put-call parity, where both prices are above the one-tick floor.
    live = (call > 1) & (put > 1)
    assert live.sum() > 10
    assert np.abs(call - put - disc * (got.forward - k))[live].max() <= 2 * tick


def test_calendar_no_arbitrage_a_later_expiry_is_worth_more_at_the_same_moneyness(
    sim_instruments: InstrumentStore, data: MarketData, sim_clock: ManualClock
) -> None:
    first, second = sim_instruments.expiries("NIFTY")[:2]
    near, far = (chain(sim_instruments, data, "NIFTY", d, clock=sim_clock) for d in (first, second))
    for moneyness in (0.98, 1.0, 1.02):
        values = []
        for got in (near, far):
            k = got.strikes
            # Undiscounted call value per unit of forward at a common moneyness.
            values.append(np.interp(moneyness * got.forward, k, got.columns["ce_ltp"]) / got.forward)
        assert values[1] > values[0], moneyness


def test_the_chain_is_cut_around_the_spot(
    sim_instruments: InstrumentStore, data: MarketData, sim_clock: ManualClock
) -> None:
    got = chain(sim_instruments, data, "NIFTY", clock=sim_clock, strikes=3)
    assert got.strikes.size == 7 and got.atm_strike in got.strikes[2:5]


@pytest.fixture
def on_sim(cli_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    empty_cli_home(tmp_path, monkeypatch, columns=250)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    cli_sim.sim.config.rate_limit_enabled = False
    return cli_sim


def kitekit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = run(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err, out.err
    return code, out.out + out.err


def rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if re.match(r"│ +[\d,]+ ", line)]


def test_kitekit_chain_shows_iv_oi_change_build_up_pcr_and_max_pain(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = kitekit(capsys, "chain", "NIFTY", "--strikes", "2")
    assert code == 0, text
    assert "NIFTY options expiring 2026-12-01 (lot" in text and "(parity)" in text and "max pain" in text
    table = rows(text)
    assert len(table) == 5
    header = next(line for line in text.splitlines() if "CE OI" in line)
    assert all(h in header for h in ("CE ΔOI", "CE build-up", "CE IV", "CE LTP", "strike", "PE LTP", "PE IV"))
    assert all(re.fullmatch(r"\d+\.\d%", row[3]) for row in table)  # CE IV on every strike
    assert any(re.fullmatch(r"[+-][\d,]+", row[1]) for row in table)  # changes in OI from the day candles
    assert re.search(r"PCR \d+\.\d\d \(OI\)", text)


def test_kitekit_chain_shows_strikes_that_never_traded_without_price_iv_or_oi_change(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without the previous session's OI: one day candle per contract would be 400 requests at Kite's 3/s.
    code, text = kitekit(capsys, "chain", "NIFTY", "--strikes", "0", "--greeks", "--no-oi-change")
    assert code == 0, text
    table = rows(text)
    untraded = [row for row in table if row[8] == "—" and row[10] == "—"]  # CE LTP, PE LTP
    assert len(untraded) > 20 and len(untraded) < len(table)
    for row in untraded:  # OI 0, no IV, no greeks
        assert row[0] == "0" == row[-1] and row[3] == "" and row[4] == "" == row[-5]
    traded = [row for row in table if row not in untraded]
    assert all(re.fullmatch(r"\d+\.\d%", row[3]) or row[3] == "" for row in traded)
    assert re.search(r"No IV for \d+ contracts: no price \(never traded\)", text)
    assert re.search(r"PCR \d+\.\d\d \(OI\)", text) and "max pain" in text


def test_kitekit_chain_with_greeks_and_watch_refreshes_the_given_number_of_times(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = on_sim.sim.requests["GET /quote"]
    args = ("chain", "NIFTY", "--strikes", "1", "--greeks", "--no-oi-change", "--watch", "--every", "0.2")
    code, text = kitekit(capsys, *args, "--count", "2")
    assert code == 0, text
    assert text.count("NIFTY options expiring") == 2 and on_sim.sim.requests["GET /quote"] - before == 2
    assert "CE Δ" in text and "PE Θ" in text and "CE ΔOI" in text
    calls_delta = [float(r[4]) for r in rows(text)[:3]]
    assert calls_delta == sorted(calls_delta, reverse=True) and all(0 < d < 1 for d in calls_delta)


def test_flags_that_need_watch_are_refused(on_sim: SimServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = kitekit(capsys, "chain", "NIFTY", "--count", "2")
    assert code == 2 and "--watch" in text


def test_an_unknown_expiry_is_a_usage_error_listing_the_expiries(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = kitekit(capsys, "chain", "NIFTY", "--expiry", "2026-12-02", "--no-oi-change")
    assert code == 2 and "2026-12-01" in text


def test_after_1530_on_expiry_day_the_chain_moves_to_the_next_expiry_and_the_days_own_is_expired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty_cli_home(tmp_path, monkeypatch, columns=250)
    monkeypatch.setenv("KITE_SIM_AT", "2026-12-01T15:45+05:30")  # Tuesday: NIFTY's weekly expiry
    code, text = kitekit(capsys, "--sim", "chain", "NIFTY", "--strikes", "2", "--no-oi-change")
    assert code == 0, text
    assert "NIFTY options expiring 2026-12-08" in text and "expired" not in text
    code, text = kitekit(
        capsys, "--sim", "chain", "NIFTY", "--expiry", "2026-12-01", "--strikes", "2", "--no-oi-change"
    )
    assert code == 0, text
    assert "expiring 2026-12-01" in text and "expired at 15:30 IST" in text and "IV and greeks are blank" in text
    for row in rows(text):
        assert row[3] == "" and re.fullmatch(r"[\d,]+\.\d\d", row[4])  # no IV, but the last price


def test_live_expiry_skips_the_day_whose_close_has_passed(sim_instruments: InstrumentStore) -> None:
    from datetime import datetime

    from kitekit.clock import IST

    assert live_expiry(sim_instruments, "NIFTY", datetime(2026, 12, 1, 15, 29, tzinfo=IST)).isoformat() == "2026-12-01"
    assert live_expiry(sim_instruments, "NIFTY", datetime(2026, 12, 1, 15, 30, tzinfo=IST)).isoformat() == "2026-12-08"
