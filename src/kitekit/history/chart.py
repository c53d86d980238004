"""Interactive candlestick charts with volume, as one self-contained HTML file (plotly): :func:`write_chart`."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kitekit.files import atomic_write

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

__all__ = ["candlestick_figure", "candlestick_html", "write_chart"]

_UP, _DOWN = "#26a69a", "#ef5350"


def candlestick_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Return a plotly figure: candles above, volume bars below, sharing one time axis.

    Times are drawn in IST. The axis skips what has no candles (nights, weekends, exchange holidays), so
    sessions sit side by side as on a trading terminal; the gaps are read from the candles themselves, so
    any exchange's hours work.

    Args:
        frame: candles as ``History.candles`` returns them (IST index, open/high/low/close/volume).
        title: the chart's title.
    """
    import pandas as pd
    from plotly.subplots import make_subplots

    index = pd.DatetimeIndex(frame.index)
    daily = bool(len(index)) and bool((index == index.normalize()).all())
    # Plain lists, not numpy arrays: plotly then writes the numbers as JSON, readable in the file itself.
    stamps = [t.strftime("%Y-%m-%d" if daily else "%Y-%m-%d %H:%M:%S") for t in index]
    opens, closes = frame["open"].tolist(), frame["close"].tolist()
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22], vertical_spacing=0.02)
    figure.add_trace(
        _candles(stamps, opens, frame["high"].tolist(), frame["low"].tolist(), closes),
        row=1,
        col=1,
    )
    colours = [_UP if c >= o else _DOWN for o, c in zip(opens, closes, strict=True)]
    figure.add_bar(x=stamps, y=frame["volume"].tolist(), name="volume", marker_color=colours, row=2, col=1)
    figure.update_layout(
        title=title,
        showlegend=False,
        hovermode="x unified",
        xaxis_rangeslider_visible=False,
        margin={"l": 60, "r": 30, "t": 60, "b": 40},
        template="plotly_white",
    )
    figure.update_yaxes(title_text="price", row=1, col=1)
    figure.update_yaxes(title_text="volume", row=2, col=1)
    figure.update_xaxes(rangebreaks=_breaks(index, daily))
    return figure


def candlestick_html(frame: pd.DataFrame, title: str, plotlyjs: bool | Literal["cdn"] = True) -> str:
    """Return the chart as a complete HTML page.

    Args:
        frame: the candles.
        title: the page's and the chart's title.
        plotlyjs: True embeds plotly.js (about 4.7 MB; the file then works offline); "cdn" links it instead.
    """
    return str(candlestick_figure(frame, title).to_html(include_plotlyjs=plotlyjs, full_html=True))


def write_chart(frame: pd.DataFrame, path: Path, title: str, plotlyjs: bool | Literal["cdn"] = True) -> Path:
    """Write the chart to ``path`` as one HTML file, atomically; return ``path``.

    Raises:
        OSError: the file cannot be written.
    """
    atomic_write(path, candlestick_html(frame, title, plotlyjs).encode())  # 0600: the browser runs as the user
    return path


def _candles(x: list[str], o: list[float], h: list[float], lo: list[float], c: list[float]) -> go.Candlestick:
    import plotly.graph_objects as go

    return go.Candlestick(
        x=x,
        open=o,
        high=h,
        low=lo,
        close=c,
        name="price",
        increasing_line_color=_UP,
        decreasing_line_color=_DOWN,
    )


def _breaks(index: pd.DatetimeIndex, daily: bool) -> list[dict[str, Any]]:
    """Return rangebreaks for the dates without candles and, intraday, the hours between sessions."""
    if not len(index):
        return []
    days = sorted({t.date() for t in index})
    have = set(days)
    missing: list[date] = []
    day = days[0]
    while day <= days[-1]:
        if day not in have:
            missing.append(day)
        day += timedelta(days=1)
    breaks: list[dict[str, Any]] = []
    if missing:
        breaks.append({"values": [d.isoformat() for d in missing]})
    if not daily:
        hours = index.hour + index.minute / 60
        step = (index[1:] - index[:-1]).min() if len(index) > 1 else None
        last = float(hours.max()) + (step.total_seconds() / 3600 if step is not None else 0.0)
        first = float(hours.min())
        if first > 0 and last < 24:
            breaks.append({"bounds": [last, first], "pattern": "hour"})
    return breaks
