"""LTP, OHLC and full quotes for any number of instruments: resolved, batched, merged, gaps explained.

Callers name instruments however they like (``"NSE:INFY"``, ``408065``, ``"NIFTY 50"``); each is resolved to
Kite's wire key, the unique keys are split into batches of Kite's per-call maximum (1000 for ltp and ohlc,
500 for quote), and the answers are merged back under the caller's own keys. Pacing and retries happen in
the client's transport, so they apply here too. Nothing is dropped silently: every key that got no data is
listed in ``missing`` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import requests
from kiteconnect.exceptions import KiteException

from kitekit.errors import InstrumentError, PartialDataError
from kitekit.wire.envelope import ErrorType, error_type_of
from kitekit.wire.routes import QuoteEndpoint

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

__all__ = ["NO_DATA", "MarketData", "Quotes", "batches"]

#: Resolves a name as users type it ("NIFTY 50", "RELIANCE") to Kite's "EXCHANGE:TRADINGSYMBOL".
Resolver = Callable[[str], str]

#: Failures of one batch that leave the others worth fetching: the OMS is down or answered garbage
#: (retries already happened in the transport), or Kite's catch-all. The rest (a dead session, a request
#: Kite considers wrong) stop the whole call.
GAP_ERRORS = frozenset({ErrorType.NETWORK, ErrorType.DATA, ErrorType.GENERAL})
NO_DATA = "Kite returned no data for it (unknown, expired, or not traded)"


class Quotes(dict[str | int, Any]):
    """The fetched items keyed exactly as the caller named them (an int token stays an int), plus ``missing``.

    ``missing`` maps each key that got no data to the reason.
    """

    def __init__(self, data: Mapping[str | int, Any], missing: Mapping[str | int, str]) -> None:
        super().__init__(data)
        self.missing: dict[str | int, str] = dict(missing)


def batches(keys: list[str], size: int) -> list[list[str]]:
    """Split ``keys`` into consecutive batches of at most ``size``."""
    return [keys[i : i + size] for i in range(0, len(keys), size)]


class MarketData:
    """Batched, resolved market quotes on top of an official ``KiteConnect``.

    Args:
        kite: the client (from ``SessionManager.get_kite()``, so its transport paces and retries).
        resolve: turns names without an exchange prefix into ``EXCHANGE:SYMBOL`` (e.g. an instrument store's
            resolver); without one such names are reported missing.
    """

    def __init__(self, kite: KiteConnect, resolve: Resolver | None = None) -> None:
        self.kite = kite
        self.resolve = resolve

    def ltp(self, *instruments: str | int, strict: bool = True) -> Quotes:
        """Return last prices. Route: ``GET /quote/ltp`` (1000 per call).

        Raises:
            PartialDataError: ``strict`` and some instruments got no data (``.data`` holds the rest).
            TokenException: the session is dead (``SessionExpiredError`` from a kitekit client).
        """
        return self.fetch(QuoteEndpoint.LTP, instruments, strict)

    def ohlc(self, *instruments: str | int, strict: bool = True) -> Quotes:
        """Return last price and day OHLC. Route: ``GET /quote/ohlc`` (1000 per call). Raises as :meth:`ltp`."""
        return self.fetch(QuoteEndpoint.OHLC, instruments, strict)

    def quote(self, *instruments: str | int, strict: bool = True) -> Quotes:
        """Return full quotes with depth. Route: ``GET /quote`` (500 per call). Raises as :meth:`ltp`."""
        return self.fetch(QuoteEndpoint.QUOTE, instruments, strict)

    def fetch(self, kind: QuoteEndpoint, instruments: Iterable[str | int], strict: bool = True) -> Quotes:
        """Resolve, batch, fetch and merge; see :meth:`ltp`."""
        wire_of: dict[str | int, str] = {}
        missing: dict[str | int, str] = {}
        for given in instruments:
            try:
                wire_of[given] = self._wire_key(given)
            except InstrumentError as exc:
                missing[given] = str(exc)
        unique = list(dict.fromkeys(wire_of.values()))
        fetched: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for batch in batches(unique, kind.batch_limit):
            try:
                fetched.update(getattr(self.kite, kind.value)(batch))
            except KiteException as exc:
                if error_type_of(exc) not in GAP_ERRORS:
                    raise  # a dead session, or a request Kite considers wrong: not a gap
                failed.update(dict.fromkeys(batch, f"{type(exc).__name__} (HTTP {exc.code}): {exc}"))
            except requests.RequestException as exc:
                failed.update(dict.fromkeys(batch, f"network error: {type(exc).__name__}"))
        data: dict[str | int, Any] = {}
        for caller, wire in wire_of.items():
            if wire in fetched:
                data[caller] = fetched[wire]
            else:
                missing[caller] = failed.get(wire, NO_DATA)
        result = Quotes(data, missing)
        if strict and missing:
            raise PartialDataError(data, missing)
        return result

    def _wire_key(self, given: str | int) -> str:
        if isinstance(given, int):
            return str(given)
        text = given.strip()
        if text.isdigit() or ":" in text:
            exchange, sep, symbol = text.partition(":")
            return f"{exchange.upper()}{sep}{symbol}" if sep else text
        if self.resolve is None:
            raise InstrumentError(f"{text!r} has no exchange prefix; write it as EXCHANGE:SYMBOL (e.g. NSE:{text})")
        return self.resolve(text)
