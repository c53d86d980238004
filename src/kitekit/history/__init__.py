"""Historical candles of any length: request windows, fetching, the candle store and charts.

The package's parts, each with one job: ``windows`` (Kite's span limits), ``rules`` (what a request may ask
for), ``fetch`` (windows in flight under the pacer), ``store`` and ``duckfile`` (the DuckDB candle store),
``filling`` (filling the store with only what it is missing, never dropping what it holds), ``compare``
(telling a split from a corrected candle), ``export`` (CSV and Parquet files), ``chart`` (candlestick HTML)
and ``client`` (:class:`History`, the facade users import; ``kitekit.candles`` sets one up for you). Names
load their modules on first use, so importing the package costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitekit.lazy import lazy_getattr

if TYPE_CHECKING:
    from kitekit.history.chart import candlestick_html, write_chart
    from kitekit.history.client import Filled, History
    from kitekit.history.export import write_candles
    from kitekit.history.rules import CandleRequest
    from kitekit.history.store import CandleStore, SeriesInfo, SeriesKey
    from kitekit.wire.history import Interval

__all__ = [
    "CandleRequest",
    "CandleStore",
    "Filled",
    "History",
    "Interval",
    "SeriesInfo",
    "SeriesKey",
    "candlestick_html",
    "write_candles",
    "write_chart",
]

_LAZY = {
    "CandleRequest": "kitekit.history.rules",
    "CandleStore": "kitekit.history.store",
    "Filled": "kitekit.history.client",
    "History": "kitekit.history.client",
    "Interval": "kitekit.wire.history",
    "SeriesInfo": "kitekit.history.store",
    "SeriesKey": "kitekit.history.store",
    "candlestick_html": "kitekit.history.chart",
    "write_candles": "kitekit.history.export",
    "write_chart": "kitekit.history.chart",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
