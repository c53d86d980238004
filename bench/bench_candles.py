"""Historical candle answers, bytes to DataFrame: kitekit's column-wise parse against the official SDK's.

Run: ``./dev bench candles`` (``--quick``: a 5-day window and fewer repeats, a couple of seconds in all).

The bytes are the in-process simulator's answers to ``GET /instruments/historical/{token}/minute`` for the
longest window Kite serves (60 days), once without and once with ``oi``. Both sides start from the same
bytes and end with a pandas DataFrame of the same candles, and the run checks the two frames hold the same
values before timing them:

* baseline: what ``KiteConnect.historical_data()`` does after the download (``json.loads``, the envelope
  check of ``KiteConnect._request``, ``KiteConnect._format_historical``: a dict and a ``dateutil`` parse per
  candle), then ``pd.DataFrame(records)``;
* kitekit: ``kitekit.wire.candles.parse_candles(raw)``, time-indexed in IST.

Issue 14 asks for at least 10x. A 60-day window holds about 41 sessions, ~15,000 minute candles of an NSE
instrument (the issue's "~22,000" counts 60 sessions); the per-candle times are printed as well.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import partial

import pandas as pd
import requests
from kiteconnect import KiteConnect

from bench.common import BENCH_NOW, Figures, bench_sim, report, timeit
from kitekit.clock import IST
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.wire.candles import parse_candles
from kitekit.wire.formats import format_timestamp
from kitekit.wire.history import Interval

TARGET = 10.0
RELIANCE = 738561


def sdk_parse(kite: KiteConnect, raw: bytes) -> pd.DataFrame:
    """The SDK's work on a historical answer after the download, then ``pd.DataFrame``."""
    data = json.loads(raw)  # requests' Response.json()
    if data.get("status") == "error" or data.get("error_type"):  # KiteConnect._request's check
        raise RuntimeError(data.get("message"))
    return pd.DataFrame(kite._format_historical(data["data"]))


def fetch(server_url: str, kite: KiteConnect, token: int, start: datetime, end: datetime, oi: bool) -> bytes:
    """Return the simulator's raw answer for minute candles of ``token`` in [start, end]."""
    params: dict[str, str | int] = {"from": format_timestamp(start), "to": format_timestamp(end), "oi": int(oi)}
    r = requests.get(
        f"{server_url}/instruments/historical/{token}/minute",
        params={**params, "interval": "minute"},
        headers={"Authorization": f"token {kite.api_key}:{kite.access_token}", "X-Kite-Version": "3"},
        timeout=120,
    )
    r.raise_for_status()
    return r.content


def same_candles(ours: pd.DataFrame, sdk: pd.DataFrame) -> None:
    """Fail unless both frames hold the same candles (instants, values) in the same order."""
    theirs = sdk.set_index("date")
    theirs.index = pd.DatetimeIndex(theirs.index).tz_convert(IST).as_unit("us")
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)


def main(argv: list[str]) -> Figures:
    """Measure and print the comparison; ``--quick`` for CI."""
    quick = "--quick" in argv
    days = 5 if quick else Interval.MINUTE.max_days
    server = bench_sim()
    try:
        kite = KiteConnect(server.sim.config.api_key, root=server.url)
        login_via_redirect(server, kite)
        uni = server.sim.market.universe(BENCH_NOW)
        future = next(
            int(uni.token[i]) for i in range(len(uni)) if uni.segment[i] == "NFO-FUT" and uni.symbol[i][:6] == "NIFTY2"
        )
        start = BENCH_NOW - timedelta(days=days)
        cases: list[tuple[str, bytes]] = [
            (f"RELIANCE minute, {days} days", fetch(server.url, kite, RELIANCE, start, BENCH_NOW, oi=False)),
            (f"NIFTY future minute + oi, {days} days", fetch(server.url, kite, future, start, BENCH_NOW, oi=True)),
        ]
    finally:
        server.stop()

    ratios: list[float] = []
    for label, raw in cases:
        same_candles(parse_candles(raw), sdk_parse(kite, raw))
        count = len(parse_candles(raw))
        sdk, _ = timeit(partial(sdk_parse, kite, raw), repeat=1 if quick else 3, warmup=0 if quick else 1)
        ours, _ = timeit(partial(parse_candles, raw), repeat=5 if quick else 21)
        print(
            f"{label}: {count} candles, {len(raw) / 1e6:.2f} MB; per candle: kitekit "
            f"{ours / count * 1e6:.2f} us, SDK {sdk / count * 1e6:.1f} us"
        )
        report("  bytes -> DataFrame", ours, sdk, unit="ms")
        ratios.append(sdk / ours)

    worst = min(ratios)
    verdict = "yes" if worst >= TARGET else "NO"
    print(f"\nspeed-up over the SDK parse + pd.DataFrame, worst case: {worst:.1f}x (target >= {TARGET:.0f}x) {verdict}")
    return {"parse_ratio_worst": worst}
