"""The instrument index's binary format from bytes: round trip, and refusal of truncated or foreign input."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from kitekit.instruments.index import FORMAT_VERSION, IndexFormatError, InstrumentIndex
from kitekit.wire.dump_columns import DumpColumns
from kitekit.wire.instruments_csv import HEADER

ROWS = [
    "256265,1001,NIFTY 50,NIFTY 50,0.0,,0.0,0.0,0,EQ,INDICES,NSE",
    "738561,2885,RELIANCE,RELIANCE INDUSTRIES,1500.5,,0.0,0.05,1,EQ,NSE,NSE",
    "12073986,47164,NIFTY26DEC24000CE,NIFTY,12.0,2026-12-29,24000.0,0.05,75,CE,NFO-OPT,NFO",
    "12074242,47165,NIFTY26DECFUT,NIFTY,24100.0,2026-12-29,0.0,0.1,75,FUT,NFO-FUT,NFO",
]


@pytest.fixture
def index() -> InstrumentIndex:
    cols = DumpColumns(("\n".join([HEADER, *ROWS]) + "\n").encode())
    built = InstrumentIndex.build(cols)
    built.add_fno(cols)
    return built


def test_an_index_read_back_from_its_bytes_answers_the_same_lookups(index: InstrumentIndex) -> None:
    again = InstrumentIndex.from_bytes(index.to_bytes())
    assert len(again) == 4
    assert again.row_of_key("NSE", "RELIANCE") == index.row_of_key("NSE", "RELIANCE") == 1
    assert again.row_of_token(12074242) == 3 and again.row_of_token(5) == -1
    assert again.key_of(2) == "NFO:NIFTY26DEC24000CE"
    assert again.fno is not None and index.fno is not None
    assert again.fno.strike.tolist() == index.fno.strike.tolist() == [0.0, 0.0, 24000.0, 0.0]
    assert again.fno.types == index.fno.types and again.fno.name_code_of("NIFTY") >= 0


def test_the_arrays_are_views_into_the_bytes_not_copies(index: InstrumentIndex) -> None:
    data = index.to_bytes()
    again = InstrumentIndex.from_bytes(data)
    assert again.tokens.base is not None and not again.tokens.flags.owndata


def test_an_index_without_its_fno_columns_cannot_be_saved() -> None:
    cols = DumpColumns(("\n".join([HEADER, *ROWS]) + "\n").encode())
    with pytest.raises(ValueError, match="add_fno"):
        InstrumentIndex.build(cols).to_bytes()


@pytest.mark.parametrize("keep", [0, 10, 25, 200, -1])
def test_truncated_bytes_are_refused_with_a_clear_error(index: InstrumentIndex, keep: int) -> None:
    data = index.to_bytes()
    with pytest.raises(IndexFormatError, match=r"truncated|at least|runs past"):
        InstrumentIndex.from_bytes(data[:keep])


def test_another_format_version_is_refused(index: InstrumentIndex) -> None:
    data = bytearray(index.to_bytes())
    struct.pack_into("<H", data, 16, FORMAT_VERSION + 1)
    with pytest.raises(IndexFormatError, match=f"format {FORMAT_VERSION + 1}"):
        InstrumentIndex.from_bytes(bytes(data))


def test_foreign_bytes_are_refused() -> None:
    with pytest.raises(IndexFormatError, match="magic"):
        InstrumentIndex.from_bytes(b"PK\x03\x04" + b"\0" * 64)


def test_a_header_that_disagrees_with_its_arrays_is_refused(index: InstrumentIndex) -> None:
    data = index.to_bytes()
    size = struct.unpack_from("<I", data, 18)[0]
    header = json.loads(data[22 : 22 + size])
    header["rows"] = 5
    head = json.dumps(header, separators=(",", ":")).encode().ljust(size)
    assert len(head) == size
    with pytest.raises(IndexFormatError, match="not \\(5,\\)"):
        InstrumentIndex.from_bytes(data[:22] + head + data[22 + size :])


def test_a_garbled_header_is_refused(index: InstrumentIndex) -> None:
    data = bytearray(index.to_bytes())
    data[22:30] = b"\xff" * 8
    with pytest.raises(IndexFormatError, match="unreadable index header"):
        InstrumentIndex.from_bytes(bytes(data))


def test_an_object_dtype_is_never_read_from_bytes(index: InstrumentIndex) -> None:
    data = index.to_bytes()
    size = struct.unpack_from("<I", data, 18)[0]
    text = data[22 : 22 + size].decode()
    forged = text.replace(np.dtype(np.int64).str, "|O", 1).ljust(size).encode()
    with pytest.raises(IndexFormatError):
        InstrumentIndex.from_bytes(data[:22] + forged + data[22 + size :])


def test_each_row_keeps_its_exchange_and_type_when_they_recur_out_of_order() -> None:
    # Codes are found from the first row of each run: values that come back after others, one longer than
    # a 64-bit word, and a column sorted neither way must each keep their own code.
    listed = [("NSE", "EQ"), ("NSE", "EQ"), ("NFO", "CE"), ("NFO", "PE"), ("NSE", "EQ"), ("BSE", "EQ")]
    listed += [("MCX", "FUT"), ("NFO", "CE"), ("NCDEX_LONG", "FUT"), ("BSE", "PE"), ("NSE", "EQ")]
    rows = [f"{i + 1},{i},SYM{i},N,0,,0,0.05,1,{kind},SEG,{exchange}" for i, (exchange, kind) in enumerate(listed)]
    cols = DumpColumns(("\n".join([HEADER, *rows]) + "\n").encode())
    index = InstrumentIndex.build(cols)
    fno = index.add_fno(cols)
    assert index.exchanges == sorted({e for e, _ in listed})
    assert list(fno.types) == sorted({k for _, k in listed})
    assert [index.exchange_of(r) for r in range(len(listed))] == [e for e, _ in listed]
    assert [fno.types[c] for c in fno.type_code.tolist()] == [k for _, k in listed]
    assert [index.row_of_key(e, f"SYM{r}") for r, (e, _) in enumerate(listed)] == list(range(len(listed)))
    assert index.row_of_key("NSE", "SYM5") == -1  # SYM5 is BSE's
