"""The warm-up: the bars that closed before a run (or an instrument) started, handed to the strategy first.

A strategy that sets ``warmup = N`` gets, before its first live event, the last ``N`` closed bars of its
interval for each instrument through ``on_bar`` while ``self.warming`` is True, so its indicators are ready
when the run starts instead of a bar interval (or many) later. The bars come from the mode's own history
(:class:`~kitekit.runner.access.BarAccess` in a backtest: the candles before its first bar, never one of its
own events; the candle store, filled from the broker, on paper and live), so the same strategy warms the same
way in every mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from kitekit.runner.model import Bar
from kitekit.wire.history import Interval

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["warmup_bars"]


def warmup_bars(
    history: Callable[[str, str, int, datetime], pd.DataFrame],
    keys: Sequence[str],
    tokens: Mapping[str, int],
    interval: str,
    bars: int,
    now: datetime,
) -> tuple[list[Bar], dict[str, str]]:
    """Return the last ``bars`` bars of each of ``keys`` closed by ``now``, in time order, and what failed.

    At the same start, instruments keep the order of ``keys`` (as a backtest's merged bars do).

    Args:
        history: the mode's ``history(key, interval, bars, now)`` (a ``MarketAccess``'s).
        keys: the instruments.
        tokens: the instrument token of each key.
        interval: the bars' interval.
        bars: how many bars of each instrument.
        now: the run's time: only bars closed by then.

    Returns:
        The bars, oldest first, and for each instrument whose history could not be read, why (its bars are
        left out: the strategy warms up on the live bars to come).
    """
    # The bar's length as drivers.interval_span says (not imported: the drivers import the core, which imports this).
    kind = Interval(interval)
    span = timedelta(days=1) if kind is Interval.DAY else timedelta(minutes=kind.minutes)
    out: list[tuple[datetime, int, Bar]] = []
    failed: dict[str, str] = {}
    for rank, key in enumerate(keys):
        try:
            frame = history(key, interval, bars, now)
        except Exception as exc:  # no history at hand (a tick backtest, a broker without candles): said, not fatal
            failed[key] = f"{type(exc).__name__}: {exc}"
            continue
        token = tokens[key]
        import pandas as pd

        starts = pd.DatetimeIndex(frame.index).to_pydatetime()
        columns = [frame[name].to_numpy(dtype=float).tolist() for name in ("open", "high", "low", "close")]
        volumes = frame["volume"].to_numpy().tolist() if "volume" in frame else [0] * len(frame)
        for start, o, h, lo, c, v in zip(starts, *columns, volumes, strict=True):
            out.append((start, rank, Bar(key, token, start, o, h, lo, c, int(v), span)))
    out.sort(key=lambda item: (item[0], item[1]))
    return [bar for _, _, bar in out], failed
