"""A run's HTML report: statistics, the equity curve with its drawdown, round trips and trades, in one file.

plotly.js is embedded once (about 4.7 MB), so the file opens offline, from an e-mail or a cron job's folder,
with no CDN. Long curves are thinned to a few thousand points for the chart (the files keep every point), keeping
the lowest point of each stretch so no drawdown disappears from the picture.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kitekit.files import atomic_write

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LABELS", "Report", "format_stat", "render_html", "rupees", "write_html"]


class Report(Protocol):
    """What the page shows of a run's report (:class:`kitekit.runner.report.RunReport` is one; a protocol, not
    that class, as the report module writes its page through this one)."""

    @property
    def stats(self) -> dict[str, Any]: ...
    @property
    def equity(self) -> pd.DataFrame: ...
    @property
    def trades(self) -> pd.DataFrame: ...
    @property
    def round_trips(self) -> pd.DataFrame: ...
    @property
    def html(self) -> Path: ...


#: Points drawn of the equity curve, at most.
MAX_POINTS = 4000

_PERCENT = {"total_return", "annualised_return", "max_drawdown", "win_rate", "exposure"}
_MONEY = {"capital", "final_equity", "expectancy", "charges", "net_pnl"}
LABELS = {
    "total_return": "Total return",
    "annualised_return": "Annualised return",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "calmar": "Calmar",
    "max_drawdown": "Max drawdown",
    "max_drawdown_duration_days": "Max drawdown duration (days)",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "expectancy": "Expectancy (per round trip)",
    "exposure": "Exposure",
    "longest_losing_streak": "Longest losing streak",
    "round_trips": "Round trips",
    "trades": "Trades (filled orders)",
    "orders": "Orders asked for",
    "charges": "Charges",
    "net_pnl": "Net P&L",
    "capital": "Capital",
    "final_equity": "Final equity",
    "start": "From",
    "end": "To",
}


def format_stat(name: str, value: Any) -> str:
    """Return one statistic as a person reads it (percentages, rupees, two decimals)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, str):
        return value if value not in ("inf", "-inf") else ("∞" if value == "inf" else "-∞")
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if name in _PERCENT:
        return f"{float(value) * 100:,.2f}%"
    if name in _MONEY:
        return rupees(float(value))
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.2f}"


def rupees(amount: float) -> str:
    """Return ``amount`` in rupees with Indian digit grouping: ``₹12,34,567.50``, ``-₹1,234.00``."""
    whole, fraction = f"{abs(amount):.2f}".split(".")
    head, tail = whole[:-3], whole[-3:]
    pairs: list[str] = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    grouped = ",".join(p for p in [head, *pairs, tail] if p)
    return f"{'-' if amount < 0 and float(whole + '.' + fraction) else ''}₹{grouped}.{fraction}"


def _thin(curve: pd.DataFrame) -> pd.DataFrame:
    import numpy as np

    n = len(curve)
    if n <= MAX_POINTS:
        return curve
    step = math.ceil(n / (MAX_POINTS // 2))
    keep = set(range(0, n, step)) | {n - 1}
    values = curve["equity"].to_numpy()
    for start in range(0, n, step):
        keep.add(start + int(np.argmin(values[start : start + step])))
    return curve.iloc[sorted(keep)]


def render_html(report: Report, meta: Mapping[str, Any]) -> str:
    """Return the report as one HTML page (plotly.js embedded)."""
    from plotly.subplots import make_subplots

    stats = report.stats
    curve = _thin(report.equity)
    stamps = [t.strftime("%Y-%m-%d %H:%M:%S") for t in curve.index]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    figure.add_scatter(x=stamps, y=curve["equity"].tolist(), name="equity", line={"color": "#1f77b4"}, row=1, col=1)
    figure.add_scatter(
        x=stamps,
        y=[v * 100 for v in curve["drawdown"].tolist()],
        name="drawdown %",
        fill="tozeroy",
        line={"color": "#ef5350"},
        row=2,
        col=1,
    )
    figure.update_layout(
        title="Equity and drawdown", template="plotly_white", hovermode="x unified", height=520, showlegend=False,
        margin={"l": 60, "r": 30, "t": 50, "b": 40},
    )  # fmt: skip
    figure.update_yaxes(title_text="equity ₹", row=1, col=1)
    figure.update_yaxes(title_text="drawdown %", row=2, col=1)
    parts = [str(figure.to_html(include_plotlyjs=True, full_html=False))]
    trips = report.round_trips
    if len(trips):
        import plotly.graph_objects as go

        nets = trips["net"].tolist()
        bars = go.Figure(
            go.Bar(
                x=[str(t) for t in trips["closed"].tolist()],
                y=nets,
                marker_color=["#26a69a" if n > 0 else "#ef5350" for n in nets],
            )
        )
        bars.update_layout(
            title="Round trips: net P&L after charges", template="plotly_white", height=320,
            margin={"l": 60, "r": 30, "t": 50, "b": 40},
        )  # fmt: skip
        parts.append(str(bars.to_html(include_plotlyjs=False, full_html=False)))
    title = f"{meta.get('name', '')} — {meta.get('mode', '')} — {meta.get('strategy', '')}"
    rows = "".join(
        f"<tr><th>{html.escape(LABELS.get(k, k))}</th><td>{html.escape(format_stat(k, stats.get(k)))}</td></tr>"
        for k in LABELS
        if k in stats
    )
    params = meta.get("params") or {}
    described = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
    symbols = ", ".join(meta.get("symbols") or [])
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 12px 0; font-size: 14px; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
th {{ text-align: left; color: #555; font-weight: 500; }}
.meta {{ color: #555; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="meta">Instruments: {html.escape(symbols)} · interval {html.escape(str(meta.get("interval", "")))} ·
parameters: {html.escape(described)} · simulated: {html.escape(str(meta.get("mode") != "live"))}</p>
<table>{rows}</table>
{"".join(parts)}
<h2>Trades (filled orders), with Kite's charges</h2>
{_table(report.trades)}
</body></html>
"""


def _table(frame: pd.DataFrame, limit: int = 500) -> str:
    if not len(frame):
        return "<p>No trades.</p>"
    shown = frame.head(limit)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = []
    for row in shown.itertuples(index=False):
        cells = []
        for value in row:
            text = f"{value:,.2f}" if isinstance(value, float) else str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = f"<p>… and {len(frame) - limit:,} more in trades.parquet.</p>" if len(frame) > limit else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def write_html(report: Report, meta: Mapping[str, Any]) -> None:
    """Write ``report.html`` into the run's folder, atomically."""
    atomic_write(report.html, render_html(report, meta).encode())
