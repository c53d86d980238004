"""kitekit.options against vollib and against itself: IV to 1e-9 on a grid, NaN reasons, greeks by differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from vollib.black import black as vollib_black
from vollib.black.greeks import analytical as vollib_greeks
from vollib.black.implied_volatility import implied_volatility as vollib_iv

from kitekit.options import NoIV, black_price, greeks, implied_greeks, implied_vol, normalised_otm
from kitekit.options.implied import CHUNK
from kitekit.options.normal import norm_cdf

HOUR = 1 / (365 * 24)


def grid() -> tuple[np.ndarray, ...]:
    """Strikes 0.6x..1.6x the forward, expiries from one hour to a year, vols 5%..150%, rates 0..12%, both sides."""
    f = 25_000.0
    k = f * np.array([0.6, 0.8, 0.9, 0.95, 0.98, 0.995, 1.0, 1.005, 1.02, 1.05, 1.1, 1.25, 1.6])
    t = np.array([HOUR, 6 * HOUR, 1 / 365, 7 / 365, 30 / 365, 0.25, 1.0])
    v = np.array([0.05, 0.12, 0.3, 0.7, 1.5])
    r = np.array([0.0, 0.065, 0.12])
    mesh = np.meshgrid(k, t, v, r, [True, False], indexing="ij")
    return (np.full(mesh[0].size, f), *(m.ravel() for m in mesh))


def well_conditioned(price: np.ndarray, f: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray,
                     v: np.ndarray, call: np.ndarray) -> np.ndarray:  # fmt: skip
    """Return where one ulp of the price moves the IV by less than 1e-11 relative (and the price is not ~0)."""
    vega = greeks(f, k, t, r, v, call).vega * 100 * v  # dV / d ln(vol)
    with np.errstate(all="ignore"):
        return np.asarray((np.finfo(float).eps * price / vega < 1e-11) & (price > 1e-200), dtype=bool)


def test_implied_vol_agrees_with_vollib_to_1e_9_on_a_grid_of_strikes_expiries_vols_and_rates() -> None:
    f, k, t, v, r, call = grid()
    price = black_price(f, k, t, r, v, call)
    ours = implied_vol(price, f, k, t, r, call)
    ok = well_conditioned(price, f, k, t, r, v, call)
    assert ok.sum() > 0.6 * ok.size  # the comparison covers most of the grid
    theirs = np.array(
        [vollib_iv(p, ff, kk, rr, tt, "c" if c else "p") for p, ff, kk, rr, tt, c in
         zip(price[ok], f[ok], k[ok], r[ok], t[ok], call[ok], strict=True)]
    )  # fmt: skip
    assert np.max(np.abs(ours.vol[ok] / theirs - 1)) < 1e-9
    assert np.max(np.abs(ours.vol[ok] / v[ok] - 1)) < 1e-9
    # The rest is set by rounding (deep in the money with a time value under an ulp of the price, or prices
    # that underflow): never NaN without a reason.
    assert not np.isnan(ours.vol[ours.reason == NoIV.OK]).any()


def test_prices_agree_with_vollib() -> None:
    f, k, t, v, r, call = grid()
    ours = black_price(f, k, t, r, v, call)
    theirs = np.array([vollib_black("c" if c else "p", ff, kk, tt, rr, vv) for ff, kk, tt, rr, vv, c in
                       zip(f, k, t, r, v, call, strict=True)])  # fmt: skip
    big = theirs > 1e-8
    assert np.max(np.abs(ours[big] / theirs[big] - 1)) < 1e-11


def test_greeks_agree_with_vollib() -> None:
    f, k, t, v, r, call = (a[::7] for a in grid())
    g = greeks(f, k, t, r, v, call)
    for name in ("delta", "gamma", "theta", "vega", "rho"):
        fn = getattr(vollib_greeks, name)
        theirs = np.array([fn("c" if c else "p", ff, kk, tt, rr, vv) for ff, kk, tt, rr, vv, c in
                           zip(f, k, t, r, v, call, strict=True)])  # fmt: skip
        ours = getattr(g, name)
        big = np.abs(theirs) > 1e-12
        assert np.max(np.abs(ours[big] / theirs[big] - 1)) < 1e-9, name


def test_greeks_match_finite_differences_of_the_price() -> None:
    f, k, t, r, v = 25_000.0, np.array([24_000.0, 25_000.0, 26_500.0]), 20 / 365, 0.065, 0.15
    for call in (True, False):
        g = greeks(f, k, t, r, v, call)

        def price(df: float = 0.0, dt: float = 0.0, dr: float = 0.0, dv: float = 0.0, call: bool = call) -> np.ndarray:
            return black_price(f + df, k, t + dt, r + dr, v + dv, call)

        h = 1.0
        assert np.allclose(g.delta, (price(df=h) - price(df=-h)) / (2 * h), rtol=1e-6)
        assert np.allclose(g.gamma, (price(df=h) - 2 * price() + price(df=-h)) / h**2, rtol=1e-4)
        assert np.allclose(g.vega, (price(dv=1e-4) - price(dv=-1e-4)) / 2e-4 * 0.01, rtol=1e-6)
        assert np.allclose(g.rho, (price(dr=1e-5) - price(dr=-1e-5)) / 2e-5 * 0.01, rtol=1e-5)
        day = 1 / 365
        assert np.allclose(g.theta, (price(dt=-day / 100) - price()) * 100, rtol=1e-3)


def test_every_price_inside_the_bounds_has_a_finite_vol_and_reprices() -> None:
    rng = np.random.default_rng(29)
    n = 20_000
    x = rng.uniform(-1.5, 1.5, n)
    f, k = 100.0, 100.0 * np.exp(-x)
    t = np.exp(rng.uniform(np.log(HOUR), 0.0, n))
    call = rng.random(n) < 0.5
    # A share of the way from intrinsic value to the maximum, spread over 15 orders of magnitude.
    lower = np.maximum(np.where(call, f - k, k - f), 0.0)
    upper = np.where(call, f, k)
    share = 10 ** rng.uniform(-15, np.log10(0.999), n)
    undiscounted = lower + share * (upper - lower)
    price = undiscounted * np.exp(-0.065 * t)
    inside = (undiscounted > lower) & (undiscounted < upper)
    got = implied_vol(price, f, k, t, 0.065, call)
    assert np.isfinite(got.vol[inside]).all() and (got.reason[inside] == NoIV.OK).all()
    back = black_price(f, k, t, 0.065, got.vol, call)
    tv = undiscounted - lower
    fine = inside & (tv > 1e-6 * undiscounted) & (got.vol < 50)
    assert np.allclose(back[fine], price[fine], rtol=1e-9, atol=0)


def test_prices_outside_the_bounds_are_nan_with_the_reason() -> None:
    f, k, t, r = 100.0, np.array([90.0, 110.0, 100.0, 100.0, 100.0, 100.0]), 0.1, 0.05
    disc = np.exp(-r * t)
    price = np.array([9.0 * disc, 100.5 * disc, 5.0, np.nan, -1.0, 2.0])
    call = np.array([True, True, True, True, True, False])
    tau = np.array([t, t, 0.0, t, t, t])
    got = implied_vol(price, f, k, tau, r, call)
    assert got.reason.tolist() == [
        NoIV.BELOW_INTRINSIC, NoIV.ABOVE_MAXIMUM, NoIV.EXPIRED, NoIV.NO_PRICE, NoIV.BAD_INPUT, NoIV.OK,
    ]  # fmt: skip
    assert np.isnan(got.vol[:5]).all() and np.isfinite(got.vol[5])
    assert "intrinsic" in got.why(0) and "maximum" in got.why(1) and got.why(5) == ""


def test_a_price_at_intrinsic_value_has_zero_vol_and_greeks_at_their_limits() -> None:
    got = implied_vol(10.0, 110.0, 100.0, 1.0, 0.0, True)  # no rate: the price is exactly intrinsic
    assert float(got.vol) == 0.0
    g = greeks(110.0, 100.0, 1.0, 0.05, 0.0, True)
    assert float(g.delta) == pytest.approx(np.exp(-0.05)) and float(g.gamma) == 0.0 and float(g.vega) == 0.0


def test_expired_options_have_nan_greeks() -> None:
    g = greeks(100.0, 100.0, 0.0, 0.05, 0.2, True)
    assert np.isnan([g.delta, g.gamma, g.theta, g.vega, g.rho]).all()


def test_the_normalised_price_is_symmetric_and_bounded() -> None:
    x = -np.linspace(0.0, 2.0, 50)
    s = np.full(50, 0.3)
    b = normalised_otm(x, s)
    assert ((b > 0) & (b < np.exp(x / 2))).all()
    assert np.all(np.diff(b) < 0)  # further out of the money, cheaper


def test_the_normal_distribution_is_exact_to_1e_15_in_every_interval_and_the_far_tail() -> None:
    # Cody's three intervals meet at |z|/sqrt(2) = 0.46875 and 4; math.erfc is the reference (correctly rounded
    # to about an ulp), on the same w = -z/sqrt(2) so that only the approximation differs.
    z = np.concatenate((np.linspace(-37.0, 9.0, 20_001), [-0.66291, -0.66292, -5.6568, -5.6569, 0.0]))
    w = z * -math.sqrt(0.5)
    expected = np.array([0.5 * math.erfc(v) for v in w])
    got = norm_cdf(z)
    assert np.max(np.abs(got / expected - 1)) < 1e-13  # the far tail loses ~y² ulps in exp(-y²)
    near = np.abs(z) < 8
    assert np.max(np.abs(got[near] / expected[near] - 1)) < 2e-15
    assert norm_cdf(np.array([-np.inf, np.inf])).tolist() == [0.0, 1.0]
    assert np.isnan(norm_cdf(np.nan))
    assert norm_cdf(np.zeros((2, 3))).shape == (2, 3)


def test_implied_greeks_gives_the_numbers_of_implied_vol_then_greeks() -> None:
    f, k, t, v, r, call = grid()
    price = black_price(f, k, t, r, v, call)
    price[::17] = np.nan  # untraded: no IV, no greeks
    iv, g = implied_greeks(price, f, k, t, r, call)
    alone = implied_vol(price, f, k, t, r, call)
    assert np.array_equal(iv.vol, alone.vol, equal_nan=True) and np.array_equal(iv.reason, alone.reason)
    separate = greeks(f, k, t, r, alone.vol, call)
    for name in ("delta", "gamma", "theta", "vega", "rho", "price"):
        ours, theirs = getattr(g, name), getattr(separate, name)
        assert np.array_equal(np.isnan(ours), np.isnan(theirs)), name
        big = np.abs(theirs) > 1e-12
        # The fused price is the option's own price: equal to the model's at the IV up to the IV's conditioning.
        assert np.max(np.abs(ours[big] / theirs[big] - 1)) < 1e-9, name


def test_a_batch_larger_than_a_chunk_solves_as_its_parts_do() -> None:
    rng = np.random.default_rng(7)
    n = 3 * CHUNK + 17
    k = 100.0 * np.exp(rng.uniform(-0.5, 0.5, n))
    t = np.exp(rng.uniform(np.log(HOUR), 0.0, n))
    call = rng.random(n) < 0.5
    price = black_price(100.0, k, t, 0.065, rng.uniform(0.05, 1.0, n), call)
    price[5 * CHUNK // 2] = -1.0  # a bad input in the middle of a chunk
    whole, g = implied_greeks(price, 100.0, k, t, 0.065, call)  # forward and rate scalars, broadcast per chunk
    for start in range(0, n, 1000):
        part = slice(start, start + 1000)
        piece, pg = implied_greeks(price[part], 100.0, k[part], t[part], 0.065, call[part])
        assert np.array_equal(whole.vol[part], piece.vol, equal_nan=True)
        assert np.array_equal(whole.reason[part], piece.reason)
        assert np.array_equal(g.delta[part], pg.delta, equal_nan=True)
    assert whole.reason[5 * CHUNK // 2] == NoIV.BAD_INPUT
