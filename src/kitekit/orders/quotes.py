"""Where the paper broker's prices come from: any ``quote()`` (Kite's, the simulator's), recorded or replayed.

A source may also serve minute candles (``historical_data()``, as ``KiteConnect`` does): the paper broker then
judges resting orders on the market's path between its calls, not only on the quotes it happens to fetch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

from kitekit.clock import IST
from kitekit.files import atomic_write

__all__ = ["CandleSource", "QuoteRecorder", "QuoteSource", "RecordedQuotes", "candle_source"]

#: Candles are recorded and served by this key: the instrument token (as text) and the interval.
_Key = tuple[str, str]


class QuoteSource(Protocol):
    """Anything with Kite's ``quote()``: a ``KiteConnect`` (``GET /quote``, paced by its transport), a
    :class:`~kitekit.quotes.MarketData`, a :class:`RecordedQuotes`.

    The answer maps each requested key (``"408065"`` or ``"NSE:INFY"``) to a ``/quote`` item.
    """

    def quote(self, *instruments: Any) -> Mapping[Any, Mapping[str, Any]]:
        """Return full quotes of ``instruments``."""
        ...


@runtime_checkable
class CandleSource(Protocol):
    """Anything with the SDK's ``historical_data()``: a ``KiteConnect`` (paced at Kite's 3 a second), a
    :class:`QuoteRecorder` of one, a :class:`RecordedQuotes` that holds candles.

    The answer is a list of dicts (``date`` an aware datetime, ``open``, ``high``, ``low``, ``close``, ``volume``).
    """

    def historical_data(
        self,
        instrument_token: int,
        from_date: datetime | str,
        to_date: datetime | str,
        interval: str,
        continuous: bool = False,
        oi: bool = False,
    ) -> list[dict[str, Any]]:
        """Return the candles of ``instrument_token`` that start between ``from_date`` and ``to_date``."""
        ...


def candle_source(source: object) -> CandleSource | None:
    """Return ``source`` if it serves candles: it has ``historical_data`` and no ``serves_candles = False``."""
    if getattr(source, "serves_candles", True) and callable(getattr(source, "historical_data", None)):
        return cast(CandleSource, source)
    return None


def _moment(value: datetime | str) -> datetime:
    # The SDK formats a datetime's own wall time and Kite reads it as IST; text is Kite's own form.
    if isinstance(value, datetime):
        return value.astimezone(IST) if value.tzinfo else value.replace(tzinfo=IST)
    text = str(value)
    return datetime.fromisoformat(text if len(text) > 10 else f"{text} 00:00:00").replace(tzinfo=IST)


def _candle_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**row, "date": _moment(row["date"]).isoformat()}


def _jsonable(item: Mapping[str, Any]) -> dict[str, Any]:
    # The SDK turns timestamps into naive datetimes; keep them as Kite's text so a replay reads them back alike.
    out: dict[str, Any] = {}
    for key, value in item.items():
        if hasattr(value, "strftime"):
            out[key] = value.strftime("%Y-%m-%d %H:%M:%S")
        elif isinstance(value, Mapping):
            out[key] = _jsonable(value)
        else:
            out[key] = value
    return out


class QuoteRecorder:
    """Wraps a source and keeps every answer, in order, to be saved and replayed by :class:`RecordedQuotes`.

    Candles the source serves are kept too (by instrument and interval), and served again by the replay for
    any window they cover.
    """

    def __init__(self, source: QuoteSource) -> None:
        self.source = source
        self.answers: list[dict[str, dict[str, Any]]] = []
        #: Whether the source serves candles (the paper broker asks before it fetches any).
        self.serves_candles = candle_source(source) is not None
        self.candles: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def quote(self, *instruments: Any) -> Mapping[Any, Mapping[str, Any]]:
        """Return the source's answer and record it. Route: the source's (``GET /quote`` for Kite)."""
        answer = self.source.quote(*instruments)
        with self._lock:
            self.answers.append({str(k): _jsonable(v) for k, v in answer.items()})
        return answer

    def historical_data(
        self,
        instrument_token: int,
        from_date: datetime | str,
        to_date: datetime | str,
        interval: str,
        continuous: bool = False,
        oi: bool = False,
    ) -> list[dict[str, Any]]:
        """Return the source's candles and keep them. Route: the source's (``GET /instruments/historical/…``).

        Raises:
            TypeError: the source serves no candles (``serves_candles`` is False).
        """
        source = candle_source(self.source)
        if source is None:
            raise TypeError(f"{type(self.source).__name__} serves no candles")
        rows = source.historical_data(instrument_token, from_date, to_date, interval, continuous, oi)
        with self._lock:
            kept = self.candles.setdefault(interval, {}).setdefault(str(instrument_token), {})
            for row in rows:
                entry = _candle_row(row)
                kept[entry["date"]] = entry
        return rows

    def save(self, path: Path) -> None:
        """Write the answers (and candles) as JSON (atomically)."""
        with self._lock:
            data: Any = self.answers
            if self.serves_candles:
                data = {"quotes": self.answers, "candles": self.candles}
            atomic_write(path, json.dumps(data).encode())


class RecordedQuotes:
    """Replays recorded answers in order, one per call, whatever is asked (the calls must come in the same order).

    Candles, when it holds some, are served for any window: those of the instrument and interval that start in it.

    Args:
        answers: the answers, oldest first (``QuoteRecorder.answers`` or a saved file's content).
        candles: the candles (``QuoteRecorder.candles``); None when the recording had no candle source.

    Raises:
        LookupError: from :meth:`quote`, once every answer was replayed.
    """

    def __init__(
        self,
        answers: Sequence[Mapping[str, Mapping[str, Any]]],
        candles: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]] | None = None,
    ) -> None:
        self.answers = list(answers)
        self.served = 0
        self.serves_candles = candles is not None
        self._candles: dict[_Key, list[dict[str, Any]]] = {}
        for interval, by_token in (candles or {}).items():
            for token, rows in by_token.items():
                series = [{**row, "date": datetime.fromisoformat(str(row["date"]))} for row in rows.values()]
                self._candles[(token, interval)] = sorted(series, key=lambda r: r["date"])

    @classmethod
    def load(cls, path: Path) -> RecordedQuotes:
        """Return the answers (and candles) a :meth:`QuoteRecorder.save` wrote."""
        data = json.loads(path.read_bytes())
        if isinstance(data, dict):
            return cls(data["quotes"], data.get("candles"))
        return cls(data)

    def historical_data(
        self,
        instrument_token: int,
        from_date: datetime | str,
        to_date: datetime | str,
        interval: str,
        continuous: bool = False,
        oi: bool = False,
    ) -> list[dict[str, Any]]:
        """Return the held candles of the instrument and interval that start between ``from_date`` and ``to_date``."""
        start, end = _moment(from_date), _moment(to_date)
        rows = self._candles.get((str(instrument_token), interval), [])
        return [dict(row) for row in rows if start <= row["date"] <= end]

    def quote(self, *instruments: Any) -> Mapping[Any, Mapping[str, Any]]:
        """Return the next recorded answer."""
        if self.served >= len(self.answers):
            raise LookupError(f"all {len(self.answers)} recorded quote answers were replayed")
        answer = self.answers[self.served]
        self.served += 1
        return answer
