"""LTP, OHLC and full quotes for any number of instruments: resolved, batched, merged, gaps explained.

Callers name instruments however they like (``"NSE:INFY"``, ``408065``, ``"NIFTY 50"``); each is resolved to
Kite's wire key, the unique keys are split into batches of Kite's per-call maximum (1000 for ltp and ohlc,
500 for quote), and the answers are merged back under the caller's own keys. Pacing and retries happen in
the client's transport, so they apply here too. Nothing is dropped silently: every key that got no data is
listed in ``missing`` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

import requests
from kiteconnect import KiteConnect
from kiteconnect.exceptions import (
    DataException,
    GeneralException,
    KiteException,
    NetworkException,
    TokenException,
)

from kitekit.errors import InstrumentError, PartialDataError

__all__ = ["BATCH_LIMITS", "Kind", "MarketData", "Quotes", "batches"]

#: Resolves a name as users type it ("NIFTY 50", "RELIANCE") to Kite's "EXCHANGE:TRADINGSYMBOL".
Resolver = Callable[[str], str]


class Kind(StrEnum):
    """The three quote endpoints."""

    LTP = "ltp"  # GET /quote/ltp
    OHLC = "ohlc"  # GET /quote/ohlc
    QUOTE = "quote"  # GET /quote


#: Instruments Kite accepts in one call (API.md §6).
BATCH_LIMITS: dict[Kind, int] = {Kind.LTP: 1000, Kind.OHLC: 1000, Kind.QUOTE: 500}
NO_DATA = "Kite returned no data for it (unknown, expired, or not traded)"


class Quotes(dict[str, Any]):
    """The fetched items keyed as the caller named them, plus ``missing``: key -> why it has no data."""

    def __init__(self, data: Mapping[str, Any], missing: Mapping[str, str]) -> None:
        super().__init__(data)
        self.missing: dict[str, str] = dict(missing)


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
        return self.fetch(Kind.LTP, instruments, strict)

    def ohlc(self, *instruments: str | int, strict: bool = True) -> Quotes:
        """Return last price and day OHLC. Route: ``GET /quote/ohlc`` (1000 per call). Raises as :meth:`ltp`."""
        return self.fetch(Kind.OHLC, instruments, strict)

    def quote(self, *instruments: str | int, strict: bool = True) -> Quotes:
        """Return full quotes with depth. Route: ``GET /quote`` (500 per call). Raises as :meth:`ltp`."""
        return self.fetch(Kind.QUOTE, instruments, strict)

    def fetch(self, kind: Kind, instruments: Iterable[str | int], strict: bool = True) -> Quotes:
        """Resolve, batch, fetch and merge; see :meth:`ltp`."""
        wire_of: dict[str, str] = {}
        missing: dict[str, str] = {}
        for given in instruments:
            caller = str(given)
            try:
                wire_of[caller] = self._wire_key(given)
            except InstrumentError as exc:
                missing[caller] = str(exc)
        unique = list(dict.fromkeys(wire_of.values()))
        fetched: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for batch in batches(unique, BATCH_LIMITS[kind]):
            try:
                fetched.update(getattr(self.kite, kind.value)(batch))
            except TokenException:
                raise  # the session is gone; no point in going on
            except (DataException, NetworkException, GeneralException) as exc:
                # Retries (for NetworkException) already happened in the transport; report, don't drop.
                failed.update(dict.fromkeys(batch, f"{type(exc).__name__} (HTTP {exc.code}): {exc}"))
            except requests.RequestException as exc:
                failed.update(dict.fromkeys(batch, f"network error: {type(exc).__name__}"))
            except KiteException:
                raise  # InputException and the like are bugs in the request, not gaps
        data: dict[str, Any] = {}
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
