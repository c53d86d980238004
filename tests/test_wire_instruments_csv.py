"""The instruments CSV codec from bytes: encoding rows, the vectorised decoder, odd and malformed lines."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.wire.dump_columns import DumpColumns
from kitekit.wire.instruments_csv import (
    HEADER,
    Instrument,
    encode_fields,
    encode_rows,
    format_decimal,
    parse_float,
    parse_int,
    split_fields,
)


@pytest.fixture(scope="module")
def dump_bytes(sim_market: Market) -> bytes:
    """The simulator's full dump for the test Friday, as it serves it."""
    raw, _ = sim_market.universe(SIM_NOW).dump()
    return raw


def test_rows_encode_with_the_exact_header_and_read_back_as_the_same_instruments() -> None:
    rows = [
        Instrument(738561, 2885, "RELIANCE", "RELIANCE INDUSTRIES", 1500.5, None, 0.0, 0.05, 1, "EQ", "NSE", "NSE"),
        Instrument(
            12073986,
            47164,
            "NIFTY26DEC24000CE",
            "NIFTY",
            12.0,
            date(2026, 12, 29),
            24000.0,
            0.05,
            75,
            "CE",
            "NFO-OPT",
            "NFO",
        ),
        Instrument(9, 1, 'A, "B"', "comma, name", 0.0, None, 0.0, 0.0025, 1, "FUT", "CDS-FUT", "CDS"),
    ]
    raw = encode_rows(rows)
    assert raw.split(b"\n")[0].decode() == HEADER
    assert b"1500.5,,0.0,0.05,1,EQ" in raw  # numbers always written, an empty expiry left empty
    lines = raw.decode().splitlines()[1:]
    assert [Instrument.from_fields(split_fields(line)) for line in lines] == rows
    assert rows[1].key == "NFO:NIFTY26DEC24000CE"


def test_rows_given_as_fields_are_written_by_the_cell_rules_exactly() -> None:
    # encode_fields inlines format_decimal and the quoting of text cells for speed: it must write what they do.
    rows = [
        (1, 1, "A", "Alpha", 0, date(2026, 12, 31), 24000, 5, 25.0, "CE", "NFO-OPT", "NFO"),  # ints in float cells
        (2, 2, 'B "b"', "Beta, Inc", -0.0, None, 1e20, 0.0025, 1, "EQ", "NSE", "NSE"),
        (3, 3, "C", "Gamma", float("inf"), date(2026, 12, 31), -2.5, 1e-7, 7, "FUT", "MCX-FUT", "MCX"),
    ]

    def cell(text: str) -> str:
        return '"' + text.replace('"', '""') + '"' if "," in text or '"' in text else text

    expected = [HEADER] + [
        f"{r[0]},{r[1]},{cell(r[2])},{cell(r[3])},{format_decimal(r[4])},{r[5].isoformat() if r[5] else ''},"
        f"{format_decimal(r[6])},{format_decimal(r[7])},{int(r[8])},{r[9]},{r[10]},{r[11]}"
        for r in rows
    ]
    raw = encode_fields(rows)  # type: ignore[arg-type]  # numbers of other types, as callers may pass
    assert raw.decode() == "\n".join([*expected, ""])
    assert b",-0.0,,1e+20,0.0025,1,EQ" in raw and b",24000.0,5.0,25,CE" in raw
    assert encode_rows(Instrument(*r) for r in rows) == raw  # type: ignore[arg-type]


def test_the_decoder_handles_quotes_crlf_bom_blank_and_ragged_lines() -> None:
    body = [
        "1,1,A,Alpha,1.5,2026-12-01,100.25,0.05,25,CE,NFO-OPT,NFO",
        '2,2,B,"Beta, the ""second""",-2.75,,0,0.05,1,EQ,NSE,NSE',
        "3,3,C,Gamma,1e3,2026-02-30,,x,7.0,EQ,NSE,NSE",
        "   ",
        "4,4,D,LARSEN, TOUBRO,0,,0,0.05,1,EQ,NSE,NSE",  # an unquoted comma: the name takes the surplus
        "5,5,E",  # a short line is padded
        "6,99999999999999999999999,F,Phi,99999999999999999999,,0,0.05,1,EQ,NSE,NSE",  # too long for the fast path
    ]
    raw = ("\ufeff" + HEADER + "\r\n" + "\r\n".join(body) + "\r\n\r\n").encode()
    cols = DumpColumns(raw)
    assert len(cols) == 6
    assert cols.ints("instrument_token").tolist() == [1, 2, 3, 4, 5, 6]
    assert cols.ints("exchange_token").tolist() == [1, 2, 3, 4, 5, 0]  # beyond int64: no Kite number
    assert cols.text("name").tolist() == [b"Alpha", b'Beta, the "second"', b"Gamma", b"LARSEN, TOUBRO", b"", b"Phi"]
    assert cols.floats("last_price").tolist() == [1.5, -2.75, 1000.0, 0.0, 0.0, 1e20]
    assert cols.floats("strike").tolist() == [100.25, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert cols.floats("tick_size").tolist() == [0.05, 0.05, 0.0, 0.05, 0.0, 0.05]
    assert cols.ints("lot_size").tolist() == [25, 1, 7, 1, 0, 1]
    assert [str(d) for d in cols.dates("expiry")] == ["2026-12-01", "NaT", "NaT", "NaT", "NaT", "NaT"]
    assert cols.text("exchange").tolist() == [b"NFO", b"NSE", b"NSE", b"NSE", b"", b"NSE"]
    no_final_newline = (HEADER + "\n" + body[0]).encode()
    assert DumpColumns(no_final_newline).text("exchange").tolist() == [b"NFO"]


def _numbers_dump(cells: list[str]) -> bytes:
    """A dump with each cell in both the ``strike`` (decimal) and ``lot_size`` (integer) columns."""
    rows = [f"{i + 1},1,S{i},N,0.0,,{cell},0.05,{cell},EQ,NSE,NSE" for i, cell in enumerate(cells)]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@pytest.mark.parametrize("widest", [8, 15], ids=["8-byte-windows", "16-byte-windows"])
def test_numbers_of_every_length_read_as_the_scalar_rules_read_them(widest: int) -> None:
    # Up to 8 characters a column is read in 8-byte windows, else in 16: every length, sign and point
    # position in both, all nines (the largest value of each length), and cells that are not numbers.
    cells: list[str] = []
    for n in range(1, widest + 1):
        for digits in ("9" * n, "1" + "0" * (n - 1), "123456789012345"[:n], "908070605040302"[:n]):
            cells += [digits, "-" + digits, *(digits[:k] + "." + digits[k:] for k in range(len(digits) + 1))]
    cells = [c for c in cells if len(c) <= widest]
    cells += ["", "-", ".", "1-2", "1..2", "x", "1e3", " 7"]
    cols = DumpColumns(_numbers_dump(cells))
    assert cols.floats("strike").tolist() == [parse_float(c) for c in cells]
    assert cols.ints("lot_size").tolist() == [parse_int(c) for c in cells]


@pytest.mark.parametrize("widest", [64, 65, 300], ids=["table-of-masks", "byte-compare", "wide-compare"])
def test_text_cells_of_every_length_read_exactly(widest: int) -> None:
    # Each width of the text column takes its own way to blank the bytes beyond a cell: a table of masks
    # up to 64 bytes, a comparison of bytes up to 255, of int64 beyond (a stray line's long cell).
    names = ["".join(chr(65 + (i + k) % 26) for k in range(n)) for i, n in enumerate(range(widest + 1))]
    rows = [f"{i + 1},1,S{i},{name},0.0,,0,0.05,1,EQ,NSE,NSE" for i, name in enumerate(names)]
    cols = DumpColumns(("\n".join([HEADER, *rows]) + "\n").encode())
    assert cols.text("name").tolist() == [name.encode() for name in names]


def test_one_quoted_row_does_not_change_how_the_others_read(dump_bytes: bytes) -> None:
    head = b"\n".join(dump_bytes.split(b"\n")[:2001]) + b"\n"
    quoted = head + b'9999,39,"Q,Q",Q,0,,0,0.05,1,EQ,NSE,NSE\n'
    plain, mixed = DumpColumns(head), DumpColumns(quoted)
    for name, read in (("tradingsymbol", "text"), ("strike", "floats"), ("expiry", "dates"), ("lot_size", "ints")):
        assert getattr(mixed, read)(name)[:-1].tolist() == getattr(plain, read)(name).tolist()
    assert mixed.text("tradingsymbol")[-1] == b"Q,Q"


def test_split_fields_matches_the_csv_module_on_kite_lines(dump_bytes: bytes) -> None:
    text = dump_bytes.decode()
    for line, parsed in zip(text.splitlines()[:500], csv.reader(io.StringIO(text)), strict=False):
        assert split_fields(line) == parsed
