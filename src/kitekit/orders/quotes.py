"""Where the paper broker's prices come from: any ``quote()`` (Kite's, the simulator's), recorded or replayed."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from kitekit.files import atomic_write

__all__ = ["QuoteRecorder", "QuoteSource", "RecordedQuotes"]


class QuoteSource(Protocol):
    """Anything with Kite's ``quote()``: a ``KiteConnect`` (``GET /quote``, paced by its transport), a
    :class:`~kitekit.quotes.MarketData`, a :class:`RecordedQuotes`.

    The answer maps each requested key (``"408065"`` or ``"NSE:INFY"``) to a ``/quote`` item.
    """

    def quote(self, *instruments: Any) -> Mapping[Any, Mapping[str, Any]]:
        """Return full quotes of ``instruments``."""
        ...


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
    """Wraps a source and keeps every answer, in order, to be saved and replayed by :class:`RecordedQuotes`."""

    def __init__(self, source: QuoteSource) -> None:
        self.source = source
        self.answers: list[dict[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def quote(self, *instruments: Any) -> Mapping[Any, Mapping[str, Any]]:
        """Return the source's answer and record it. Route: the source's (``GET /quote`` for Kite)."""
        answer = self.source.quote(*instruments)
        with self._lock:
            self.answers.append({str(k): _jsonable(v) for k, v in answer.items()})
        return answer

    def save(self, path: Path) -> None:
        """Write the answers as JSON (atomically)."""
        with self._lock:
            atomic_write(path, json.dumps(self.answers).encode())


class RecordedQuotes:
    """Replays recorded answers in order, one per call, whatever is asked (the calls must come in the same order).

    Args:
        answers: the answers, oldest first (``QuoteRecorder.answers`` or a saved file's content).

    Raises:
        LookupError: from :meth:`quote`, once every answer was replayed.
    """

    def __init__(self, answers: Sequence[Mapping[str, Mapping[str, Any]]]) -> None:
        self.answers = list(answers)
        self.served = 0

    @classmethod
    def load(cls, path: Path) -> RecordedQuotes:
        """Return the answers a :meth:`QuoteRecorder.save` wrote."""
        return cls(json.loads(path.read_bytes()))

    def quote(self, *instruments: Any) -> Mapping[Any, Mapping[str, Any]]:
        """Return the next recorded answer."""
        if self.served >= len(self.answers):
            raise LookupError(f"all {len(self.answers)} recorded quote answers were replayed")
        answer = self.answers[self.served]
        self.served += 1
        return answer
