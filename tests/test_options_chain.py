"""Chain analytics on hand-made chains: PCR, max pain, build-up tags, forward by parity, untraded strikes."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np

from kitekit.clock import IST
from kitekit.options import (
    BuildUp,
    ChainSide,
    NoIV,
    analyse_chain,
    black_price,
    build_up,
    max_pain,
    parity_forward,
    years_to_expiry,
)

NOW = datetime(2026, 11, 27, 11, 0, tzinfo=IST)
EXPIRY = date(2026, 12, 1)


def test_time_to_expiry_runs_to_1530_ist_on_the_expiry_day_and_stops_at_zero() -> None:
    assert years_to_expiry(EXPIRY, datetime(2026, 12, 1, 15, 30, tzinfo=IST)) == 0.0
    assert years_to_expiry(EXPIRY, datetime(2026, 12, 1, 15, 45, tzinfo=IST)) == 0.0
    assert years_to_expiry(EXPIRY, datetime(2026, 12, 1, 14, 30, tzinfo=IST)) == 1 / (365 * 24)
    assert years_to_expiry(EXPIRY, NOW) == (4 * 24 + 4.5) / (365 * 24)


def test_max_pain_is_where_option_buyers_are_paid_least() -> None:
    strikes = np.array([100.0, 110.0, 120.0])
    calls, puts = np.array([2.0, 1.0, 0.0]), np.array([0.0, 1.0, 2.0])
    # Paid if it settles at 100: puts 1*10 + 2*20 = 50; at 110: calls 2*10 + puts 2*10 = 40; at 120: 2*20 + 1*10 = 50.
    assert max_pain(strikes, calls, puts) == 110.0
    assert np.isnan(max_pain(strikes, np.zeros(3), np.zeros(3)))


def test_build_up_tags_follow_price_and_oi_changes() -> None:
    price = np.array([1.0, -1.0, 1.0, -1.0, 0.0, 1.0, np.nan])
    oi = np.array([10.0, 10.0, -10.0, -10.0, 10.0, 0.0, 10.0])
    assert build_up(price, oi).tolist() == [
        BuildUp.LONG_BUILD_UP, BuildUp.SHORT_BUILD_UP, BuildUp.SHORT_COVERING, BuildUp.LONG_UNWINDING,
        BuildUp.NONE, BuildUp.NONE, BuildUp.NONE,
    ]  # fmt: skip


def _side(ltp: np.ndarray, oi: np.ndarray, volume: np.ndarray, prev_oi: np.ndarray | None = None) -> ChainSide:
    n = ltp.size
    return ChainSide(
        ltp=ltp, bid=ltp - 0.05, ask=ltp + 0.05, volume=volume, oi=oi,
        prev_oi=prev_oi if prev_oi is not None else np.full(n, np.nan), prev_close=ltp + 1.0,
        token=np.arange(n, dtype=np.int64),
    )  # fmt: skip


def test_a_hand_made_chain_gives_pcr_max_pain_atm_iv_and_the_smile_it_was_priced_with() -> None:
    strikes = np.arange(24_500.0, 25_550.0, 50.0)
    forward, tau, rate = 25_020.0, years_to_expiry(EXPIRY, NOW), 0.065
    vol = 0.13 + 0.5 * np.log(strikes / forward) ** 2
    calls = _side(
        black_price(forward, strikes, tau, rate, vol, True), np.full(strikes.size, 100.0), np.full(strikes.size, 50.0)
    )
    puts = _side(
        black_price(forward, strikes, tau, rate, vol, False), np.full(strikes.size, 150.0), np.full(strikes.size, 25.0)
    )
    assert abs(parity_forward(strikes, calls, puts, tau, rate, 25_000.0) - forward) < 1e-6
    got = analyse_chain("NIFTY", EXPIRY, NOW, tau, strikes, calls, puts, forward, "parity", rate, 75)
    assert got.pcr_oi == 1.5 and got.pcr_volume == 0.5 and got.atm_strike == 25_000.0
    assert np.allclose(got.columns["ce_iv"], vol, rtol=1e-9) and np.allclose(got.columns["pe_iv"], vol, rtol=1e-9)
    assert abs(got.atm_iv - 0.13) < 1e-4
    k, smile = got.smile()
    assert np.array_equal(k, strikes) and np.allclose(smile, vol)
    frame = got.frame()
    assert list(frame.columns[:3]) == ["strike", "ce_token", "ce_ltp"] and len(frame) == strikes.size
    # OI change and build-up need the previous session's OI: blank without it.
    assert (got.columns["ce_buildup"] == "").all() and np.isnan(got.columns["ce_oi_change"]).all()


def test_strikes_that_never_traded_have_no_iv_and_say_why() -> None:
    strikes = np.array([24_900.0, 25_000.0, 25_100.0])
    ltp = np.array([0.0, 120.0, np.nan])  # Kite quotes 0 for a contract that never traded
    calls = _side(ltp, np.array([0.0, 10.0, 0.0]), np.zeros(3), prev_oi=np.array([0.0, 5.0, 0.0]))
    puts = _side(ltp[::-1].copy(), np.zeros(3), np.zeros(3))
    got = analyse_chain("NIFTY", EXPIRY, NOW, 4 / 365, strikes, calls, puts, 25_000.0, "future", 0.065)
    assert got.columns["ce_iv_reason"].tolist() == [NoIV.NO_PRICE, NoIV.OK, NoIV.NO_PRICE]
    assert got.why_no_iv("ce", 0) == "no price (never traded)"
    assert np.isnan(got.columns["ce_delta"][[0, 2]]).all() and np.isfinite(got.columns["ce_delta"][1])
    assert got.columns["ce_oi_change"][1] == 5.0 and np.isnan(got.pcr_volume)  # no volume on either side


def test_an_expired_chain_keeps_prices_and_oi_but_has_no_iv() -> None:
    strikes = np.array([25_000.0])
    side = _side(np.array([10.0]), np.array([100.0]), np.array([5.0]))
    got = analyse_chain("NIFTY", EXPIRY, NOW, 0.0, strikes, side, side, 25_010.0, "future", 0.065)
    assert got.expired and got.columns["ce_iv_reason"][0] == NoIV.EXPIRED and np.isnan(got.atm_iv)
    assert got.columns["ce_ltp"][0] == 10.0 and got.max_pain == 25_000.0
