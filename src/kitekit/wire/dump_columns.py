"""The instruments dump split into typed columns for all rows at once, with no Python object per row."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kitekit.wire.instruments_csv import COLUMNS, HEADER, parse_expiry, parse_float, parse_int, split_fields

__all__ = ["DumpColumns"]

_COLUMN_AT = {name: i for i, name in enumerate(COLUMNS)}
_BOM = b"\xef\xbb\xbf"
_POW10 = 10.0 ** np.arange(23)
_POW10_INT = 10 ** np.arange(19, dtype=np.int64)
_LE64 = np.dtype("<u8")  # eight bytes as one word, first byte lowest, on any machine
_MAX_DIGITS = 15  # below 2**53: the integer and its float agree, so mantissa / 10**k rounds once, like float()


class DumpColumns:
    """The dump split into cells for all rows at once; typed columns decoded on demand, vectorised.

    numpy finds every newline and comma in one pass each. A row with exactly 11 commas and no quote (every
    row Kite writes) gets its cells from those positions with no Python object per row. Any other row (a
    quoted name holding a comma, a ragged or stray line) is split by :func:`split_fields`, one line at a
    time, so an odd row costs microseconds instead of sending the whole dump down a slow path. Typed columns
    follow :func:`parse_int`, :func:`parse_float` and :func:`parse_expiry` exactly: empty or malformed numbers
    read as 0, dates as NaT.

    Args:
        raw: the CSV dump, header line first (a UTF-8 BOM and CRLF line ends are tolerated).

    Raises:
        ValueError: the first line is not Kite's header.
    """

    def __init__(self, raw: bytes) -> None:
        body = _body_offset(raw)
        self._buf = buf = np.frombuffer(raw, dtype=np.uint8)
        if raw.endswith(b"\n") and raw.find(b'"', body) < 0 and raw.find(b"\r", body) < 0:
            # The usual dump: every line is 11 commas then a newline. One pass finds both; if the 12th
            # separator of each block is a newline and there are no other newlines, every row is regular.
            rest = buf[body:]
            newline = rest == 10
            separator = rest == 44
            np.logical_or(separator, newline, out=separator)
            found = np.flatnonzero(separator)
            found += body
            rows = int(np.count_nonzero(newline))
            if len(found) == 12 * rows:
                grid = found.reshape(rows, 12)
                if bool((buf[grid[:, 11]] == 10).all()):
                    starts = np.empty(rows, dtype=np.int64)
                    starts[:1] = body
                    starts[1:] = grid[:-1, 11] + 1
                    self._finish(raw, starts, grid[:, 11], grid[:, :11], np.ones(rows, dtype=bool), {})
                    return
        newlines = np.flatnonzero(buf[body:] == 10) + body
        starts = np.concatenate((np.array([body], dtype=np.int64), newlines + 1))
        ends = np.concatenate((newlines, np.array([len(raw)], dtype=np.int64)))
        ends -= (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)  # CRLF
        keep = ends > starts
        starts, ends = starts[keep], ends[keep]
        commas = np.flatnonzero(buf[body:] == 44) + body
        n = len(starts)
        if len(commas) == 11 * n and raw.find(b'"', body) < 0:
            # The usual dump: if each row's block of 11 commas lies inside that row, every row has exactly 11.
            seps = commas.reshape(n, 11)
            if bool(((seps[:, 0] >= starts) & (seps[:, 10] < ends)).all()):
                self._finish(raw, starts, ends, seps, np.ones(n, dtype=bool), {})
                return
        first = np.searchsorted(commas, starts)
        regular = np.searchsorted(commas, ends) - first == 11
        if raw.find(b'"', body) >= 0:
            quotes = np.flatnonzero(buf[body:] == 34) + body
            regular[np.searchsorted(starts, quotes, side="right") - 1] = False
        odd_rows = np.flatnonzero(~regular)
        blank = [int(r) for r in odd_rows if not raw[starts[r] : ends[r]].strip()]
        if blank:  # whitespace-only lines are not rows
            keep = np.ones(len(starts), dtype=bool)
            keep[blank] = False
            starts, ends, first, regular = starts[keep], ends[keep], first[keep], regular[keep]
            odd_rows = np.flatnonzero(~regular)
        odd = {int(r): split_fields(raw[starts[r] : ends[r]].decode("utf-8", "replace")) for r in odd_rows}
        seps = np.repeat((starts - 1)[:, None], 11, axis=1)
        live = np.flatnonzero(regular)
        seps[live] = commas[first[live][:, None] + np.arange(11)]
        self._finish(raw, starts, ends, seps, regular, odd)

    def _finish(
        self,
        raw: bytes,
        starts: np.ndarray,
        ends: np.ndarray,
        seps: np.ndarray,
        regular: np.ndarray,
        odd: dict[int, list[str]],
    ) -> None:
        self.raw = raw
        #: Rows split by :func:`split_fields` (quoted, ragged), with their fields.
        self.odd = odd
        self.starts, self.ends = starts, ends
        self._seps = seps
        self._regular = regular

    def __len__(self) -> int:
        return len(self.starts)

    def _cells(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Return each row's cell start offset and length for ``column`` (length 0 on odd rows)."""
        i = _COLUMN_AT[column]
        lo = self.starts if i == 0 else self._seps[:, i - 1] + 1
        hi = self._seps[:, i] if i < 11 else self.ends
        return lo, (hi - lo if not self.odd else np.where(self._regular, hi - lo, 0))

    def _odd_values(self, column: str) -> Iterable[tuple[int, str]]:
        i = _COLUMN_AT[column]
        return ((row, fields[i]) for row, fields in self.odd.items())

    def text(self, column: str) -> np.ndarray:
        """Return a text column as fixed-width bytes (``S<n>``, NUL-padded)."""
        lo, length = self._cells(column)
        out = _gather_cells(self._buf, lo, length, max(int(length.max(initial=0)), 1))
        if self.odd:
            odd = [(row, value.encode()) for row, value in self._odd_values(column)]
            width = max(len(v) for _, v in odd)
            if width > out.dtype.itemsize:
                out = out.astype(f"S{width}")
            for row, value in odd:
                out[row] = value
        return out

    def ints(self, column: str, default: int = 0) -> np.ndarray:
        """Return an integer column as int64 (see :func:`parse_int`)."""
        lo, length = self._cells(column)
        value, ok = _plain_ints(self._buf, lo, length)
        out = np.where(ok, value, default)
        retry = np.flatnonzero(~ok & (length > 0))
        if len(retry):  # signs, points ("1.0"), junk: the general decimal reader, then the scalar rules
            mantissa, frac, parsed = self._decimals(lo[retry], length[retry])
            whole = mantissa / _POW10[frac]
            parsed &= whole == np.floor(whole)
            out[retry[parsed]] = whole[parsed].astype(np.int64)
            for row in retry[~parsed].tolist():
                out[row] = _int64(parse_int(self._cell(lo, length, row), default), default)
        for row, text in self._odd_values(column):
            out[row] = _int64(parse_int(text, default), default)
        return out

    def floats(self, column: str, default: float = 0.0) -> np.ndarray:
        """Return a decimal column as float64 (see :func:`parse_float`)."""
        lo, length = self._cells(column)
        mantissa, frac, ok = self._decimals(lo, length)
        out = np.where(ok, mantissa / _POW10[frac], default)
        for row in self._strays(ok, length):
            out[row] = parse_float(self._cell(lo, length, row), default)
        for row, value in self._odd_values(column):
            out[row] = parse_float(value, default)
        return out

    def dates(self, column: str) -> np.ndarray:
        """Return a ``yyyy-mm-dd`` column as ``datetime64[D]``, NaT where empty or invalid."""
        lo, length = self._cells(column)
        grid = _gather_cells(self._buf, lo, np.minimum(length, 10), 10).view(np.uint8).reshape(len(lo), 10)
        d = grid.astype(np.int64) - 48
        digits = np.delete(d, (4, 7), axis=1)
        ok = (length == 10) & (grid[:, 4] == 45) & (grid[:, 7] == 45) & ((digits >= 0) & (digits <= 9)).all(axis=1)
        year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
        month = d[:, 5] * 10 + d[:, 6]
        day = d[:, 8] * 10 + d[:, 9]
        ok &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1)
        months = np.where(ok, (year - 1970) * 12 + month - 1, 0)
        first = months.astype("datetime64[M]").astype("datetime64[D]")
        days_in_month = ((months + 1).astype("datetime64[M]").astype("datetime64[D]") - first).astype(np.int64)
        ok &= day <= days_in_month
        out = first + np.where(ok, day - 1, 0).astype("timedelta64[D]")
        out[~ok] = np.datetime64("NaT")
        for row, value in self._odd_values(column):
            parsed = parse_expiry(value)
            out[row] = np.datetime64(parsed, "D") if parsed else np.datetime64("NaT")
        return out

    def _decimals(self, lo: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (signed mantissa as float64, digits after the point, parsed) for cells like ``-12.50``.

        Each cell is read right-aligned in an 8- or 16-byte window, so a character's place value depends only
        on its column: one matrix-vector product gives the digits' value, and the few per-row checks are
        done on the window's bytes viewed as 64-bit words.
        """
        width = 8 if int(length.max(initial=0)) <= 8 else 16
        fits = (length > 0) & (length <= _MAX_DIGITS)
        grid = _windows(self._buf, lo + length - width, width)
        pos = np.arange(width)
        lead = (width - np.minimum(length, width))[:, None]  # column of each cell's first character
        live = pos >= lead
        value = grid - np.uint8(48)  # wraps below '0', so one comparison tests for a digit
        digit = live & (value < 10)
        point = live & (grid == 46)
        minus = (pos == lead) & (grid == 45)
        bad = (live & ~(digit | point | minus)).view(np.uint64)
        dots = point.view(np.uint64)
        ok = fits & ~bad.any(axis=1) & digit.any(axis=1)
        if width == 8:
            ok &= (dots[:, 0] & (dots[:, 0] - np.uint64(1))) == 0  # at most one point
        else:
            one = np.uint64(1)
            ok &= ((dots[:, 0] & (dots[:, 0] - one)) == 0) & ((dots[:, 1] & (dots[:, 1] - one)) == 0)
            ok &= (dots[:, 0] == 0) | (dots[:, 1] == 0)
        has_point = dots.any(axis=1)
        frac = np.where(has_point, width - 1 - point.argmax(axis=1), 0)
        # With the point's column counted as a place, digits left of it weigh ten times too much.
        total = _place_values(np.where(digit, value, np.uint8(0)))
        scale = _POW10_INT[frac]
        right = total % scale
        mantissa = np.where(has_point, right + (total - right) // 10, total).astype(np.float64)
        return np.where(minus.any(axis=1), -mantissa, mantissa), frac, ok

    def _strays(self, ok: np.ndarray, length: np.ndarray) -> list[int]:
        """Return regular rows whose non-empty cell the vectorised rules could not read."""
        return [int(r) for r in np.flatnonzero(~ok & (length > 0) & self._regular)]

    def _cell(self, lo: np.ndarray, length: np.ndarray, row: int) -> str:
        start = int(lo[row])
        return self.raw[start : start + int(length[row])].decode("utf-8", "replace")


def _int64(value: int, default: int) -> int:
    """Return ``value`` if an int64 holds it, else ``default`` (no Kite number is that large)."""
    return value if -(2**63) <= value < 2**63 else default


def _body_offset(raw: bytes) -> int:
    """Check the header line and return where the first row starts."""
    skip = len(_BOM) if raw.startswith(_BOM) else 0
    end = raw.find(b"\n", skip)
    header = raw[skip : len(raw) if end < 0 else end].rstrip(b"\r")
    if header != HEADER.encode():
        shown = header[:80].decode("utf-8", "replace")
        raise ValueError(f"not a Kite instruments dump: the first line is {shown!r}, not the 12-column header")
    return len(raw) if end < 0 else end + 1


def _plain_ints(buf: np.ndarray, lo: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (value, parsed) for cells of plain decimal digits: right-aligned windows and one product."""
    width = 8 if int(length.max(initial=0)) <= 8 else 16
    grid = _windows(buf, lo + length - width, width)
    grid -= np.uint8(48)  # wraps below '0': one comparison finds junk
    grid *= _live(length, width, right=True)
    digits = grid
    junk = (digits >= 10).view(np.uint64)
    ok = (length > 0) & (length <= _MAX_DIGITS) & ((junk[:, 0] if width == 8 else junk[:, 0] | junk[:, 1]) == 0)
    return _place_values(digits), ok


def _place_values(digits: np.ndarray) -> np.ndarray:
    """Return the number each row of an (n, 8|16) digit grid spells (digits 0-9, 0 where there is none), in int64.

    Eight digits at a time in one 64-bit word (little-endian: the first, most significant digit in the low
    byte), merged pairwise by three multiply-and-shift steps (the SWAR method of simdjson's
    ``parse_eight_digits_unrolled``): each step works on whole words, no temporary wider than the grid, no
    rounding. Lanes never carry into each other: a pair is at most 99 in 8 bits, four digits 9,999 in 16,
    eight 99,999,999 in 32.
    """
    words = np.ascontiguousarray(digits).view(_LE64)
    words = words * np.uint64(10) + (words >> np.uint64(8))
    words &= np.uint64(0x00FF00FF00FF00FF)
    words = words * np.uint64(100) + (words >> np.uint64(16))
    words &= np.uint64(0x0000FFFF0000FFFF)
    words = words * np.uint64(10_000) + (words >> np.uint64(32))
    words &= np.uint64(0xFFFFFFFF)
    wide = words.astype(np.int64)
    if wide.shape[1] == 1:
        return wide[:, 0]
    return wide[:, 0] * 100_000_000 + wide[:, 1]


def _live(length: np.ndarray, width: int, *, right: bool) -> np.ndarray:
    """Return an (n, width) uint8 grid: 1 on the bytes of each cell of ``length`` in its window, 0 elsewhere.

    ``right``: the cell ends at the window's end (numbers); else it starts at the window's start (text).
    Wider windows (a stray line's long cell) compare the whole grid, as bytes where the width allows.
    """
    cut = np.clip(length, 0, width)
    if width <= 64:
        # Every row is one of width + 1 masks: pick each row's from a small table. take() copies rows
        # without the advanced-indexing machinery, ten times faster than comparing the whole grid.
        lengths = np.arange(width + 1)[:, None]
        places = np.arange(width)[None, :]
        table = (places >= width - lengths) if right else (places < lengths)
        return table.view(np.uint8).take(cut, axis=0)
    small = np.uint8 if width <= 255 else np.int64  # a stray line can make a text cell longer than 255 bytes
    column = np.arange(width, dtype=small)[None, :]
    if right:
        return (column >= (small(width) - cut.astype(small))[:, None]).view(np.uint8)
    return (column < cut.astype(small)[:, None]).view(np.uint8)


def _windows(buf: np.ndarray, lo: np.ndarray, width: int) -> np.ndarray:
    """Return ``buf[lo : lo + width]`` for every ``lo`` as an (n, width) uint8 grid; bytes outside ``buf`` are 0."""
    if len(buf) < width:
        at = lo[:, None] + np.arange(width)
        inside = (at >= 0) & (at < len(buf))
        return np.where(inside, buf[np.clip(at, 0, max(len(buf) - 1, 0))] if len(buf) else 0, 0).astype(np.uint8)
    clipped = np.clip(lo, 0, len(buf) - width)
    # One window per possible start, as a view; picking rows copies only the bytes asked for.
    grid = np.lib.stride_tricks.sliding_window_view(buf, width)[clipped]
    edge = np.flatnonzero(clipped != lo)
    if len(edge):  # windows running off either end of the buffer: byte by byte
        at = lo[edge][:, None] + np.arange(width)
        inside = (at >= 0) & (at < len(buf))
        grid[edge] = np.where(inside, buf[np.clip(at, 0, len(buf) - 1)], 0)
    return grid


def _gather_cells(buf: np.ndarray, lo: np.ndarray, length: np.ndarray, width: int) -> np.ndarray:
    """Return byte ranges ``[lo, lo + length)`` of ``buf`` as a fixed-width ``S<width>`` array (NUL-padded)."""
    grid = _windows(buf, lo, width)
    if int(length.min(initial=width)) < width:  # a column of equal widths (exchange codes) needs no padding
        grid *= _live(length, width, right=False)
    return grid.view(f"S{width}").ravel()
