"""The instruments dump: Kite's exact 12-column CSV (API.md §13)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

__all__ = ["HEADER", "DumpIndex", "InstrumentRow", "encode_rows", "format_decimal"]

HEADER = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
    "instrument_type,segment,exchange"
)


class InstrumentRow(NamedTuple):
    """One line of the dump with wire types; ``expiry`` is ``yyyy-mm-dd`` or ``""``."""

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    last_price: float
    expiry: str
    strike: float
    tick_size: float
    lot_size: int
    instrument_type: str
    segment: str
    exchange: str


def format_decimal(value: float) -> str:
    """Return a float as the dump writes it: shortest repr with a decimal point (``0.0``, ``0.05``)."""
    text = repr(float(value))
    return text if ("." in text or "e" in text or "n" in text) else text + ".0"


def _text(value: str) -> str:
    # Names like "LARSEN & TOUBRO" are fine bare; a comma or quote needs CSV quoting.
    if "," in value or '"' in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def encode_rows(rows: Iterable[InstrumentRow]) -> bytes:
    """Return the CSV dump (header line first, ``\\n`` line ends) for ``rows``."""
    lines = [HEADER]
    for r in rows:
        lines.append(
            f"{r.instrument_token},{r.exchange_token},{_text(r.tradingsymbol)},{_text(r.name)},"
            f"{format_decimal(r.last_price)},{r.expiry},{format_decimal(r.strike)},"
            f"{format_decimal(r.tick_size)},{int(r.lot_size)},{r.instrument_type},{r.segment},{r.exchange}"
        )
    lines.append("")
    return "\n".join(lines).encode()


class DumpIndex:
    """A dump's bytes with vectorised indexes: row by ``EXCHANGE:SYMBOL`` and row by token.

    Built without a Python object per row, which is what makes it fast: numpy finds the line and comma
    positions, gathers the token, symbol and exchange bytes into fixed-width arrays, and sorts them. Lookups
    are binary searches. Other columns are read per row on demand (:meth:`fields`).

    Args:
        raw: the CSV dump, header included.

    Raises:
        ValueError: the bytes do not start with Kite's header.
    """

    def __init__(self, raw: bytes) -> None:
        header, _, _ = raw[:400].partition(b"\n")
        if header.rstrip(b"\r").decode("ascii", "replace") != HEADER:
            raise ValueError("not a Kite instruments dump: the header line differs")
        self.raw = raw
        buf = np.frombuffer(raw, dtype=np.uint8)
        newlines = np.flatnonzero(buf == 10)
        if len(newlines) == 0 or newlines[-1] != len(raw) - 1:
            newlines = np.append(newlines, len(raw))  # tolerate a missing final newline
        starts, ends = newlines[:-1] + 1, newlines[1:].copy()
        keep = ends > starts  # blank lines
        starts, ends = starts[keep], ends[keep]
        ends -= buf[np.maximum(ends - 1, 0)] == 13  # CRLF
        self.starts, self.ends = starts, ends
        commas = np.flatnonzero(buf == 44)
        if b'"' in raw or len(commas) != 11 * (len(starts) + 1):
            # Quoted fields or ragged rows: let the csv module split them; slower, never wrong.
            tokens, symbols, exchanges = self._slow_columns()
        else:
            grid = commas[11:].reshape(-1, 11)
            tokens = _ints(buf, starts, grid[:, 0])
            symbols = _gather(buf, grid[:, 1] + 1, grid[:, 2])
            exchanges = _gather(buf, grid[:, 10] + 1, ends)
        names, codes = np.unique(exchanges, return_inverse=True)
        self.exchanges: list[str] = [n.decode() for n in names.tolist()]
        self.exchange_code = codes.astype(np.uint8)
        self._symbols: np.ndarray | None = symbols
        self.tokens = tokens
        # One sortable key per row: a byte for the exchange, then the symbol.
        width = symbols.dtype.itemsize + 1
        keyed = np.zeros((len(symbols), width), dtype=np.uint8)
        keyed[:, 0] = self.exchange_code + 1
        keyed[:, 1:] = symbols.view(np.uint8).reshape(len(symbols), -1)
        keys = keyed.view(f"S{width}").ravel()
        self.key_order = np.argsort(keys, kind="stable")
        self.sorted_keys = keys[self.key_order]
        self.token_order = np.argsort(tokens, kind="stable")
        self.sorted_tokens = tokens[self.token_order]

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def symbols(self) -> np.ndarray:
        """Return each row's tradingsymbol as fixed-width bytes (derived from the sorted keys when loaded)."""
        if getattr(self, "_symbols", None) is None:
            width = self.sorted_keys.dtype.itemsize
            grid = self.sorted_keys.view(np.uint8).reshape(len(self.sorted_keys), width)[:, 1:]
            by_row = np.empty_like(grid)
            by_row[self.key_order] = grid
            self._symbols = np.ascontiguousarray(by_row).view(f"S{width - 1}").ravel()
        return self._symbols  # type: ignore[return-value]

    def key_of(self, row: int) -> str:
        """Return ``EXCHANGE:SYMBOL`` of ``row`` without reading the CSV."""
        return f"{self.exchanges[int(self.exchange_code[row])]}:{self.symbols[row].decode()}"

    def _slow_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = list(csv.reader(io.StringIO(self.raw.decode("utf-8", "replace"))))[1:]
        rows = [r for r in rows if r]
        tokens = np.array([int(r[0]) if r[0].isdigit() else -1 for r in rows], dtype=np.int64)
        symbols = np.array([r[2].encode() if len(r) > 2 else b"" for r in rows])
        exchanges = np.array([r[11].encode() if len(r) > 11 else b"" for r in rows])
        return tokens, symbols, exchanges

    def row_of_key(self, exchange: str, symbol: str) -> int:
        """Return the row of ``exchange``/``symbol`` (exact), or -1."""
        try:
            code = self.exchanges.index(exchange)
        except ValueError:
            return -1
        key = bytes((code + 1,)) + symbol.encode()
        keys = self.sorted_keys
        # The array method skips np.searchsorted's dispatch: about 1 µs instead of 2.
        i = int(keys.searchsorted(key))
        if i < len(keys) and keys[i] == key:
            return int(self.key_order[i])
        return -1

    def row_of_token(self, token: int) -> int:
        """Return the row of an instrument token, or -1."""
        tokens = self.sorted_tokens
        i = int(tokens.searchsorted(token))
        if i < len(tokens) and tokens[i] == token:
            return int(self.token_order[i])
        return -1

    def rows_of_symbol(self, symbol: str) -> list[int]:
        """Return the rows of ``symbol`` on every exchange."""
        return [r for code in range(len(self.exchanges)) if (r := self.row_of_key(self.exchanges[code], symbol)) >= 0]

    def line(self, row: int) -> str:
        """Return the CSV text of ``row``."""
        return self.raw[int(self.starts[row]) : int(self.ends[row])].decode("utf-8", "replace")

    def fields(self, row: int) -> list[str]:
        """Return the 12 text fields of ``row`` (CSV quoting honoured)."""
        return next(csv.reader([self.line(row)]))


def _gather(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the byte ranges [a, b) of ``buf`` as a fixed-width bytes array (NUL-padded)."""
    lengths = b - a
    width = max(int(lengths.max(initial=1)), 1)
    if len(buf) < width or int(a.max(initial=0)) + width > len(buf):
        buf = np.concatenate([buf, np.zeros(width, dtype=np.uint8)])
    # A window per possible start, as a view; picking rows copies only the bytes we need.
    windows = np.lib.stride_tricks.sliding_window_view(buf, width)
    grid = windows[a]
    grid[np.arange(width)[None, :] >= lengths[:, None]] = 0
    return grid.view(f"S{width}").ravel()


def _ints(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Parse the unsigned decimal integers in byte ranges [a, b) of ``buf``; -1 where not a number."""
    digits = _gather(buf, a, b)
    width = digits.dtype.itemsize
    grid = digits.view(np.uint8).reshape(len(digits), width)
    lengths = b - a
    value = np.zeros(len(digits), dtype=np.int64)
    bad = lengths <= 0
    for k in range(width):  # Horner's rule, one column at a time
        live = k < lengths
        d = grid[:, k].astype(np.int64) - 48
        bad |= live & ((d < 0) | (d > 9))
        value = np.where(live, value * 10 + d, value)
    return np.where(bad, -1, value)
