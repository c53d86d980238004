"""Tick recordings on disk: daily Parquet files, one row per tick plus its raw packet (recorder and replay).

The client's recorder writes them and the simulator's replay reads them, so the format lives here, once.
A recording folder holds, per trading day (IST)::

    ticks-2026-11-27.parquet                  the day, complete
    ticks-2026-11-27.parts/part-….parquet     flushed while recording; merged into the day's file on close

Each flush is one part written atomically, so a crash loses at most what was not flushed yet; the parts it
leaves behind are read as they are and merged by the next :func:`compact` of that day.

Columns: ``received_at`` (UTC, ns: when the frame arrived), ``frame`` (the recorder's frame number),
``packet`` (the tick's place in its frame), then the tick's fields as :class:`~kitekit.wire.ticks.TickColumns`
names them (null where the packet kind does not carry a field; depth as five-element lists), and ``raw``, the
packet's bytes exactly as received. The raw packets of a frame, in order, rebuild the frame byte for byte
(:func:`frames_of`).

**Another broker's feed** (Upstox, Angel One) is recorded in the same columns (:func:`neutral_table`), each file
saying whose feed it holds in its Parquet metadata: ``kitekit.broker`` (the broker's name) and ``kitekit.keys``
(JSON: each recorded ``instrument_token``, the broker's own numeric token, and its neutral ``EXCHANGE:SYMBOL``),
so a reader can resolve the tokens without the broker's instrument list. A file without ``kitekit.broker`` is
Kite's (every recording made before other brokers were). Its ``raw`` column is empty: kitekit's neutral feed
hands on decoded ticks, not the broker's wire bytes, and a Kite-shaped packet made up from them would claim
to be what Kite sent. Such a recording therefore cannot be replayed as Kite's frames (:func:`frames_of`);
it is read through its typed columns. :func:`recording_source` tells the two apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kitekit.clock import IST
from kitekit.errors import TickerError
from kitekit.files import atomic_write, ensure_dir
from kitekit.wire.ticks import TickColumns, decode_columns_batch
from kitekit.wire.ticks.layout import INT_FIELDS, PRICE_FIELDS, TIME_FIELDS

__all__ = [
    "BROKER_META",
    "KEYS_META",
    "KITE",
    "SCHEMA",
    "RecordingSource",
    "compact",
    "day_file",
    "day_of",
    "frames_of",
    "neutral_table",
    "read_recording",
    "recording_days",
    "recording_source",
    "table_of",
    "write_part",
]

_PRICES = (*PRICE_FIELDS, "change")  # the SDK's percentage change is recorded too
_INTS = INT_FIELDS
_TIMES = TIME_FIELDS
_DEPTH_INTS = ("depth_buy_quantity", "depth_buy_orders", "depth_sell_quantity", "depth_sell_orders")
_DEPTH_PRICES = ("depth_buy_price", "depth_sell_price")

SCHEMA = pa.schema(
    [
        pa.field("received_at", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("frame", pa.int64(), nullable=False),
        pa.field("packet", pa.int32(), nullable=False),
        pa.field("instrument_token", pa.int64(), nullable=False),
        pa.field("mode", pa.string(), nullable=False),
        pa.field("tradable", pa.bool_(), nullable=False),
        *(pa.field(name, pa.float64()) for name in _PRICES),
        *(pa.field(name, pa.int64()) for name in _INTS),
        *(pa.field(name, pa.timestamp("s", tz="UTC")) for name in _TIMES),
        *(pa.field(name, pa.list_(pa.int64(), 5)) for name in _DEPTH_INTS),
        *(pa.field(name, pa.list_(pa.float64(), 5)) for name in _DEPTH_PRICES),
        pa.field("raw", pa.binary(), nullable=False),
    ]
)
#: The Parquet metadata naming the broker whose feed a file holds (absent: Kite's).
BROKER_META = b"kitekit.broker"
#: The Parquet metadata of another broker's recording: JSON, each ``instrument_token`` and its neutral key.
KEYS_META = b"kitekit.keys"
#: The broker of a recording without :data:`BROKER_META`.
KITE = "kite"
_DAY_FILE = re.compile(r"^ticks-(\d{4}-\d{2}-\d{2})\.parquet$")
_PARTS = re.compile(r"^ticks-(\d{4}-\d{2}-\d{2})\.parts$")


def day_of(received_ns: int) -> date:
    """Return the IST trading day a frame received at ``received_ns`` (UTC epoch ns) is filed under."""
    return datetime.fromtimestamp(received_ns / 1e9, UTC).astimezone(IST).date()


def day_file(folder: Path, day: date) -> Path:
    """Return the path of ``day``'s complete file in a recording folder."""
    return folder / f"ticks-{day.isoformat()}.parquet"


def _parts_dir(folder: Path, day: date) -> Path:
    return folder / f"ticks-{day.isoformat()}.parts"


def table_of(frames: Sequence[bytes], received_ns: Sequence[int], numbers: Sequence[int]) -> pa.Table:
    """Return the rows of some tick frames: one per packet, typed columns plus the raw packet.

    Args:
        frames: binary tick frames as received (heartbeats add no rows).
        received_ns: when each frame arrived, UTC epoch nanoseconds.
        numbers: each frame's number in its recording.

    Raises:
        TickFrameError: a frame is malformed (the recorder keeps only frames that decoded).
    """
    columns = decode_columns_batch(frames)
    counts = np.array([_count(frame) for frame in frames], dtype=np.int64)
    lengths = columns.kind.astype(np.int64)
    raw: list[bytes] = []
    packet_numbers: list[np.ndarray] = []
    row = 0
    for frame, count in zip(frames, counts.tolist(), strict=True):
        pos = 2
        for _ in range(count):
            size = int(lengths[row])
            raw.append(frame[pos + 2 : pos + 2 + size])
            pos += 2 + size
            row += 1
        packet_numbers.append(np.arange(count, dtype=np.int32))
    arrays: dict[str, Any] = {
        "received_at": pa.array(np.repeat(np.asarray(received_ns, dtype=np.int64), counts), pa.timestamp("ns", "UTC")),
        "frame": pa.array(np.repeat(np.asarray(numbers, dtype=np.int64), counts)),
        "packet": pa.array(np.concatenate(packet_numbers) if packet_numbers else np.zeros(0, np.int32)),
        "instrument_token": pa.array(columns.instrument_token),
        "mode": pa.array(columns.mode.astype(object), pa.string()),
        "tradable": pa.array(columns.tradable),
    }
    arrays.update(_typed(columns))
    arrays["raw"] = pa.array(raw, pa.binary())
    return pa.Table.from_pydict(arrays, schema=SCHEMA)


def neutral_table(
    received_ns: Sequence[int],
    frames: Sequence[int],
    packets: Sequence[int],
    columns: Mapping[str, Sequence[Any]],
    broker: str,
    keys: Mapping[int, str],
) -> pa.Table:
    """Return the rows of ticks from another broker's feed than Kite's, in :data:`SCHEMA`, marked as that broker's.

    Args:
        received_ns: when each tick's frame arrived, UTC epoch nanoseconds (one per row, as the next two).
        frames: each tick's frame number in its recording.
        packets: each tick's place in its frame.
        columns: the tick fields by :data:`SCHEMA` name, one value a row (None: not carried); ``instrument_token``,
            ``mode`` and ``tradable`` are required; times as UTC epoch seconds. A field not given is null.
        broker: the broker's name (``upstox``, ``angel``); never Kite, whose recordings hold its frames.
        keys: each token recorded and its neutral ``EXCHANGE:SYMBOL`` (kept in the file's metadata).

    Raises:
        ValueError: ``broker`` is Kite.
    """
    if broker == KITE:
        raise ValueError("Kite's feed is recorded from its frames (table_of), with the raw packets")
    rows = len(received_ns)
    arrays: dict[str, Any] = {
        "received_at": pa.array(np.asarray(received_ns, dtype=np.int64), pa.timestamp("ns", "UTC")),
        "frame": pa.array(np.asarray(frames, dtype=np.int64)),
        "packet": pa.array(np.asarray(packets, dtype=np.int32)),
    }
    for name in SCHEMA.names[3:-1]:
        values = columns.get(name)
        kind = SCHEMA.field(name).type
        if values is None:
            arrays[name] = pa.nulls(rows, kind)
        elif pa.types.is_timestamp(kind):
            arrays[name] = pa.array(values, pa.int64()).cast(kind)
        else:
            arrays[name] = pa.array(values, kind)
    # Empty, not null: the column stays non-nullable, so Kite's recordings and these concatenate as one table.
    arrays["raw"] = pa.array([b""] * rows, pa.binary())
    table = pa.Table.from_pydict(arrays, schema=SCHEMA)
    return table.replace_schema_metadata(_metadata(RecordingSource(broker, dict(keys))))


@dataclass(frozen=True)
class RecordingSource:
    """Whose feed a recording holds, and (another broker's) each recorded token's neutral key.

    Attributes:
        broker: ``kite`` (its frames, in the raw column), or the other broker's name.
        keys: each ``instrument_token`` recorded and its ``EXCHANGE:SYMBOL``; empty for Kite's recordings,
            whose tokens are Kite's instrument tokens.
    """

    broker: str = KITE
    keys: dict[int, str] = field(default_factory=dict)

    @property
    def kite(self) -> bool:
        """Return True for a recording of Kite's frames."""
        return self.broker == KITE


def _metadata(source: RecordingSource) -> dict[bytes, bytes] | None:
    if source.kite:
        return None
    keys = json.dumps({str(token): key for token, key in sorted(source.keys.items())})
    return {BROKER_META: source.broker.encode(), KEYS_META: keys.encode()}


def _source_of(metadata: Mapping[bytes, bytes] | None) -> RecordingSource:
    if not metadata or BROKER_META not in metadata:
        return RecordingSource()
    keys = json.loads(metadata.get(KEYS_META, b"{}"))
    return RecordingSource(metadata[BROKER_META].decode(), {int(token): str(key) for token, key in keys.items()})


def _merged(sources: Sequence[RecordingSource], where: Path) -> RecordingSource:
    """Return the one source of several files (keys joined), or raise when two brokers' feeds were mixed."""
    brokers = sorted({s.broker for s in sources})
    if len(brokers) > 1:
        raise TickerError(
            f"{where} holds recordings of several brokers' feeds ({', '.join(brokers)}): record each broker "
            "to a folder of its own."
        )
    keys: dict[int, str] = {}
    for source in sources:
        keys.update(source.keys)
    return RecordingSource(brokers[0] if brokers else KITE, keys)


def recording_source(folder: Path, days: Sequence[date] | None = None) -> RecordingSource:
    """Return whose feed a recording folder holds (all days, or ``days``), from its files' metadata alone.

    An empty folder is Kite's, as is every file written before other brokers were recorded.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is a file.
        TickerError: the folder mixes several brokers' recordings.
        pyarrow.ArrowInvalid: a file is not a Parquet file.
    """
    sources = [_source_of(pq.read_schema(path).metadata) for path in _files(folder, days)]
    return _merged(sources, folder)


def _files(folder: Path, days: Sequence[date] | None = None) -> list[Path]:
    found: list[Path] = []
    for day in days if days is not None else recording_days(folder):
        target = day_file(folder, day)
        if target.exists():
            found.append(target)
        found.extend(sorted(_parts_dir(folder, day).glob("part-*.parquet")))
    return found


def _count(frame: bytes) -> int:
    return 0 if len(frame) < 2 else frame[0] << 8 | frame[1]


def _typed(columns: TickColumns) -> dict[str, pa.Array]:
    """Return the tick fields as Arrow arrays, null wherever the packet kind does not carry the field."""
    out: dict[str, pa.Array] = {}
    for name in _PRICES:
        out[name] = pa.array(getattr(columns, name), pa.float64(), mask=~columns.carries(name))
    for name in _INTS:
        out[name] = pa.array(getattr(columns, name), pa.int64(), mask=~columns.carries(name))
    for name in _TIMES:
        values = getattr(columns, name)
        out[name] = pa.array(values.view(np.int64), pa.timestamp("s", "UTC"), mask=np.isnat(values))
    for name, kind in ((n, pa.int64()) for n in _DEPTH_INTS):
        out[name] = _lists(getattr(columns, name), kind, ~columns.carries(name))
    for name in _DEPTH_PRICES:
        out[name] = _lists(getattr(columns, name), pa.float64(), ~columns.carries(name))
    return out


def _lists(values: np.ndarray, kind: pa.DataType, mask: np.ndarray) -> pa.Array:
    flat = pa.array(np.ascontiguousarray(values).reshape(-1), kind)
    return pa.FixedSizeListArray.from_arrays(flat, 5, mask=pa.array(mask))


def frames_of(table: pa.Table) -> list[tuple[int, bytes]]:
    """Return the frames a recording's rows came from, in order, as (received_at ns, frame bytes).

    Rows are ordered by arrival, frame and packet first, so parts and days may be given in any order. Only
    Kite's recordings hold frames (see :func:`recording_source`).
    """
    if not table.num_rows:
        return []
    table = table.select(["received_at", "frame", "packet", "raw"]).sort_by(
        [("received_at", "ascending"), ("frame", "ascending"), ("packet", "ascending")]
    )
    received = table.column("received_at").cast(pa.int64()).to_numpy()
    numbers = table.column("frame").to_numpy()
    raw = table.column("raw").to_pylist()
    starts = np.flatnonzero(np.diff(numbers, prepend=numbers[0] - 1) | np.diff(received, prepend=received[0] - 1))
    ends = [*starts[1:].tolist(), len(raw)]
    frames: list[tuple[int, bytes]] = []
    for start, end in zip(starts.tolist(), ends, strict=True):
        packets = raw[start:end]
        body = b"".join(len(p).to_bytes(2, "big") + p for p in packets)
        frames.append((int(received[start]), len(packets).to_bytes(2, "big") + body))
    return frames


def write_part(folder: Path, table: pa.Table, name: str) -> list[Path]:
    """Write ``table`` as part ``name`` of each IST day its rows fall on, each file atomically.

    Names must be unique within a day (the recorder uses its start time and a count).

    Returns:
        The part files written.
    """
    if not table.num_rows:
        return []
    received = table.column("received_at").cast(pa.int64()).to_numpy()
    days = np.array([day_of(int(ns)) for ns in received[[0, -1]]])
    written: list[Path] = []
    if days[0] == days[-1]:
        groups = [(days[0], table)]
    else:  # a flush that spans midnight IST: split it row by row
        per_row = np.array([day_of(int(ns)) for ns in received])
        groups = [(day, table.filter(pa.array(per_row == day))) for day in sorted(set(per_row.tolist()))]
    for day, part in groups:
        path = _parts_dir(folder, day) / f"part-{name}.parquet"
        ensure_dir(path.parent)
        atomic_write(path, _parquet_bytes(part), mode=0o600)
        written.append(path)
    return written


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def compact(folder: Path, day: date) -> Path | None:
    """Merge ``day``'s parts (and its file, if any) into the day's file, atomically; return it.

    The parts are removed only once the merged file is on disk, so a crash during compaction loses nothing.
    Returns None when the day has neither parts nor a file. The merged file says whose feed it holds, as its
    parts did.

    Raises:
        TickerError: the day's files are recordings of different brokers' feeds (nothing is merged).
    """
    parts = sorted(_parts_dir(folder, day).glob("part-*.parquet"))
    target = day_file(folder, day)
    if not parts:
        return target if target.exists() else None
    tables = [pq.read_table(target)] if target.exists() else []
    tables.extend(pq.read_table(part) for part in parts)
    source = _merged([_source_of(t.schema.metadata) for t in tables], folder)
    merged = pa.concat_tables([t.replace_schema_metadata(None) for t in tables]).sort_by(
        [("received_at", "ascending"), ("frame", "ascending"), ("packet", "ascending")]
    )
    merged = merged.replace_schema_metadata(_metadata(source))
    atomic_write(target, _parquet_bytes(merged), mode=0o600)
    for part in parts:
        part.unlink()
    _parts_dir(folder, day).rmdir()
    return target


def recording_days(folder: Path) -> list[date]:
    """Return the days a recording folder holds (complete files or parts), oldest first.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is a file.
    """
    names = [entry.name for entry in folder.iterdir()]
    found = {m.group(1) for name in names if (m := _DAY_FILE.match(name) or _PARTS.match(name))}
    return sorted(date.fromisoformat(day) for day in found)


def read_recording(folder: Path, days: Sequence[date] | None = None) -> pa.Table:
    """Return every row of a recording folder (all days, or ``days``), parts included, in recorded order.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is a file.
        pyarrow.ArrowInvalid: a file is not a tick recording.
    """
    tables = [pq.read_table(path) for path in _files(folder, days)]
    if not tables:
        return SCHEMA.empty_table()
    return pa.concat_tables([t.select(SCHEMA.names).cast(SCHEMA) for t in tables]).sort_by(
        [("received_at", "ascending"), ("frame", "ascending"), ("packet", "ascending")]
    )
