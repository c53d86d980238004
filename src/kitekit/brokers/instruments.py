"""The neutral instrument store, and the facts view the pre-trade rules read from any broker's instruments."""

from __future__ import annotations

import contextlib
import logging
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kitekit.brokers.model import BrokerInstrument, InstrumentKind
from kitekit.clock import Clock
from kitekit.errors import InstrumentCacheError
from kitekit.wire.instruments_csv import Instrument, InstrumentFields

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.instruments import InstrumentStore

__all__ = [
    "CHAIN_COLUMNS",
    "BrokerInstruments",
    "RuleFacts",
    "cache_records",
    "cached_records",
    "neutral_instrument",
    "rule_facts",
    "rule_fields",
]

log = logging.getLogger("kitekit.brokers")

#: The layout of a broker's parsed-instruments day file; a file of another layout is rebuilt from the dump.
CACHE_LAYOUT = 1

#: The columns of a neutral option chain, one row per strike (a strike may list one side only: its key is None).
CHAIN_COLUMNS = ("strike", "ce_key", "pe_key", "ce_broker_key", "pe_broker_key", "lot_size", "expiry")


@runtime_checkable
class BrokerInstruments(Protocol):
    """A broker's instrument list, cached per day, looked up by the neutral identity or the broker's own key.

    A query is ``EXCHANGE:SYMBOL``, a name traders type (``NIFTY 50``, ``BANKNIFTY``, ``RELIANCE``), or the
    broker's own key. Lookups raise :class:`~kitekit.errors.UnknownInstrumentError` (listing the closest names)
    for what the broker does not list.
    """

    broker: str

    def load(self) -> BrokerInstruments:
        """Load the day's list (downloading it only when the cache lacks it); return self."""
        ...

    def sync(self, force: bool = False) -> bool:
        """Download the day's list unless cached (always with ``force``); return True if it downloaded."""
        ...

    def instrument(self, query: str | int) -> BrokerInstrument:
        """Return the instrument ``query`` names."""
        ...

    def key(self, query: str | int) -> str:
        """Return the neutral identity (``EXCHANGE:SYMBOL``) of ``query``."""
        ...

    def broker_key(self, query: str | int) -> str:
        """Return the key the broker's own APIs take for ``query``."""
        ...

    def search(self, text: str, limit: int = 10) -> list[BrokerInstrument]:
        """Return instruments whose symbol or name contains ``text``, best first."""
        ...

    def futures(self, underlying: str, exchange: str | None = None) -> list[BrokerInstrument]:
        """Return the live futures of ``underlying``, nearest first."""
        ...

    def nearest_future(self, underlying: str, n: int = 0, exchange: str | None = None) -> BrokerInstrument:
        """Return the ``n``-th nearest live future of ``underlying``."""
        ...

    def expiries(self, underlying: str, exchange: str | None = None) -> list[date]:
        """Return the option expiries of ``underlying`` from today on, nearest first."""
        ...

    def option_chain(
        self, underlying: str, expiry: date | str | None = None, exchange: str | None = None
    ) -> pd.DataFrame:
        """Return one expiry's chain, one row per strike, with :data:`CHAIN_COLUMNS`."""
        ...

    def rule_facts(self) -> RuleFacts:
        """Return the lookup the pre-trade rules and the paper broker read (``instrument(query) -> Instrument``)."""
        ...


class RuleFacts(Protocol):
    """What the order validator reads of instruments (``kitekit.orders.gateway.Instruments``)."""

    def instrument(self, query: str | int) -> Instrument:
        """Return the instrument ``query`` names, in the rules' record."""
        ...


def rule_facts(instrument: BrokerInstrument) -> Instrument:
    """Return the record the pre-trade rules read, built from a neutral instrument of any broker.

    The rules were written once, against Kite's record; a neutral instrument carries every fact they read
    (exchange, symbol, underlying, kind, tick, lot, expiry, strike), so any broker's instruments can be
    checked by them. The token is the broker's own when numeric, else 0 (the rules never read it).
    """
    return Instrument(*rule_fields(instrument))


def rule_fields(instrument: BrokerInstrument) -> InstrumentFields:
    """Return the fields of :func:`rule_facts`'s record in wire order (to write 100,000 without building them)."""
    return (
        instrument.token or 0,
        0,
        instrument.symbol,
        instrument.name,
        0.0,
        instrument.expiry,
        instrument.strike,
        instrument.tick_size,
        instrument.lot_size,
        _RULE_TYPES[instrument.kind],
        instrument.segment,
        instrument.exchange,
    )


# The record's instrument_type of each kind: Kite lists an index as EQ (its segment, INDICES, says index).
_RULE_TYPES: dict[InstrumentKind, str] = {k: "EQ" if k is InstrumentKind.INDEX else k.value for k in InstrumentKind}


_KINDS = frozenset(k.value for k in InstrumentKind)


def neutral_instrument(record: Instrument, broker: str, broker_key: str) -> BrokerInstrument:
    """Return a Kite-shaped dump row (Kite's own, or a broker's dump read into that shape) as a neutral instrument.

    Args:
        record: the row; an ``INDICES`` segment makes an index, an unknown instrument type an equity.
        broker: the broker it is listed by.
        broker_key: the broker's own key of it (Kite's token, Upstox's instrument key).
    """
    if record.segment == "INDICES":
        kind = InstrumentKind.INDEX
    else:
        kind = InstrumentKind(record.instrument_type) if record.instrument_type in _KINDS else InstrumentKind.EQUITY
    return BrokerInstrument(
        exchange=record.exchange,
        symbol=record.tradingsymbol,
        name=record.name,
        kind=kind,
        segment=record.segment,
        tick_size=record.tick_size,
        lot_size=record.lot_size,
        broker=broker,
        broker_key=broker_key,
        expiry=record.expiry,
        strike=record.strike,
        token=record.instrument_token,
    )


# -- the parsed instruments of a broker's dump, cached per day --------------------------------------------------
# A broker's dump (Upstox's JSON, Angel's scrip master) takes seconds to read into Kite-shaped records; every
# command would pay it. The records are kept in Kite's own day file (kitekit.instruments.cache: CSV, binary
# index, checksummed header, written atomically), so they open in milliseconds. The broker's per-row facts
# (its keys) ride in the header, one list entry per CSV row. ``source`` names the dump file the records were
# read from (its size and mtime): a dump downloaded again, or another day's, makes the cache stale.


def _source_of(dump: Path) -> list[int]:
    stat = dump.stat()
    return [stat.st_size, stat.st_mtime_ns]


def cached_records(
    path: Path, day: date, broker: str, dump: Path, clock: Clock
) -> tuple[InstrumentStore, list[int], dict[str, Any]] | None:
    """Return the store, its tokens in row order and the header of the records cached at ``path`` for ``dump``.

    The header holds what :func:`cache_records` was given as ``facts``; its lists run in row order.

    A missing file is None; a damaged, stale or other-layout file is removed (with a warning if damaged) and
    None: the caller parses the dump again. Never raises for the cache's state.
    """
    from kitekit.instruments import InstrumentStore, cache

    for _ in range(2):  # once more if another process replaced the file between opening and reading it
        try:
            file = cache.open_day(path, day)
            header = file.header
            if header.get("broker") != broker or header.get("layout") != CACHE_LAYOUT:
                raise InstrumentCacheError("the file has another layout")
            if header.get("source") != _source_of(dump):
                with contextlib.suppress(OSError):
                    path.unlink()  # stale, not damaged: the dump was downloaded again
                return None
            return InstrumentStore.from_day_file(file, clock), file.index.tokens.tolist(), header
        except FileNotFoundError:
            return None
        except cache.CacheReplacedError:
            continue
        except (InstrumentCacheError, OSError, ValueError) as exc:
            cache.discard(path, str(exc))
            return None
    return None


def cache_records(
    path: Path, day: date, broker: str, dump: Path, raw: bytes, facts: dict[str, Any], clock: Clock
) -> InstrumentStore:
    """Return a store over the records ``raw`` (read from ``dump``), and cache them at ``path`` with ``facts``.

    ``raw`` is the records in Kite's CSV (:func:`~kitekit.wire.instruments_csv.encode_rows` or
    :func:`~kitekit.wire.instruments_csv.encode_fields`); ``facts`` holds the broker's own facts of each
    record, as lists in the order of its rows, and goes in the header.

    Day files of other days with the same name pattern (``{broker}-*.kkdump``) are removed. A cache that cannot
    be written costs only speed: it is logged and the store is returned all the same.
    """
    from kitekit.instruments import InstrumentStore, cache
    from kitekit.instruments.index import InstrumentIndex
    from kitekit.wire.dump_columns import DumpColumns

    cols = DumpColumns(raw)
    index = InstrumentIndex.build(cols)
    index.add_fno(cols)
    header = {**facts, "day": day.isoformat(), "broker": broker, "layout": CACHE_LAYOUT, "source": _source_of(dump)}
    try:
        cache.write_day(path, header, index, raw)
        for old in path.parent.glob(f"{broker}-*.kkdump"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("Could not cache %s's parsed instruments in %s: %s", broker, path, exc)
    return InstrumentStore.from_bytes(raw, day, clock)
