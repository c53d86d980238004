"""Angel One's quotes and candles behind the neutral services: batched, paced, merged under the caller's keys.

Quotes: ``POST quote`` in mode LTP, OHLC or FULL takes at most 50 tokens grouped by exchange and answers
``fetched`` and ``unfetched``; every key the caller named comes back under that key, or in ``missing`` with
the reason (an unknown name, or Angel's ``unfetched`` message). Candles: ``POST getCandleData`` for one
instrument and at most the interval's day cap per request; a longer range is cut by
:meth:`~kitekit.brokers.capabilities.BrokerCapabilities.history_windows` and merged without seams. The
client paces both under Angel's limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from kitekit.brokers.angel.capabilities import ANGEL_CAPABILITIES, INTERVALS
from kitekit.brokers.angel.client import AngelClient
from kitekit.brokers.market import Moment
from kitekit.brokers.model import Level, Ohlc, Quote, QuoteSet
from kitekit.brokers.quote_batches import BatchAnswer, BatchedQuotes, batched_quotes
from kitekit.clock import IST, Clock
from kitekit.errors import HistoryRangeError
from kitekit.wire.angel.history import REQUEST_TIME_FORMAT
from kitekit.wire.angel.routes import Route

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.brokers.angel.instruments import AngelInstruments

__all__ = ["AngelHistory", "AngelQuotes", "quote_of"]

_MODES = {"ltp": "LTP", "ohlc": "OHLC", "quote": "FULL"}


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(str(text), "%d-%b-%Y %H:%M:%S").replace(tzinfo=IST)
    except ValueError:
        try:
            moment = datetime.fromisoformat(str(text))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=IST)


def _levels(rows: Iterable[Mapping[str, Any]]) -> tuple[Level, ...]:
    return tuple(
        Level(float(r["price"]), int(r["quantity"]), int(r.get("orders") or 0))
        for r in rows
        if r.get("price") and r.get("quantity")
    )


def quote_of(key: str, row: Mapping[str, Any], kind: str) -> Quote:
    """Return one ``fetched`` row of Angel's quote answer as a neutral quote (``kind``: ltp, ohlc or quote)."""
    ohlc = None
    if kind != "ltp" and "open" in row:
        ohlc = Ohlc(float(row["open"]), float(row["high"]), float(row["low"]), float(row["close"]))
    depth = row.get("depth") or {}
    # Angel's depth lists are bids under "buy" and asks under "sell", best first; sorted anyway, as the
    # neutral quote promises best first whatever order a broker sends.
    bids = tuple(sorted(_levels(depth.get("buy", ())), key=lambda lv: -lv.price))
    asks = tuple(sorted(_levels(depth.get("sell", ())), key=lambda lv: lv.price))
    return Quote(
        key=key,
        last_price=float(row["ltp"]),
        timestamp=_time(row.get("exchFeedTime")),
        ohlc=ohlc,
        volume=int(row.get("tradeVolume") or 0),
        average_price=float(row.get("avgPrice") or 0.0),
        oi=float(row.get("opnInterest") or 0.0),
        bids=bids,
        asks=asks,
        lower_circuit_limit=float(row.get("lowerCircuit") or 0.0),
        upper_circuit_limit=float(row.get("upperCircuit") or 0.0),
        last_trade_time=_time(row.get("exchTradeTime")),
        raw=row,
    )


class AngelQuotes(BatchedQuotes):
    """Neutral quotes over Angel's ``quote`` endpoint.

    Route: ``POST quote`` in mode LTP, OHLC or FULL (five levels of depth), 50 tokens a call.

    Args:
        client: the paced Angel client on the session.
        instruments: Angel's instruments (names to exchange and token, and back).
    """

    def __init__(self, client: AngelClient, instruments: AngelInstruments) -> None:
        self.client = client
        self.instruments = instruments

    def _fetch(self, kind: str, asked: Iterable[str | int], strict: bool) -> QuoteSet:
        def fetch(batch: list[str]) -> BatchAnswer:
            tokens: dict[str, list[str]] = {}
            for broker_key in batch:
                exchange, _, token = broker_key.partition("|")
                tokens.setdefault(exchange, []).append(token)
            data = self.client.call(Route.QUOTE, {"mode": _MODES[kind], "exchangeTokens": tokens}) or {}
            answer = BatchAnswer()
            for row in data.get("fetched") or []:
                answer.rows[f"{row.get('exchange')}|{row.get('symbolToken')}"] = row
            for row in data.get("unfetched") or []:
                reason = f"Angel One: {row.get('message') or 'no data'} ({row.get('errorCode', '')})"
                answer.refused[f"{row.get('exchange')}|{row.get('symbolToken')}"] = reason
            return answer

        return batched_quotes(
            asked,
            strict,
            self.instruments.instrument,
            lambda keys: ANGEL_CAPABILITIES.quote_batches(kind, keys),
            fetch,
            lambda key, row: quote_of(key, row, kind),
            "Angel One answered no data for it",
        )


def _bounds(start: Moment, end: Moment | None, now: datetime) -> tuple[datetime, datetime]:
    def moment(value: Moment, last: bool) -> datetime:
        if isinstance(value, datetime):
            return value.astimezone(IST)
        return datetime.combine(value, time(23, 59) if last else time(0, 0), IST)

    return moment(start, False), moment(end, True) if end is not None else now.astimezone(IST)


class AngelHistory:
    """Neutral candles over Angel's ``getCandleData``, any span, cut by the interval's day cap.

    Args:
        client: the paced Angel client on the session.
        instruments: Angel's instruments.
        clock: what "now" is when no end is given.
    """

    def __init__(self, client: AngelClient, instruments: AngelInstruments, clock: Clock) -> None:
        self.client = client
        self.instruments = instruments
        self.clock = clock

    def candles(
        self, instrument: str | int, interval: str, start: Moment, end: Moment | None = None, *, oi: bool = False
    ) -> pd.DataFrame:
        """Return the candles of ``instrument`` from ``start`` to ``end`` (None: now), however long the range.

        Route: ``POST getCandleData`` per window (and ``POST getOIData`` with ``oi``).

        Raises:
            UnknownInstrumentError: nothing matches ``instrument``.
            HistoryRangeError: an interval Angel does not serve, or an end before the start.
        """
        import pandas as pd

        inst = self.instruments.instrument(instrument)
        angel_interval = INTERVALS.get(str(interval))
        if angel_interval is None:
            ANGEL_CAPABILITIES.span(str(interval))  # raises, naming the intervals served
            raise HistoryRangeError(str(interval))  # pragma: no cover - span() raised
        left, right = _bounds(start, end, self.clock.now())
        exchange, _, token = inst.broker_key.partition("|")
        rows: list[list[Any]] = []
        ois: dict[str, float] = {}
        for lo, hi in ANGEL_CAPABILITIES.history_windows(str(interval), left, right):
            body = {
                "exchange": exchange,
                "symboltoken": token,
                "interval": angel_interval.value,
                "fromdate": lo.strftime(REQUEST_TIME_FORMAT),
                "todate": hi.strftime(REQUEST_TIME_FORMAT),
            }
            rows.extend(self.client.call(Route.CANDLES, body) or [])
            if oi:
                ois.update({str(r["time"]): float(r["oi"]) for r in self.client.call(Route.OI_DATA, body) or []})
        columns = ["date", "open", "high", "low", "close", "volume"]
        frame = pd.DataFrame(rows, columns=columns)
        if oi:
            frame["oi"] = frame["date"].map(ois).fillna(0.0)
        frame["date"] = pd.to_datetime(frame["date"], format="ISO8601").dt.tz_convert(str(IST))
        frame = frame.drop_duplicates("date", keep="last").set_index("date").sort_index()
        frame["volume"] = frame["volume"].astype("int64")
        return frame[(frame.index >= left - timedelta(minutes=1)) & (frame.index <= right)]

    def backfill(
        self, instruments: Iterable[str | int], interval: str, start: Moment, end: Moment | None = None
    ) -> list[Any]:
        """Return each instrument's candles (Angel's are not kept in a candle store yet), one frame per instrument."""
        return [self.candles(i, interval, start, end) for i in instruments]
