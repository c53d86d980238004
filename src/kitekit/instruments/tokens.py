"""``tokens.json``: the ``{tradingsymbol: instrument_token}`` file many Kite scripts read at start-up."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from kitekit.files import atomic_write
from kitekit.wire.instruments_csv import Instrument

__all__ = ["DEFAULT_FUTURES", "DEFAULT_TOKENS", "token_map", "write_tokens"]

#: What the file always holds (where the store downloads their exchange)…
DEFAULT_TOKENS = ("NSE:NIFTY 50", "NSE:NIFTY BANK", "NSE:RELIANCE", "NSE:TCS", "NSE:HDFCBANK")
#: …plus the nearest future of each of these (when NFO is downloaded).
DEFAULT_FUTURES = ("NIFTY", "BANKNIFTY")


def token_map(
    lookup: Callable[[str | int], Instrument],
    nearest_future: Callable[[str], Instrument],
    symbols: Iterable[str | int] = (),
    exchanges: Sequence[str] | None = None,
) -> dict[str, int]:
    """Return ``{tradingsymbol: instrument_token}`` for the defaults and ``symbols``.

    Args:
        lookup: resolves a name to an instrument (``InstrumentStore.instrument``).
        nearest_future: the front-month future of an underlying (``InstrumentStore.nearest_future``).
        symbols: extra instruments; where one shares a tradingsymbol with a default (``BSE:RELIANCE``), the
            one asked for wins.
        exchanges: the exchanges available; defaults on others are left out (None: all).

    Raises:
        UnknownInstrumentError: one of ``symbols`` does not resolve.
        ValueError: two of ``symbols`` share a tradingsymbol, which the file cannot tell apart.
    """
    wanted = set(exchanges) if exchanges is not None else None
    mapping: dict[str, int] = {}
    for default in DEFAULT_TOKENS:
        if wanted is None or default.partition(":")[0] in wanted:
            rec = lookup(default)
            mapping[rec.tradingsymbol] = rec.instrument_token
    if wanted is None or "NFO" in wanted:
        for underlying in DEFAULT_FUTURES:
            rec = nearest_future(underlying)
            mapping[rec.tradingsymbol] = rec.instrument_token
    chosen: dict[str, Instrument] = {}
    for query in symbols:
        rec = lookup(query)
        other = chosen.get(rec.tradingsymbol)
        if other is not None and other.instrument_token != rec.instrument_token:
            raise ValueError(
                f"{other.key} and {rec.key} share the tradingsymbol {rec.tradingsymbol!r}; "
                "tokens.json is keyed by tradingsymbol, so ask for one of them"
            )
        chosen[rec.tradingsymbol] = rec
        mapping[rec.tradingsymbol] = rec.instrument_token
    return mapping


def write_tokens(path: Path, mapping: dict[str, int]) -> None:
    """Write ``mapping`` to ``path`` as indented JSON, atomically and private to the user (0600)."""
    atomic_write(path, (json.dumps(mapping, indent=2) + "\n").encode())
