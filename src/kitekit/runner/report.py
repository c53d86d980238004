"""What every run leaves behind: its equity curve, drawdown, trades with Kite's charges, statistics, a report.

Files in the run's folder (Parquet, each replaced atomically)::

    equity.parquet        time, equity, drawdown (a fraction of the peak), exposed (held anything then)
    trades.parquet        one row per filled order: price, quantity, realised P&L and each charge (brokerage, STT,
                          exchange fees, SEBI fees, stamp duty, GST) as Kite's contract note computes them
    orders.parquet        one row per order the strategy asked for, placed or refused
    round_trips.parquet   flat to flat: side, quantity, P&L, charges, net
    stats.parquet, stats.json   the statistics below, one row
    report.html           charts and tables in one file that opens offline (plotly.js inside)

Statistics: total and annualised return, Sharpe and Sortino (daily returns, 252 a year, no risk-free rate),
Calmar (annualised return over the largest drawdown), the largest drawdown and its longest duration (peak to
recovery, or to the end), win rate, profit factor, expectancy (mean net P&L of a round trip), exposure (share of
the time anything was held), the longest losing streak (round trips in a row), and counts and charges.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.clock import IST
from kitekit.files import atomic_write

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.runner.book import RoundTrip

__all__ = ["RunReport", "compute_stats", "load_report", "write_parquet", "write_report"]

TRADE_COLUMNS = (
    "time", "order_id", "intent", "key", "product", "side", "quantity", "average_price", "value", "realised",
    "brokerage", "stt", "exchange_fees", "sebi_fees", "stamp_duty", "gst", "charges", "net",
)  # fmt: skip
ORDER_COLUMNS = (
    "time", "intent", "order_id", "key", "side", "quantity", "order_type", "product", "price", "trigger_price",
    "outcome",
)  # fmt: skip
TRIP_COLUMNS = ("key", "product", "side", "opened", "closed", "quantity", "realised", "charges", "net", "entry_value")


@dataclass
class RunReport:
    """A run's results, as written to (or read back from) its folder."""

    stats: dict[str, Any]
    equity: pd.DataFrame
    trades: pd.DataFrame
    orders: pd.DataFrame
    round_trips: pd.DataFrame
    folder: Path

    @property
    def html(self) -> Path:
        """Return the path of the HTML report."""
        return self.folder / "report.html"


def _frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(list(rows), columns=list(columns))


def equity_frame(times: Sequence[datetime], equity: Sequence[float], exposed: Sequence[bool]) -> pd.DataFrame:
    """Return the equity curve as a frame indexed by time (IST), with its drawdown from the running peak."""
    import numpy as np
    import pandas as pd

    values = np.asarray(equity, dtype=float)
    peak = np.maximum.accumulate(values) if len(values) else values
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, values / peak - 1.0, 0.0)
    index = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True)).tz_convert(IST) if len(times) else None
    frame = pd.DataFrame(
        {"equity": values, "drawdown": drawdown, "exposed": np.asarray(exposed, dtype=bool)}, index=index
    )
    frame.index.name = "time"
    # Several points at one moment (bars of several instruments): the last one stands for it.
    return frame[~frame.index.duplicated(keep="last")]


def compute_stats(
    equity: pd.DataFrame, trips: Sequence[RoundTrip], trades: pd.DataFrame, capital: float, orders: int
) -> dict[str, Any]:
    """Return the run's statistics (see the module docstring); NaN where a figure has no meaning (no trades)."""
    import numpy as np
    import pandas as pd

    nan = float("nan")
    values = equity["equity"].to_numpy(dtype=float) if len(equity) else np.array([capital])
    final = float(values[-1])
    total = final / capital - 1.0 if capital else nan
    start = equity.index[0] if len(equity) else None
    end = equity.index[-1] if len(equity) else None
    days = max((end - start).total_seconds() / 86400.0, 1.0) if start is not None and end is not None else 1.0
    annual = (1.0 + total) ** (365.0 / days) - 1.0 if total > -1.0 else -1.0
    days_of = pd.DatetimeIndex(equity.index).date
    daily = equity["equity"].groupby(days_of).last() if len(equity) else pd.Series(dtype=float)
    returns = daily.pct_change().dropna() if len(daily) > 1 else pd.Series(dtype=float)
    if len(returns) and capital:
        returns = pd.concat([pd.Series([daily.iloc[0] / capital - 1.0]), returns], ignore_index=True)
    std = float(returns.std(ddof=1)) if len(returns) > 1 else nan
    sharpe = float(returns.mean()) / std * math.sqrt(252) if std and not math.isnan(std) else nan
    downside = returns[returns < 0]
    down = float(np.sqrt((downside**2).sum() / len(returns))) if len(returns) else nan
    sortino = float(returns.mean()) / down * math.sqrt(252) if down and not math.isnan(down) else nan
    drawdown = equity["drawdown"].to_numpy(dtype=float) if len(equity) else np.array([0.0])
    max_dd = float(drawdown.min()) if len(drawdown) else 0.0
    calmar = annual / abs(max_dd) if max_dd < 0 else nan
    nets = [t.net for t in trips]
    wins = [n for n in nets if n > 0]
    losses = [n for n in nets if n <= 0]
    streak = longest = 0
    for net in nets:
        streak = streak + 1 if net <= 0 else 0
        longest = max(longest, streak)
    charges = float(trades["charges"].sum()) if len(trades) else 0.0
    return {
        "start": start.isoformat() if start is not None else None,
        "end": end.isoformat() if end is not None else None,
        "capital": capital,
        "final_equity": final,
        "total_return": total,
        "annualised_return": annual,
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": calmar,
        "max_drawdown": max_dd,
        "max_drawdown_duration_days": _longest_drawdown(equity),
        "win_rate": len(wins) / len(nets) if nets else nan,
        "profit_factor": sum(wins) / abs(sum(losses)) if losses and sum(losses) else (nan if not wins else math.inf),
        "expectancy": sum(nets) / len(nets) if nets else nan,
        "exposure": float(equity["exposed"].mean()) if len(equity) else 0.0,
        "longest_losing_streak": longest,
        "round_trips": len(nets),
        "trades": len(trades),
        "orders": orders,
        "charges": charges,
        "net_pnl": final - capital,
    }


def _longest_drawdown(equity: pd.DataFrame) -> float:
    """Return the longest time, in days, from a peak until the equity reached it again (or the end)."""
    if len(equity) < 2:
        return 0.0
    values = equity["equity"].to_numpy(dtype=float)
    times = equity.index
    longest = 0.0
    peak, since = values[0], times[0]
    for value, moment in zip(values[1:], times[1:], strict=True):
        if value >= peak:
            longest = max(longest, (moment - since).total_seconds())
            peak, since = value, moment
    longest = max(longest, (times[-1] - since).total_seconds()) if values[-1] < peak else longest
    return longest / 86400.0


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` (its index too) to ``path`` as Parquet, replacing the file atomically."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=True)
    atomic_write(path, buffer.getvalue())


def _jsonable(stats: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in stats.items():
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = None if math.isnan(value) else ("inf" if value > 0 else "-inf")
        else:
            out[key] = value
    return out


def write_report(
    folder: Path,
    *,
    meta: Mapping[str, Any],
    times: Sequence[datetime],
    equity: Sequence[float],
    exposed: Sequence[bool],
    trades: Sequence[Mapping[str, Any]],
    orders: Sequence[Mapping[str, Any]],
    trips: Sequence[RoundTrip],
    capital: float,
    html: bool = True,
) -> RunReport:
    """Write every report file of a run into ``folder``; return what was written.

    Raises:
        OSError: a file cannot be written.
    """
    import pandas as pd

    curve = equity_frame(times, equity, exposed)
    trade_frame = _frame(trades, TRADE_COLUMNS)
    order_frame = _frame(orders, ORDER_COLUMNS)
    trip_rows = [{**t.to_json(), "net": t.net} for t in trips]
    trip_frame = _frame(trip_rows, TRIP_COLUMNS)
    for name in ("opened", "closed"):
        if len(trip_frame):
            trip_frame[name] = instants(trip_frame[name])
    stats = compute_stats(curve, trips, trade_frame, capital, len(order_frame))
    stats = {"run": meta.get("name"), "mode": meta.get("mode"), "strategy": meta.get("strategy"), **stats}
    write_parquet(curve, folder / "equity.parquet")
    write_parquet(trade_frame, folder / "trades.parquet")
    write_parquet(order_frame, folder / "orders.parquet")
    write_parquet(trip_frame, folder / "round_trips.parquet")
    write_parquet(pd.DataFrame([_jsonable(stats)]), folder / "stats.parquet")
    atomic_write(folder / "stats.json", (json.dumps(_jsonable(stats), indent=1, default=str) + "\n").encode())
    report = RunReport(stats, curve, trade_frame, order_frame, trip_frame, folder)
    if html:
        from kitekit.runner.html import write_html

        write_html(report, meta)
    return report


def instants(texts: pd.Series) -> pd.Series:
    """Return ISO 8601 texts as IST timestamps, whole seconds and fractions alike.

    pandas guesses one format from the first text: a fill at 09:43:13 then one at 09:43:13.053280 (a paper run
    on a live clock) would fail, so the format is named.
    """
    import pandas as pd

    return pd.to_datetime(texts, utc=True, format="ISO8601").dt.tz_convert(IST)


def load_report(folder: Path) -> RunReport:
    """Read a run's report files back.

    Raises:
        FileNotFoundError: the run has no report (it is running, or crashed before writing one).
    """
    import pandas as pd

    stats_path = folder / "stats.json"
    if not stats_path.is_file():
        raise FileNotFoundError(stats_path)
    stats = json.loads(stats_path.read_text())

    def read(name: str) -> pd.DataFrame:
        path = folder / name
        return pd.read_parquet(path) if path.is_file() else pd.DataFrame()

    return RunReport(
        stats, read("equity.parquet"), read("trades.parquet"), read("orders.parquet"), read("round_trips.parquet"),
        folder,
    )  # fmt: skip
