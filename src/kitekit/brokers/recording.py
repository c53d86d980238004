"""Another broker's live feed recorded to the daily Parquet files Kite's recordings use, and read back as ticks.

:class:`FeedRecorder` is :class:`~kitekit.ticker.TickRecorder`'s buffer, flushes, parts and counts for a
:class:`~kitekit.brokers.feed.LiveFeed`'s neutral ticks: one row per tick in the same typed columns
(:mod:`kitekit.wire.recording`), under the broker's own numeric token, each file naming the broker and every
token's ``EXCHANGE:SYMBOL``. What a neutral tick does not carry (the total buy and sell quantities, the day's OI
range, a last trade time apart from the exchange time) is null, as in a Kite packet of a mode without it; times
are whole seconds, as Kite's; depth is the best five levels a side, zero-padded as Kite's. The ``raw`` column is
empty (see the format's module).

:func:`read_feed_recording` gives the ticks back as :class:`~kitekit.brokers.model.Tick`, frame by frame: the
same values the feed gave (to the second), so a backtest on them meets what a live run met.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.brokers.model import BrokerInstrument, Level, Ohlc, Tick
from kitekit.clock import IST
from kitekit.errors import TickerError
from kitekit.ticker.recorder import BufferedRecorder
from kitekit.wire.recording import (
    KITE,
    RecordingSource,
    neutral_table,
    read_recording,
    recording_source,
    write_part,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["FeedRecorder", "RecordedTicks", "read_feed_recording", "tick_columns"]

_DEPTH = 5  # levels a side, as Kite's full packet carries
# The fields a neutral tick carries beyond the last price in the quote and full modes (an LTP tick: none).
_QUOTED = ("average_traded_price", "last_traded_quantity", "volume_traded", "oi")


def tick_columns(ticks: Sequence[tuple[Tick, int, bool]]) -> dict[str, list[Any]]:
    """Return neutral ticks as recording columns (:func:`kitekit.wire.recording.neutral_table`'s ``columns``).

    Args:
        ticks: each tick, its instrument token (the broker's), and whether the instrument is tradable.
    """
    names = (
        "instrument_token", "mode", "tradable", "last_price", "average_traded_price", "open", "high", "low",
        "close", "change", "last_traded_quantity", "volume_traded", "oi", "exchange_timestamp",
        "depth_buy_quantity", "depth_buy_orders", "depth_sell_quantity", "depth_sell_orders", "depth_buy_price",
        "depth_sell_price",
    )  # fmt: skip
    out: dict[str, list[Any]] = {name: [] for name in names}
    for tick, token, tradable in ticks:
        row: dict[str, Any] = {"instrument_token": token, "mode": tick.mode, "tradable": tradable}
        row["last_price"] = tick.last_price
        if tick.mode != "ltp":
            row.update(
                average_traded_price=tick.average_price,
                last_traded_quantity=tick.last_quantity,
                volume_traded=tick.volume,
                oi=round(tick.oi),
            )
        if tick.ohlc is not None:
            o = tick.ohlc
            row.update(open=o.open, high=o.high, low=o.low, close=o.close)
            row["change"] = (tick.last_price - o.close) / o.close * 100 if o.close else 0.0
        if tick.timestamp is not None:
            row["exchange_timestamp"] = int(tick.timestamp.timestamp())
        if tick.mode == "full" and (tick.bids or tick.asks):  # an index has no depth: null, as Kite's
            for side, levels in (("buy", tick.bids), ("sell", tick.asks)):
                padded = [*levels[:_DEPTH], *[Level(0.0, 0, 0)] * (_DEPTH - min(len(levels), _DEPTH))]
                row[f"depth_{side}_price"] = [lv.price for lv in padded]
                row[f"depth_{side}_quantity"] = [lv.quantity for lv in padded]
                row[f"depth_{side}_orders"] = [lv.orders for lv in padded]
        for name in names:
            out[name].append(row.get(name))
    return out


class FeedRecorder(BufferedRecorder[tuple[tuple[Tick, int, bool], ...]]):
    """Writes a broker's neutral ticks to ``folder`` (the format of Kite's recordings) without blocking the feed.

    Use it as ``recorder.add(ticks, received_ns)`` for each list of ticks the feed yields (a frame), between
    :meth:`start` and :meth:`close` (or ``with``). Ticks of instruments not in ``instruments`` are left out.

    Args:
        folder: the recording folder (created private, 0700); one broker's recordings only.
        broker: the broker whose feed it is (``upstox``, ``angel``).
        instruments: each subscribed neutral key's listing on that broker (its token is recorded).
        flush_every: seconds between flushes: the most a crash can lose.
        buffer_ticks: ticks the buffer holds; a frame that does not fit is dropped and counted.
        writer: writes one flush (the folder, the rows, a unique part name).

    Raises:
        ValueError: ``broker`` is Kite (its frames are recorded by :class:`~kitekit.ticker.TickRecorder`), or an
            instrument has no numeric token.
    """

    def __init__(
        self,
        folder: Path,
        broker: str,
        instruments: Mapping[str, BrokerInstrument],
        flush_every: float = 1.0,
        buffer_ticks: int = 200_000,
        writer: Callable[[Path, Any, str], Any] = write_part,
    ) -> None:
        super().__init__(folder, flush_every, buffer_ticks, writer)
        if broker == KITE:
            raise ValueError("Kite's feed is recorded from its frames: use kitekit.ticker.TickRecorder")
        self.broker = broker
        self._tokens: dict[str, tuple[int, bool]] = {}
        for key, listed in instruments.items():
            if listed.token is None:
                raise ValueError(f"{key} has no numeric token on {broker}: it cannot be recorded")
            self._tokens[key] = (listed.token, listed.tradable)
        self._keys = {token: key for key, (token, _) in self._tokens.items()}

    def add(self, ticks: Sequence[Tick], received_ns: int) -> bool:
        """Buffer one frame of ticks (never blocks on the disk); return False if it was dropped, the buffer full."""
        frame = tuple((t, *self._tokens[t.key]) for t in ticks if t.key in self._tokens)
        return self._offer(frame, len(frame), received_ns)

    def _table(
        self, frames: Sequence[tuple[tuple[Tick, int, bool], ...]], received_ns: Sequence[int], numbers: Sequence[int]
    ) -> pa.Table:
        received = [at for at, frame in zip(received_ns, frames, strict=True) for _ in frame]
        numbered = [n for n, frame in zip(numbers, frames, strict=True) for _ in frame]
        packets = [i for frame in frames for i in range(len(frame))]
        ticks = [t for frame in frames for t in frame]
        return neutral_table(received, numbered, packets, tick_columns(ticks), self.broker, self._keys)


@dataclass(frozen=True)
class RecordedTicks:
    """Another broker's recording read back: whose feed, and its frames as (received ns, ticks), oldest first."""

    source: RecordingSource
    frames: list[tuple[int, list[Tick]]]


def read_feed_recording(folder: Path) -> RecordedTicks:
    """Return a recording of another broker's feed than Kite's as neutral ticks, frame by frame.

    Each tick's ``key`` is its token's ``EXCHANGE:SYMBOL`` as the recording names it.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is a file.
        TickerError: it is a recording of Kite's frames (read those with :mod:`kitekit.wire.recording`), or it
            mixes several brokers' recordings.
        pyarrow.ArrowInvalid: a file is not a tick recording.
    """
    source = recording_source(folder)
    if source.kite:
        raise TickerError(f"{folder} is a recording of Kite Connect's frames, not of another broker's ticks")
    table = read_recording(folder)
    frames: list[tuple[int, list[Tick]]] = []
    last: tuple[int, int] | None = None
    received = table.column("received_at").cast("int64").to_pylist()
    numbers = table.column("frame").to_pylist()
    for at, number, row in zip(received, numbers, table.to_pylist(), strict=True):
        if (at, number) != last:
            frames.append((at, []))
            last = (at, number)
        frames[-1][1].append(_tick(row, source.keys))
    return RecordedTicks(source, frames)


def _tick(row: Mapping[str, Any], keys: Mapping[int, str]) -> Tick:
    token = row["instrument_token"]
    key = keys.get(token)
    if key is None:
        raise TickerError(f"The recording's token {token} is not among the instruments its files name")
    ohlc = None
    if row["close"] is not None:
        ohlc = Ohlc(row["open"], row["high"], row["low"], row["close"])
    stamp = row["exchange_timestamp"]
    return Tick(
        key=key,
        last_price=row["last_price"],
        mode=row["mode"],
        timestamp=stamp.astimezone(IST) if isinstance(stamp, datetime) else None,
        volume=row["volume_traded"] or 0,
        last_quantity=row["last_traded_quantity"] or 0,
        average_price=row["average_traded_price"] or 0.0,
        oi=float(row["oi"] or 0),
        ohlc=ohlc,
        bids=_levels(row, "buy"),
        asks=_levels(row, "sell"),
    )


def _levels(row: Mapping[str, Any], side: str) -> tuple[Level, ...]:
    prices = row[f"depth_{side}_price"]
    if prices is None:
        return ()
    quantities, orders = row[f"depth_{side}_quantity"], row[f"depth_{side}_orders"]
    # The zero padding is not a level (as the feed's ticks leave empty levels out).
    return tuple(Level(p, q, o) for p, q, o in zip(prices, quantities, orders, strict=True) if p and q)
