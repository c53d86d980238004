"""Shortcuts shared by the historical candle tests: clients on the simulator, recorded requests, counts, and
candle frames made fast (the simulator's market model straight, or synthetic) to fill a store with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import requests
from kiteconnect import KiteConnect

from kitekit.clock import IST
from kitekit.history import History
from kitekit.rest.pacer import Pacer
from kitekit.rest.retry import RetryPolicy
from kitekit.rest.transport import install_transport
from kitekit.sim.market import Market
from kitekit.sim.server import SimServer
from kitekit.wire.candles import CANDLE_COLUMNS, INDEX_NAME
from kitekit.wire.history import Interval
from kitekit.wire.routes import EndpointClass

HISTORICAL = "GET /instruments/historical/"
RELIANCE = 738561


@dataclass(frozen=True)
class Sent:
    """One historical request as it went on the wire."""

    token: int
    interval: str
    start: datetime
    end: datetime
    oi: bool
    continuous: bool


def pace(kite: KiteConnect, tmp_path: Path, *, paced: bool = True) -> KiteConnect:
    """Mount kitekit's transport on ``kite``: Kite's limits (or none), retries without real pauses."""
    rates = None if paced else {EndpointClass.HISTORICAL: 0.0}
    install_transport(kite, Pacer(tmp_path / "pacing.sqlite3", rates=rates), RetryPolicy(sleep=lambda _: None))
    return kite


def record(kite: KiteConnect) -> list[Sent]:
    """Return a list that fills with every historical request ``kite`` sends (a response hook, no patching)."""
    sent: list[Sent] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        url = urlsplit(response.request.url or "")
        if not url.path.startswith("/instruments/historical/"):
            return
        _, _, _, token, interval = url.path.split("/")
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        sent.append(
            Sent(
                int(token),
                interval,
                datetime.fromisoformat(q["from"]).replace(tzinfo=IST),
                datetime.fromisoformat(q["to"]).replace(tzinfo=IST),
                q["oi"] == "1",
                q["continuous"] == "1",
            )
        )

    kite.reqsession.hooks["response"].append(hook)
    return sent


def fresh(history: History, *args: object, **kwargs: object) -> pd.DataFrame:
    """The same candles fetched whole, with no store: the reference an incremental answer must equal."""
    plain = History(history.kite, history.instruments, clock=history.clock)
    return plain.candles(*args, **kwargs)  # type: ignore[arg-type]


def historical_requests(sim: SimServer) -> int:
    """Return how many historical requests the simulator has received, all instruments and intervals."""
    return sum(n for route, n in dict(sim.sim.requests).items() if route.startswith(HISTORICAL))


def set_faults(sim: SimServer, **settings: Any) -> None:
    """Configure the simulator's fault injection through its admin route."""
    r = requests.put(f"{sim.url}/__sim/faults", json=settings, timeout=10)
    assert r.status_code == 200, r.text


def market_candles(
    market: Market, key: str, interval: Interval, start: datetime, end: datetime, now: datetime
) -> pd.DataFrame:
    """The candles the simulator serves for ``key`` at ``now``, straight from its market model, as a frame."""
    uni = market.universe(now)
    row = uni.resolve(key)
    assert row is not None, key
    times, *columns = zip(*market.candles(uni, row, interval, start, end, now), strict=True)
    seconds = np.fromiter((t.timestamp() for t in times), dtype=np.int64, count=len(times))
    return _frame(seconds, dict(zip(CANDLE_COLUMNS, columns, strict=True)))


def synthetic_minutes(first: date, last: date, seed: int = 3) -> pd.DataFrame:
    """Minute candles of every weekday from ``first`` to ``last`` (09:15 to 15:29), a random walk, made at once."""
    days = pd.bdate_range(first, last).tz_localize(IST)
    opening = days.as_unit("s").asi8 + (9 * 60 + 15) * 60
    seconds = (opening[:, None] + 60 * np.arange(375)[None, :]).ravel()
    rng = np.random.default_rng(seed)
    close = np.round(500 + np.cumsum(rng.normal(0, 0.2, len(seconds))), 2)
    opened = np.concatenate([[close[0]], close[:-1]])
    values = {
        "open": opened,
        "high": np.maximum(opened, close) + 0.05,
        "low": np.minimum(opened, close) - 0.05,
        "close": close,
        "volume": rng.integers(1, 5000, len(seconds)),
    }
    return _frame(seconds, values)


def _frame(seconds: np.ndarray, columns: dict[str, Any]) -> pd.DataFrame:
    stamps = seconds.astype("datetime64[s]").astype("datetime64[us]")
    index = pd.DatetimeIndex(stamps, name=INDEX_NAME).tz_localize("UTC").tz_convert(IST)
    assert index.is_unique and index.is_monotonic_increasing
    values = {n: np.asarray(c, dtype=np.int64 if n == "volume" else np.float64) for n, c in columns.items()}
    return pd.DataFrame(values, index=index)
