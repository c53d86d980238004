"""Quotes of any number of instruments from a broker that takes a few at a time: batching, merging, what is missing.

Every broker's quote service (:mod:`kitekit.brokers.upstox.market`, :mod:`kitekit.brokers.angel.market`) resolves
the caller's names, sends the distinct broker keys in batches of the size its capabilities give, and answers a
:class:`~kitekit.brokers.model.QuoteSet` keyed as the caller named each instrument, with the reason for every
one that got nothing. :func:`batched_quotes` is that, once; a broker gives its call and its answer's reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kitekit.brokers.model import BrokerInstrument, Quote, QuoteSet
from kitekit.errors import PartialDataError, UnknownInstrumentError

__all__ = ["BatchAnswer", "BatchedQuotes", "batched_quotes"]


@dataclass
class BatchAnswer:
    """What one call answered, by broker key: the rows it fetched and the broker's reason for those it did not."""

    rows: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def batched_quotes(
    asked: Iterable[str | int],
    strict: bool,
    resolve: Callable[[str | int], BrokerInstrument],
    batches: Callable[[list[str]], Iterable[list[str]]],
    fetch: Callable[[list[str]], BatchAnswer],
    quote: Callable[[str, Mapping[str, Any]], Quote],
    no_data: str,
) -> QuoteSet:
    """Return the quotes of ``asked``, keyed as asked, fetched a batch of distinct broker keys at a time.

    Args:
        asked: the caller's names (``"NSE:INFY"``, a broker key, a token), in its order.
        strict: raise PartialDataError when any name got nothing.
        resolve: the broker's instrument of a name (UnknownInstrumentError when it lists none).
        batches: splits broker keys into the broker's batch sizes.
        fetch: one call for a batch of broker keys.
        quote: one fetched row as a neutral quote of a neutral key.
        no_data: the reason given for a key the broker's answer left out.

    Raises:
        PartialDataError: ``strict`` and some name got nothing (the quotes that came are on the error).
    """
    missing: dict[str | int, str] = {}
    wanted: dict[str, BrokerInstrument] = {}
    askers: dict[str, list[str | int]] = {}
    for name in dict.fromkeys(asked):
        try:
            inst = resolve(name)
        except UnknownInstrumentError as exc:
            missing[name] = str(exc)
            continue
        wanted.setdefault(inst.broker_key, inst)
        askers.setdefault(inst.broker_key, []).append(name)
    got: dict[str | int, Quote] = {}
    for batch in batches(list(wanted)):
        answer = fetch(batch)
        for broker_key, row in answer.rows.items():
            listed = wanted.get(broker_key)
            if listed is None:
                continue
            one = quote(listed.key, row)
            for name in askers.pop(broker_key, []):
                got[name] = one
        for broker_key, reason in answer.refused.items():
            for name in askers.pop(broker_key, []):
                missing[name] = reason
    for names in askers.values():
        for name in names:
            missing[name] = no_data
    result = QuoteSet(got, missing)
    if strict and missing:
        raise PartialDataError(dict(result), missing)
    return result


class BatchedQuotes:
    """The neutral :class:`~kitekit.brokers.market.QuoteService` calls over one broker's batched ``_fetch``.

    A subclass implements ``_fetch(kind, names, strict)`` for ``kind`` ``ltp``, ``ohlc`` or ``quote`` (usually
    with :func:`batched_quotes`) and names its routes in its own docstring.
    """

    def _fetch(self, kind: str, asked: Iterable[str | int], strict: bool) -> QuoteSet:
        raise NotImplementedError

    def ltp(self, *instruments: str | int, strict: bool = True) -> QuoteSet:
        """Return last prices."""
        return self._fetch("ltp", instruments, strict)

    def ohlc(self, *instruments: str | int, strict: bool = True) -> QuoteSet:
        """Return last prices and the day's OHLC."""
        return self._fetch("ohlc", instruments, strict)

    def quote(self, *instruments: str | int, strict: bool = True) -> QuoteSet:
        """Return full quotes (with five levels of depth a side where the broker gives them)."""
        return self._fetch("quote", instruments, strict)
