"""Row lookups over one instruments dump (keys and tokens sorted once, found by bisection) and their binary format."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kitekit.wire.dump_columns import DumpColumns
from kitekit.wire.instruments_csv import split_fields

__all__ = ["FORMAT_VERSION", "NO_EXPIRY", "FnoColumns", "IndexFormatError", "InstrumentIndex"]

#: Version of :meth:`InstrumentIndex.to_bytes`; a cache file of another version is downloaded again.
FORMAT_VERSION = 2
_MAGIC = b"KITEKIT-INDEX\x00\x00\x00"
_PREFIX = struct.Struct("<16sHI")
_ALIGN = 16
#: The arrays of the binary format, in the order they are written.
_ARRAYS = (
    "exchange_code",
    "tokens",
    "starts",
    "sorted_keys",
    "key_order",
    "sorted_tokens",
    "token_order",
    "names",
    "name_code",
    "type_code",
    "expiry",
    "strike",
    "lot_size",
)

#: ``FnoColumns.expiry`` of a row without an expiry (days since 1970 otherwise).
NO_EXPIRY = np.iinfo(np.int32).min


class IndexFormatError(ValueError):
    """Bytes that are not an instrument index of this format: wrong magic or version, truncated, inconsistent."""


_I64 = npt.NDArray[np.int64]
_U32 = npt.NDArray[np.uint32]


def _codes(values: np.ndarray) -> tuple[list[str], npt.NDArray[np.uint8]]:
    """Return the distinct values of a short text column (sorted) and each row's code into them.

    The distinct values are taken from the first row of each run (the dump lists an exchange's rows
    together: 6 values in about 5,200 runs over the full dump's 115k rows), and each row's code is a binary
    search among those few. ``np.unique(..., return_inverse=True)`` argsorts every row instead; numpy's
    quicksort of 64-bit words takes 13 ms over that column on the reference machine, sorted or not (of 3-byte
    strings, 2 ms): most of the time the index build had put on since it first landed.
    """
    if values.dtype.itemsize <= 8:
        # Short cells (exchanges, types) compare as one 64-bit word each: integers, not strings.
        words = np.zeros(len(values), dtype="S8")
        words[:] = values
        column = words.view(np.uint64)
    else:
        column = values
    if len(column):
        heads = np.flatnonzero(np.concatenate(([True], column[1:] != column[:-1])))
        uniq = np.unique(column[heads])
    else:
        uniq = column[:0]
    if len(uniq) > 254:
        raise ValueError(f"not a Kite instruments dump: {len(uniq)} distinct values in a short column")
    inverse = uniq.searchsorted(column)
    texts = uniq.view("S8") if uniq.dtype == np.uint64 else uniq
    names = [w.decode("utf-8", "replace") for w in texts.tolist()]
    order = sorted(range(len(names)), key=names.__getitem__)  # byte order of padded words is not text order
    rank = np.empty(len(order), dtype=np.uint8)
    rank[order] = np.arange(len(order), dtype=np.uint8)
    return [names[i] for i in order], rank[inverse]


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (sorted distinct values, each row's index into them), like ``np.unique(..., return_inverse)``.

    Rows of one underlying sit together in the dump, so only the first row of each run is sorted: a few
    thousand values instead of every row.
    """
    if len(values) == 0:
        return values[:0], np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    distinct, head_code = np.unique(values[starts], return_inverse=True)
    return distinct, np.repeat(head_code.ravel(), np.diff(np.append(starts, len(values))))


@dataclass(frozen=True)
class FnoColumns:
    """The columns futures and option chains need, one entry per row of the dump."""

    names: np.ndarray  # distinct ``name`` values, sorted, as bytes
    name_code: npt.NDArray[np.int32]
    types: tuple[str, ...]
    type_code: npt.NDArray[np.uint8]
    expiry: npt.NDArray[np.int32]  # days since 1970, NO_EXPIRY for none
    strike: npt.NDArray[np.float64]
    lot_size: npt.NDArray[np.int32]

    @classmethod
    def decode(cls, cols: DumpColumns) -> FnoColumns:
        """Decode the columns from a split dump."""
        names, name_code = _factorize(cols.text("name"))
        types, type_code = _codes(cols.text("instrument_type"))
        days = cols.dates("expiry")
        expiry = np.where(np.isnat(days), NO_EXPIRY, days.astype(np.int64)).astype(np.int32)
        return cls(
            names=names,
            name_code=name_code.ravel().astype(np.int32),
            types=tuple(types),
            type_code=type_code,
            expiry=expiry,
            strike=cols.floats("strike"),
            lot_size=cols.ints("lot_size").astype(np.int32),
        )

    def name_code_of(self, name: str) -> int:
        """Return the code of ``name`` (exact), or -1."""
        key = name.encode()
        i = int(self.names.searchsorted(key))
        return i if i < len(self.names) and self.names[i] == key else -1

    def type_codes(self, *kinds: str) -> list[int]:
        """Return the codes of the instrument types ``kinds`` present in the dump."""
        return [self.types.index(k) for k in kinds if k in self.types]


class InstrumentIndex:
    """One dump's rows found by ``EXCHANGE:SYMBOL`` or token, with no Python object per row.

    Keys (an exchange code byte followed by the symbol) and tokens are sorted once; a lookup is a binary
    search, about a microsecond. The F&O columns are decoded when first needed (or loaded from the cache).
    """

    def __init__(
        self,
        *,
        exchanges: list[str],
        exchange_code: npt.NDArray[np.uint8],
        tokens: _I64,
        starts: _I64,
        sorted_keys: np.ndarray,
        key_order: _U32,
        sorted_tokens: _I64,
        token_order: _U32,
        fno: FnoColumns | None = None,
    ) -> None:
        self.exchanges = exchanges
        self.exchange_code = exchange_code
        self.tokens = tokens
        self.starts = starts
        self.sorted_keys = sorted_keys
        self.key_order = key_order
        self.sorted_tokens = sorted_tokens
        self.token_order = token_order
        self.fno = fno
        self._code_of = {name: i for i, name in enumerate(exchanges)}
        self._rows = len(tokens)
        self._symbols: np.ndarray | None = None

    @classmethod
    def build(cls, cols: DumpColumns) -> InstrumentIndex:
        """Index a split dump by key and token (F&O columns are left for :meth:`add_fno`)."""
        tokens = cols.ints("instrument_token")
        symbols = cols.text("tradingsymbol")
        exchanges, exchange_code = _codes(cols.text("exchange"))
        width = symbols.dtype.itemsize + 1
        keyed = np.zeros((len(symbols), width), dtype=np.uint8)
        keyed[:, 0] = exchange_code + 1  # never 0: a NUL would be stripped from the key
        keyed[:, 1:] = symbols.view(np.uint8).reshape(len(symbols), width - 1)
        keys = keyed.view(f"S{width}").ravel()
        # Stable sorts: if a key or token repeats, the first row in the file wins.
        key_order = np.argsort(keys, kind="stable").astype(np.uint32)
        token_order = np.argsort(tokens, kind="stable").astype(np.uint32)
        index = cls(
            exchanges=exchanges,
            exchange_code=exchange_code,
            tokens=tokens,
            starts=cols.starts.astype(np.int64),
            sorted_keys=keys[key_order],
            key_order=key_order,
            sorted_tokens=tokens[token_order],
            token_order=token_order,
        )
        index._symbols = symbols
        return index

    def add_fno(self, cols: DumpColumns) -> FnoColumns:
        """Decode and attach the F&O columns; return them."""
        self.fno = FnoColumns.decode(cols)
        return self.fno

    def __len__(self) -> int:
        return len(self.tokens)

    # -- lookups ---------------------------------------------------------------------------------------------
    def row_of_key(self, exchange: str, symbol: str) -> int:
        """Return the row of ``exchange`` and ``symbol`` (exact), or -1."""
        code = self._code_of.get(exchange)
        if code is None:
            return -1
        key = bytes((code + 1,)) + symbol.encode()
        keys = self.sorted_keys
        i = keys.searchsorted(key)  # the array method skips np.searchsorted's dispatch
        if i < self._rows and keys[i] == key:
            return self.key_order.item(i)
        return -1

    def row_of_token(self, token: int) -> int:
        """Return the row of an instrument token, or -1."""
        if token <= 0:
            return -1
        tokens = self.sorted_tokens
        i = tokens.searchsorted(token)
        if i < self._rows and tokens[i] == token:
            return self.token_order.item(i)
        return -1

    def rows_of_symbol(self, symbol: str) -> dict[str, int]:
        """Return ``{exchange: row}`` for every exchange that lists ``symbol``."""
        return {ex: row for ex in self.exchanges if (row := self.row_of_key(ex, symbol)) >= 0}

    @property
    def symbols(self) -> np.ndarray:
        """Return each row's tradingsymbol as bytes (rebuilt from the sorted keys after a load)."""
        if self._symbols is None:
            width = self.sorted_keys.dtype.itemsize
            grid = self.sorted_keys.view(np.uint8).reshape(len(self.sorted_keys), width)
            by_row = np.zeros((len(grid), max(width - 1, 1)), dtype=np.uint8)
            by_row[self.key_order, : width - 1] = grid[:, 1:]
            self._symbols = by_row.view(f"S{max(width - 1, 1)}").ravel()
        return self._symbols

    def exchange_of(self, row: int) -> str:
        """Return the exchange of ``row``."""
        return self.exchanges[int(self.exchange_code[row])]

    def key_of(self, row: int) -> str:
        """Return ``EXCHANGE:SYMBOL`` of ``row`` without reading the CSV."""
        return f"{self.exchange_of(row)}:{self.symbols[row].decode('utf-8', 'replace')}"

    def fields(self, row: int, raw: bytes) -> list[str]:
        """Return the 12 text fields of ``row``, read from the dump's bytes ``raw``."""
        start = int(self.starts[row])
        end = raw.find(b"\n", start)
        line = raw[start : len(raw) if end < 0 else end].rstrip(b"\r")
        return split_fields(line.decode("utf-8", "replace"))

    # -- the binary format the day cache stores ---------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Return the index in its binary format (see :meth:`from_bytes`); F&O columns are decoded first.

        Layout: ``MAGIC | version (u16) | header length (u32) | header (JSON, padded) | arrays``; the header
        names each array's dtype, shape and offset, and every array starts on a 16-byte boundary so
        :meth:`from_bytes` can view it in place.

        Raises:
            ValueError: the F&O columns were never decoded (call :meth:`add_fno` first).
        """
        if self.fno is None:
            raise ValueError("decode the F&O columns (add_fno) before saving the index")
        fno = self.fno
        arrays: dict[str, np.ndarray] = {
            "exchange_code": self.exchange_code,
            "tokens": self.tokens,
            "starts": self.starts,
            "sorted_keys": self.sorted_keys,
            "key_order": self.key_order,
            "sorted_tokens": self.sorted_tokens,
            "token_order": self.token_order,
            "names": fno.names,
            "name_code": fno.name_code,
            "type_code": fno.type_code,
            "expiry": fno.expiry,
            "strike": fno.strike,
            "lot_size": fno.lot_size,
        }
        specs: dict[str, dict[str, Any]] = {}
        chunks: list[bytes] = []
        offset = 0
        for name, array in arrays.items():
            data = np.ascontiguousarray(array).tobytes()
            specs[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
            pad = -len(data) % _ALIGN
            chunks.append(data + b"\0" * pad)
            offset += len(data) + pad
        header = {"rows": len(self), "exchanges": self.exchanges, "types": list(fno.types), "arrays": specs}
        head = json.dumps(header, separators=(",", ":")).encode()
        head += b" " * (-(_PREFIX.size + len(head)) % _ALIGN)
        return _PREFIX.pack(_MAGIC, FORMAT_VERSION, len(head)) + head + b"".join(chunks)

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> InstrumentIndex:
        """Rebuild an index from :meth:`to_bytes` output; its arrays are zero-copy views into ``data``.

        Raises:
            IndexFormatError: ``data`` is not an index of this format version, or is truncated or inconsistent.
        """
        view = memoryview(data)
        if len(view) < _PREFIX.size:
            raise IndexFormatError(f"an index is at least {_PREFIX.size} bytes; got {len(view)}")
        magic, version, size = _PREFIX.unpack_from(view)
        if magic != _MAGIC:
            raise IndexFormatError("not a kitekit instrument index (wrong magic bytes)")
        if version != FORMAT_VERSION:
            raise IndexFormatError(f"instrument index format {version}; this kitekit reads format {FORMAT_VERSION}")
        body = _PREFIX.size + size
        if body > len(view):
            raise IndexFormatError("the index is truncated inside its header")
        try:
            header = json.loads(bytes(view[_PREFIX.size : body]))
            rows = int(header["rows"])
            exchanges = [str(e) for e in header["exchanges"]]
            types = tuple(str(t) for t in header["types"])
            specs = dict(header["arrays"])
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexFormatError(f"unreadable index header ({exc})") from None
        arrays: dict[str, np.ndarray] = {}
        for name in _ARRAYS:
            spec = specs.get(name)
            if not isinstance(spec, dict):
                raise IndexFormatError(f"the index lacks the array {name!r}")
            try:
                dtype = np.dtype(spec["dtype"])
                shape = tuple(int(x) for x in spec["shape"])
                start = body + int(spec["offset"])
            except (ValueError, KeyError, TypeError) as exc:
                raise IndexFormatError(f"bad layout of array {name!r} ({exc})") from None
            count = int(np.prod(shape)) if shape else 1
            if start < body or start + count * dtype.itemsize > len(view) or dtype.hasobject:
                raise IndexFormatError(f"array {name!r} runs past the end of the index (truncated?)")
            if name != "names" and shape != (rows,):
                raise IndexFormatError(f"array {name!r} has shape {shape}, not ({rows},)")
            arrays[name] = np.frombuffer(view, dtype=dtype, count=count, offset=start).reshape(shape)
        fno = FnoColumns(
            names=arrays["names"],
            name_code=arrays["name_code"],
            types=types,
            type_code=arrays["type_code"],
            expiry=arrays["expiry"],
            strike=arrays["strike"],
            lot_size=arrays["lot_size"],
        )
        return cls(
            exchanges=exchanges,
            exchange_code=arrays["exchange_code"],
            tokens=arrays["tokens"],
            starts=arrays["starts"],
            sorted_keys=arrays["sorted_keys"],
            key_order=arrays["key_order"],
            sorted_tokens=arrays["sorted_tokens"],
            token_order=arrays["token_order"],
            fno=fno,
        )
