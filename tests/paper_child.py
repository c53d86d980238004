"""A process that places paper orders as fast as it can and says so after each, to be killed mid-write by a test.

Run: ``python -m tests.paper_child FOLDER DUMP FIRST [MIN_COMPACTION]``; prints ``placed <intent> <order_id>``
(flushed) once each placement returned, i.e. once the paper broker acknowledged it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from kitekit.clock import IST, ManualClock
from kitekit.instruments import InstrumentStore
from kitekit.orders import OrderRequest, PaperBroker, Product

#: The moment the child trades at: a Friday mid-session (the tests' SIM_NOW).
NOW = datetime(2026, 11, 27, 11, 0, tzinfo=IST)


class FixedQuotes:
    """Every instrument at one price with a book deep enough for any number of one-share orders."""

    def __init__(self, instruments: InstrumentStore) -> None:
        self.instruments = instruments

    def quote(self, *keys: Any) -> Mapping[Any, Mapping[str, Any]]:
        """Return a ``/quote`` item per key."""
        out = {}
        for key in keys:
            token = self.instruments.instrument(str(key)).instrument_token
            depth = {
                "buy": [{"price": 99.95, "quantity": 10**9, "orders": 1}],
                "sell": [{"price": 100.0, "quantity": 10**9, "orders": 1}],
            }
            out[key] = {"instrument_token": token, "last_price": 100.0, "timestamp": "2026-11-27 11:00:00",
                        "depth": depth, "lower_circuit_limit": 90.0, "upper_circuit_limit": 110.0}  # fmt: skip
        return out


def broker(folder: Path, instruments: InstrumentStore) -> PaperBroker:
    """Return the paper broker both the child and the test open on ``folder``."""
    return PaperBroker(FixedQuotes(instruments), instruments, folder=folder, clock=ManualClock(NOW))


def main(argv: list[str]) -> None:
    folder, dump, first = Path(argv[0]), Path(argv[1]), int(argv[2])
    instruments = InstrumentStore.from_bytes(dump.read_bytes(), NOW.date(), clock=ManualClock(NOW))
    paper = broker(folder, instruments)
    if len(argv) > 3:
        paper.ledger.min_compaction = int(argv[3])
    for i in range(first, first + 100_000):
        side = OrderRequest.buy if i % 2 else OrderRequest.sell
        placed = paper.place(side("NSE:INFY", 1, product=Product.MIS), f"k{i}")
        sys.stdout.write(f"placed k{i} {placed.order_id}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
