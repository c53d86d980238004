"""IV and OI history: the pure series (percentile, nearest strikes, straddle IV) and on the simulator, through
stored day candles (``kitekit.iv_history``) and the terminal (``kitekit chain --iv-history``)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from kiteconnect import KiteConnect

from kitekit.cli import run
from kitekit.clock import ManualClock
from kitekit.history import CandleStore, History
from kitekit.instruments import InstrumentStore
from kitekit.iv_history import iv_history
from kitekit.options import black_price
from kitekit.options.history import IVHistory, nearest_strikes, percentile_rank, session_ivs
from kitekit.sim.server import SimServer
from tests.conftest import empty_cli_home
from tests.history_helpers import historical_requests, pace

# -- the pure series ------------------------------------------------------------------------------------------


def test_the_percentile_is_the_share_of_sessions_below() -> None:
    assert percentile_rank(np.array([0.10, 0.20, 0.30, 0.40]), 0.35) == 75.0
    assert percentile_rank(np.array([0.10, np.nan, 0.30]), 0.30) == 50.0  # NaN sessions do not count
    assert percentile_rank(np.array([0.10, 0.20]), 0.05) == 0.0
    assert np.isnan(percentile_rank(np.array([np.nan]), 0.2)) and np.isnan(percentile_rank(np.array([0.1]), np.nan))


def test_the_series_ranks_its_last_session_against_the_earlier_ones_or_a_given_iv_against_all() -> None:
    iv = np.array([0.12, 0.14, 0.16, 0.18, 0.15])
    n = iv.size
    series = IVHistory(
        "NIFTY", date(2026, 12, 29), [date(2026, 11, 20 + i) for i in range(n)], *(np.zeros(n),) * 7, iv,
        np.zeros(n), np.zeros(n), atm=True,
    )  # fmt: skip
    assert series.percentile() == 50.0  # 0.15 beats 0.12 and 0.14 of the four before it
    assert series.percentile(0.17) == 80.0  # against all five sessions
    assert series.rank() == pytest.approx(50.0) and series.rank(0.12) == 0.0
    assert series.sessions == 5 and list(series.frame().columns)[:2] == ["strike", "forward"]


def test_nearest_strikes_pick_the_closest_listed_strike_each_session() -> None:
    strikes = np.array([24900.0, 25000.0, 25100.0])
    got = nearest_strikes(np.array([24949.0, 24951.0, 26000.0, 20000.0, np.nan]), strikes)
    assert got[:4].tolist() == [24900.0, 25000.0, 25100.0, 24900.0] and np.isnan(got[4])


def test_session_ivs_average_the_straddle_and_fall_back_to_the_side_that_traded() -> None:
    forward, strike, tau = np.full(3, 25_000.0), np.full(3, 25_050.0), np.full(3, 20 / 365)
    call = black_price(forward, strike, tau, 0.065, 0.15, True)
    put = black_price(forward, strike, tau, 0.065, 0.17, False)
    call[1], put[2] = np.nan, 0.0  # no call candle; a put quoted 0 (never traded)
    call_iv, put_iv, iv = session_ivs(call, put, forward, strike, tau, 0.065)
    assert np.allclose(iv, [0.16, 0.17, 0.15], rtol=1e-9)
    assert np.isnan(call_iv[1]) and np.isnan(put_iv[2])


# -- on the simulator -----------------------------------------------------------------------------------------


@pytest.fixture
def history(sim_kite: KiteConnect, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path) -> History:
    store = CandleStore(tmp_path / "candles.duckdb")
    return History(pace(sim_kite, tmp_path, paced=False), sim_instruments, store, clock=sim_clock)


@pytest.mark.usefixtures("unlimited")
def test_the_atm_iv_history_of_a_monthly_follows_the_forward_and_reads_the_simulators_smile(
    sim: SimServer, history: History, sim_instruments: InstrumentStore
) -> None:
    expiry = sim_instruments.nearest_future("NIFTY").expiry
    assert expiry is not None
    got = iv_history(history, "NIFTY", expiry, days=60)
    assert got.atm and got.expiry == expiry and len(got.days) > 35 and got.days[-1] == date(2026, 11, 27)
    # Every session's strike is the listed one nearest its forward (the future's close)...
    assert np.all(np.abs(got.strike - got.forward) <= 25.0)
    assert len(np.unique(got.strike)) > 3  # ...so it moves as the market does
    # ...and its straddle reads back the simulator's at-the-money vol of each session's close, which drifts.
    market = sim.sim.market
    uid = next(u.uid for u in market.underlyings if u.symbol == "NIFTY 50")
    closes = [market.calendar.session_close(d).timestamp() for d in got.days]
    level = market.contracts.atm_vol(uid, np.array(closes))
    assert got.sessions == len(got.days) and np.all(np.abs(got.iv / level - 1) < 0.015)
    assert np.ptp(got.iv) > 0.01  # a percentile over a constant would mean nothing
    assert np.all(got.call_oi > 0) and np.all(got.put_oi > 0)


@pytest.mark.usefixtures("unlimited")
def test_a_strikes_history_is_fetched_once_and_then_read_from_the_candle_store(
    sim: SimServer, history: History, sim_instruments: InstrumentStore
) -> None:
    expiry = sim_instruments.nearest_future("NIFTY").expiry
    yesterday = date(2026, 11, 26)
    before = historical_requests(sim)
    first = iv_history(history, "NIFTY", expiry, strike=25_000.0, days=30, end=yesterday)
    fetched = historical_requests(sim) - before
    assert fetched == 3  # the future, the call and the put: one window each
    again = iv_history(history, "NIFTY", expiry, strike=25_000.0, days=30, end=yesterday)
    assert historical_requests(sim) - before == fetched  # every session closed: all from the store
    assert np.array_equal(first.iv, again.iv, equal_nan=True) and set(first.strike.tolist()) == {25_000.0}
    assert first.days[-1] == yesterday and np.isfinite(first.percentile())


@pytest.mark.usefixtures("unlimited")
def test_an_unlisted_strike_is_refused_with_the_nearest_listed_ones(history: History) -> None:
    with pytest.raises(ValueError, match=r"not a listed strike.*25000"):
        iv_history(history, "NIFTY", strike=25_010.0)


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


def test_kitekit_chain_ranks_the_atm_iv_against_its_history(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    monthly = "2026-12-29"
    args = ("chain", "NIFTY", "--expiry", monthly, "--strikes", "2", "--no-oi-change", "--iv-history", "60")
    code, text = kitekit(capsys, *args)
    assert code == 0, text
    line = re.search(r"ATM IV (\d+\.\d)% — (\d+)(st|nd|rd|th) percentile over 60 days \((\d+) sessions since", text)
    assert line, text
    assert 0 <= int(line[2]) <= 100 and int(line[4]) > 35
    fetched = historical_requests(on_sim)
    code, again = kitekit(capsys, *args)
    assert code == 0 and historical_requests(on_sim) == fetched  # closed sessions come from the candle store
    assert line[0] in again


def test_iv_history_takes_a_positive_number_of_days(on_sim: SimServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = kitekit(capsys, "chain", "NIFTY", "--iv-history", "0")
    assert code == 2 and "--iv-history" in text
