"""Upstox's quotes and candles behind the neutral :class:`QuoteService` and :class:`HistoryService`.

Quotes: the names asked for are resolved to Upstox's instrument keys, cut into batches of 500
(:meth:`BrokerCapabilities.quote_batches`), fetched through the paced client (``GET /v2/market-quote/…``)
and filed back under the caller's own names; an answer is keyed ``SEGMENT:SYMBOL`` with the instrument key
inside, which is what it is matched by. Candles: a range is cut into the windows each interval's cap allows
(:meth:`BrokerCapabilities.history_windows`), each fetched from ``/v3/historical-candle/…`` (newest first on
the wire) and merged oldest first, each time once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from kitekit.brokers.capabilities import BrokerCapabilities, Endpoint
from kitekit.brokers.market import Moment
from kitekit.brokers.model import CANDLE_COLUMNS, Ohlc, Quote, QuoteSet, depth_levels
from kitekit.brokers.quote_batches import BatchAnswer, BatchedQuotes, batched_quotes
from kitekit.brokers.upstox.capabilities import INTERVALS
from kitekit.brokers.upstox.client import UpstoxClient
from kitekit.brokers.upstox.instruments import UpstoxInstruments
from kitekit.clock import IST, Clock
from kitekit.errors import HistoryRangeError
from kitekit.wire.upstox.routes import Route

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.history.store import CandleStore

__all__ = ["UpstoxHistory", "UpstoxQuotes", "quote_of"]

_ROUTES = {"ltp": Route.LTP_V2, "ohlc": Route.OHLC_V2, "quote": Route.QUOTES_V2}


def _time(value: Any) -> datetime | None:
    if isinstance(value, str) and value:
        if value.isdigit():  # epoch milliseconds (last_trade_time)
            return datetime.fromtimestamp(int(value) / 1000, IST)
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=IST)
    return None


def quote_of(key: str, item: Mapping[str, Any]) -> Quote:
    """Return one item of Upstox's v2 ``quotes``, ``ohlc`` or ``ltp`` answer as a neutral quote."""
    ohlc = item.get("ohlc")
    depth = item.get("depth") or {}
    return Quote(
        key=key,
        last_price=float(item["last_price"]),
        timestamp=_time(item.get("timestamp")),
        ohlc=Ohlc(float(ohlc["open"]), float(ohlc["high"]), float(ohlc["low"]), float(ohlc["close"])) if ohlc else None,
        volume=int(item.get("volume") or 0),
        average_price=float(item.get("average_price") or 0.0),
        oi=float(item.get("oi") or 0.0),
        bids=depth_levels(depth.get("buy", ())),
        asks=depth_levels(depth.get("sell", ())),
        lower_circuit_limit=float(item.get("lower_circuit_limit") or 0.0),
        upper_circuit_limit=float(item.get("upper_circuit_limit") or 0.0),
        last_trade_time=_time(item.get("last_trade_time")),
        raw=item,
    )


class UpstoxQuotes(BatchedQuotes):
    """Batched, paced quotes on Upstox, keyed as the caller named the instruments.

    Routes: ``GET /v2/market-quote/ltp``, ``/ohlc`` (``interval=1d``) and ``/quotes``, 500 keys a call.

    Args:
        client: the REST client on the session.
        instruments: the instrument store (names to Upstox's keys and back).
        capabilities: the batch sizes.
    """

    def __init__(self, client: UpstoxClient, instruments: UpstoxInstruments, capabilities: BrokerCapabilities) -> None:
        self.client = client
        self.instruments = instruments
        self.capabilities = capabilities

    def _fetch(self, kind: str, asked: Iterable[str | int], strict: bool) -> QuoteSet:
        def fetch(batch: list[str]) -> BatchAnswer:
            params = {"symbol": ",".join(batch)}
            if kind == "ohlc":
                params["interval"] = "1d"
            answer = self.client.call("GET", _ROUTES[kind], Endpoint.QUOTE, params=params) or {}
            # Answers are keyed SEGMENT:SYMBOL; the instrument key asked for is each item's instrument_token.
            return BatchAnswer({str(item.get("instrument_token")): item for item in answer.values()})

        return batched_quotes(
            asked,
            strict,
            self.instruments.instrument,
            lambda keys: self.capabilities.quote_batches(kind, keys),
            fetch,
            quote_of,
            "no data in Upstox's answer",
        )


def _moment(value: Moment, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(IST)
    return datetime.combine(value, time(23, 59, 59) if end else time(0, 0), IST)


class UpstoxHistory:
    """Candles of any span on Upstox: windows within each interval's cap, paced, merged; kept when given a store.

    Args:
        client: the REST client on the session.
        instruments: the instrument store.
        capabilities: the spans.
        clock: the time an open range ends at.
        store: the candle store :meth:`backfill` fills (None: nothing kept).
    """

    def __init__(
        self,
        client: UpstoxClient,
        instruments: UpstoxInstruments,
        capabilities: BrokerCapabilities,
        clock: Clock,
        store: CandleStore | None = None,
    ) -> None:
        self.client = client
        self.instruments = instruments
        self.capabilities = capabilities
        self.clock = clock
        self.store = store

    def candles(
        self, instrument: str | int, interval: str, start: Moment, end: Moment | None = None, *, oi: bool = False
    ) -> pd.DataFrame:
        """Return candles oldest first, indexed by their IST start.

        Route: ``GET /v3/historical-candle/{key}/{unit}/{count}/{to_date}/{from_date}``, per window.

        Raises:
            UnknownInstrumentError: nothing matches ``instrument``.
            HistoryRangeError: an interval Upstox does not serve, or a range before its first candles.
        """
        import pandas as pd

        found = self.instruments.instrument(instrument)
        step = INTERVALS.get(str(interval))
        span = self.capabilities.span(str(interval))
        if step is None:  # pragma: no cover - span() refused it already
            raise HistoryRangeError(f"Upstox has no {interval} candles")
        first = _moment(start, end=False)
        last = _moment(end, end=True) if end is not None else self.clock.now().astimezone(IST)
        if span.earliest is not None and last.date() < span.earliest:
            raise HistoryRangeError(f"Upstox keeps {interval} candles from {span.earliest} on; the range ends before")
        if span.earliest is not None and first.date() < span.earliest:
            first = datetime.combine(span.earliest, time(0, 0), IST)
        rows: list[list[Any]] = []
        for left, right in self.capabilities.history_windows(str(interval), first, last):
            path = Route.HISTORY_V3_FROM.format(
                instrument_key=found.broker_key,
                unit=step.unit.value,
                interval=step.count,
                to_date=right.date().isoformat(),
                from_date=left.date().isoformat(),
            )
            answer = self.client.call("GET", path, Endpoint.HISTORY) or {}
            rows.extend(answer.get("candles") or [])
        columns = ["date", *CANDLE_COLUMNS, "oi"]
        frame = pd.DataFrame([r[:7] + [0] * (7 - len(r)) for r in rows], columns=columns)
        frame["date"] = pd.to_datetime(frame["date"], utc=True).dt.tz_convert(IST)
        frame = frame.drop_duplicates("date", keep="last").set_index("date").sort_index()
        frame = frame.loc[(frame.index >= first) & (frame.index <= last)]
        frame = frame.astype({"open": float, "high": float, "low": float, "close": float, "volume": "int64"})
        return frame if oi else frame.drop(columns=["oi"])

    def backfill(
        self, instruments: Iterable[str | int], interval: str, start: Moment, end: Moment | None = None
    ) -> list[Any]:
        """Fetch each instrument's candles (with OI), kept in the store when there is one; one frame per instrument.

        Route: ``GET /v3/historical-candle/…`` per window, as :meth:`candles`.
        """
        out: list[Any] = []
        for name in instruments:
            frame = self.candles(name, interval, start, end, oi=True)
            if self.store is not None:
                self._keep(name, interval, start, end, frame)
            out.append(frame)
        return out

    def _keep(self, name: str | int, interval: str, start: Moment, end: Moment | None, frame: pd.DataFrame) -> None:
        from kitekit.history.store import SeriesKey
        from kitekit.wire.history import Interval

        assert self.store is not None  # noqa: S101 - checked by the caller
        found = self.instruments.instrument(name)
        last = _moment(end, end=True) if end is not None else self.clock.now()
        series = SeriesKey(found.exchange, found.symbol, Interval(str(interval)), False)
        self.store.write(series, found.token or 0, (_moment(start, end=False), last), frame)
