"""The DuckDB candle store on its own: coverage, replacing windows, types, series, damage, locks, exports."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from kitekit.clock import IST
from kitekit.errors import CandleStoreError
from kitekit.history import CandleStore, SeriesKey, write_candles
from kitekit.wire.candles import CANDLE_COLUMNS, parse_candles
from kitekit.wire.envelope import success_body
from kitekit.wire.history import Interval

OPEN = datetime(2026, 11, 27, 9, 15, tzinfo=IST)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
RELIANCE = SeriesKey("NSE", "RELIANCE", Interval.MINUTE)


def candles(first: int, count: int, price: float = 100.0, oi: bool = False) -> pd.DataFrame:
    """Minute candles from ``OPEN + first`` minutes, as the parser returns them."""
    rows = []
    for m in range(first, first + count):
        stamp = (OPEN + m * MINUTE).strftime("%Y-%m-%dT%H:%M:%S%z")
        rows.append(
            [stamp, price + m, price + m + 1, price + m - 1, price + m + 0.5, 1000 + m, *([50 + m] if oi else [])]
        )
    return parse_candles(json.dumps(success_body({"candles": rows})).encode())


@pytest.fixture
def store(tmp_path: Path) -> CandleStore:
    return CandleStore(tmp_path / "data" / "candles.duckdb", busy_timeout=0.2)


def minutes(a: int, b: int) -> tuple[datetime, datetime]:
    return OPEN + a * MINUTE, OPEN + b * MINUTE


def test_a_fresh_store_is_missing_the_whole_range(store: CandleStore) -> None:
    assert store.missing(RELIANCE, *minutes(0, 30)) == [minutes(0, 30)]
    assert store.coverage(RELIANCE) == []
    assert len(store.read(RELIANCE)) == 0


def test_a_written_window_is_covered_and_reads_back_as_the_parser_made_it(store: CandleStore) -> None:
    frame = candles(0, 30)
    store.write(RELIANCE, 738561, minutes(0, 29), frame)
    assert store.missing(RELIANCE, *minutes(0, 29)) == []
    assert store.coverage(RELIANCE) == [minutes(0, 29)]
    pd.testing.assert_frame_equal(store.read(RELIANCE, *minutes(0, 29)), frame)
    pd.testing.assert_frame_equal(store.read(RELIANCE, *minutes(10, 12)), frame.iloc[10:13])


def test_only_the_uncovered_parts_of_a_range_are_missing(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(10, 19), candles(10, 10))
    store.write(RELIANCE, 738561, minutes(30, 39), candles(30, 10))
    assert store.missing(RELIANCE, *minutes(0, 50)) == [
        (OPEN, OPEN + 10 * MINUTE - SECOND),
        (OPEN + 19 * MINUTE + SECOND, OPEN + 30 * MINUTE - SECOND),
        (OPEN + 39 * MINUTE + SECOND, OPEN + 50 * MINUTE),
    ]
    assert store.missing(RELIANCE, *minutes(12, 15)) == []


def test_windows_one_second_apart_merge_into_one_span_whatever_order_they_land_in(store: CandleStore) -> None:
    third = (OPEN + 20 * MINUTE + SECOND, OPEN + 30 * MINUTE)
    second = (OPEN + 10 * MINUTE + SECOND, OPEN + 20 * MINUTE)
    store.write(RELIANCE, 738561, third, candles(21, 10))
    store.write(RELIANCE, 738561, minutes(0, 10), candles(0, 11))
    assert len(store.coverage(RELIANCE)) == 2  # a hole where the second window belongs
    store.write(RELIANCE, 738561, second, candles(11, 10))
    assert store.coverage(RELIANCE) == [minutes(0, 30)]
    assert store.read(RELIANCE)["volume"].tolist() == list(range(1000, 1031))


def test_candles_after_complete_until_are_neither_stored_nor_covered(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 30), candles(0, 20), complete_until=OPEN + 17 * MINUTE)
    assert store.coverage(RELIANCE) == [minutes(0, 17)]
    assert store.missing(RELIANCE, *minutes(0, 30)) == [(OPEN + 17 * MINUTE + SECOND, OPEN + 30 * MINUTE)]
    pd.testing.assert_frame_equal(store.read(RELIANCE), candles(0, 18))  # the forming ones are fetched again


def test_a_window_written_again_replaces_its_candles_and_never_duplicates_them(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 30), candles(0, 20), complete_until=OPEN + 18 * MINUTE)
    store.write(RELIANCE, 738561, (OPEN + 18 * MINUTE + SECOND, OPEN + 30 * MINUTE), candles(19, 11, price=200.0))
    got = store.read(RELIANCE)
    assert got.index.is_unique and len(got) == 30
    assert got["open"].iloc[18] == 118.0 and got["open"].iloc[19] == 219.0  # the forming 19th was superseded


def test_a_window_written_again_drops_the_candles_it_had_stored_that_now_count_as_forming(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 30), candles(0, 20))  # a clock that ran ahead: all taken as closed
    store.write(RELIANCE, 738561, minutes(10, 30), candles(10, 10), complete_until=OPEN + 15 * MINUTE)
    assert store.read(RELIANCE).index.tolist() == [OPEN + m * MINUTE for m in range(16)]
    assert store.coverage(RELIANCE) == [minutes(0, 15)]


def test_rows_outside_the_window_asked_for_are_not_stored(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(5, 9), candles(0, 20))
    assert store.read(RELIANCE).index.tolist() == [OPEN + m * MINUTE for m in range(5, 10)]


def test_types_are_those_of_the_parser_and_oi_comes_only_when_asked(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 9), candles(0, 10, oi=True))
    plain, with_oi = store.read(RELIANCE), store.read(RELIANCE, oi=True)
    assert list(plain.columns) == list(CANDLE_COLUMNS)
    assert with_oi.dtypes.to_dict() == {
        **dict.fromkeys(CANDLE_COLUMNS[:4], np.float64),
        "volume": np.int64,
        "oi": np.int64,
    }
    assert str(with_oi.index.dtype) == "datetime64[us, Asia/Kolkata]" and with_oi.index.name == "date"
    assert with_oi["oi"].tolist() == list(range(50, 60))


def test_series_are_kept_apart_by_symbol_interval_and_continuity(store: CandleStore) -> None:
    keys = [
        RELIANCE,
        SeriesKey("BSE", "RELIANCE", Interval.MINUTE),
        SeriesKey("NSE", "RELIANCE", Interval.MINUTE_5),
        SeriesKey("NFO", "NIFTY26DECFUT", Interval.DAY, continuous=True),
        SeriesKey("NFO", "NIFTY26DECFUT", Interval.DAY),
    ]
    for n, key in enumerate(keys):
        store.write(key, 100 + n, minutes(0, n), candles(0, n + 1))
    stored = [(info.series, info.instrument_token, info.candles) for info in store.series()]
    assert sorted(stored) == sorted((key, 100 + n, n + 1) for n, key in enumerate(keys))
    assert store.drop(keys[2]) and not store.drop(keys[2])
    assert store.missing(keys[2], *minutes(0, 2)) == [minutes(0, 2)]
    assert len(store.read(RELIANCE)) == 1


def test_the_store_file_and_its_folder_are_private(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 1), candles(0, 2))
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.path.parent.stat().st_mode & 0o777 == 0o700


def test_a_damaged_file_is_set_aside_and_a_fresh_store_started(
    store: CandleStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"not a database at all " * 500)
    with caplog.at_level(logging.WARNING, "kitekit.history"):
        assert store.missing(RELIANCE, *minutes(0, 1)) == [minutes(0, 1)]
    assert "damaged" in caplog.text
    [aside] = store.path.parent.glob("candles.duckdb.damaged-*")
    assert aside.read_bytes().startswith(b"not a database")
    store.write(RELIANCE, 738561, minutes(0, 1), candles(0, 2))
    assert len(store.read(RELIANCE)) == 2


def test_a_store_of_a_newer_format_is_refused_saying_what_to_do(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 1), candles(0, 2))
    con = duckdb.connect(str(store.path))
    con.execute("UPDATE meta SET value = '99' WHERE name = 'schema'")
    con.close()
    with pytest.raises(CandleStoreError, match=r"format 99.*upgrade kitekit"):
        store.read(RELIANCE)


def test_a_database_error_leaves_the_store_as_a_candle_store_error(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 1), candles(0, 2))
    con = duckdb.connect(str(store.path))
    con.execute("DROP TABLE coverage")
    con.close()
    with pytest.raises(CandleStoreError, match=r"candle store .* failed: .*coverage") as err:
        store.missing(RELIANCE, *minutes(0, 1))
    assert isinstance(err.value.__cause__, duckdb.Error)


def test_a_store_held_by_another_process_is_waited_for_then_named(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 1), candles(0, 2))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(store.path)!r}); print('held', flush=True); input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(CandleStoreError, match="in use by another process"):
            store.read(RELIANCE)
    finally:
        holder.communicate("done\n", timeout=30)
    assert len(store.read(RELIANCE)) == 2


def test_a_process_killed_mid_write_loses_only_the_write_in_progress(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 9), candles(0, 10))
    script = (
        "import os, sys, duckdb\n"
        "c = duckdb.connect(sys.argv[1])\n"
        "c.execute('BEGIN TRANSACTION')\n"
        "c.execute('DELETE FROM coverage')\n"
        "c.execute('INSERT INTO candles SELECT series, ts + 600000000, 1, 1, 1, 1, 1, NULL FROM candles')\n"
        "os._exit(9)  # killed mid-transaction: no commit, no close\n"
    )
    assert subprocess.run([sys.executable, "-c", script, str(store.path)], check=False).returncode == 9
    assert store.coverage(RELIANCE) == [minutes(0, 9)]
    pd.testing.assert_frame_equal(store.read(RELIANCE), candles(0, 10))


def test_a_series_exports_to_csv_and_parquet_with_its_values(store: CandleStore, tmp_path: Path) -> None:
    store.write(RELIANCE, 738561, minutes(0, 9), candles(0, 10, oi=True))
    original = store.read(RELIANCE, oi=True)
    csv = store.export(RELIANCE, tmp_path / "out" / "reliance.csv")
    back = pd.read_csv(csv, parse_dates=["date"])
    assert back.columns.tolist() == ["date", *CANDLE_COLUMNS, "oi"]
    assert back["date"].iloc[0] == pd.Timestamp("2026-11-27 09:15", tz=IST)
    assert back["close"].tolist() == original["close"].tolist()
    parquet = store.export(RELIANCE, tmp_path / "out" / "reliance.parquet", OPEN, OPEN + 4 * MINUTE)
    got = (
        duckdb.connect().execute(f"SELECT epoch_us(date), close, volume, oi FROM read_parquet('{parquet}')").fetchall()  # noqa: S608
    )
    assert [row[0] for row in got] == [int(t.timestamp()) * 1_000_000 for t in original.index[:5]]
    assert [row[1:] for row in got] == list(
        zip(original["close"][:5], original["volume"][:5], original["oi"][:5], strict=True)
    )


def test_an_export_refuses_an_unknown_suffix_and_a_directory(store: CandleStore, tmp_path: Path) -> None:
    frame = candles(0, 3)
    with pytest.raises(ValueError, match=r"neither \.csv nor \.parquet"):
        write_candles(frame, tmp_path / "candles.xlsx")
    (tmp_path / "taken.csv").mkdir()
    with pytest.raises(IsADirectoryError):
        write_candles(frame, tmp_path / "taken.csv")


def test_a_new_version_is_invisible_until_committed_then_replaces_the_series_whole(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 29), candles(0, 30))
    version = store.new_version(RELIANCE, 738561)
    version.write(minutes(0, 19), candles(0, 20, price=50.0))
    version.write((OPEN + 19 * MINUTE + SECOND, OPEN + 40 * MINUTE), candles(20, 21, price=50.0))
    pd.testing.assert_frame_equal(store.read(RELIANCE), candles(0, 30))  # readers see the stored series
    assert [info.candles for info in store.series()] == [30]
    assert version.commit(required=store.coverage(RELIANCE)) == (30, 41)
    pd.testing.assert_frame_equal(store.read(RELIANCE), candles(0, 41, price=50.0))
    assert store.coverage(RELIANCE) == [minutes(0, 40)]


def test_a_new_version_missing_part_of_the_stored_range_is_refused_and_the_series_kept(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 29), candles(0, 30))
    version = store.new_version(RELIANCE, 738561)
    version.write(minutes(0, 9), candles(0, 10, price=50.0))
    version.write(minutes(20, 29), candles(20, 10, price=50.0))  # a hole where 10 to 19 belong
    with pytest.raises(CandleStoreError, match="does not cover"):
        version.commit(required=store.coverage(RELIANCE))
    pd.testing.assert_frame_equal(store.read(RELIANCE), candles(0, 30))
    version.discard()
    assert _rows_of_versions(store) == 0


def test_a_version_left_by_a_crash_is_removed_by_the_next_and_never_read(store: CandleStore) -> None:
    store.write(RELIANCE, 738561, minutes(0, 9), candles(0, 10))
    left = store.new_version(RELIANCE, 738561)
    left.write(minutes(0, 9), candles(0, 10, price=50.0))  # then the process dies: nothing commits or discards
    other = SeriesKey("NSE", "INFY", Interval.MINUTE)
    store.new_version(other, 408065).write(minutes(0, 4), candles(0, 5))  # another series' build in progress
    pd.testing.assert_frame_equal(store.read(RELIANCE), candles(0, 10))
    assert _rows_of_versions(store) == 15
    renewed = store.new_version(RELIANCE, 738561)
    assert _rows_of_versions(store) == 5  # the crashed one's rows went; the other series' build is untouched
    with pytest.raises(CandleStoreError, match="Another run began a new version"):
        left.commit()
    renewed.write(minutes(0, 9), candles(0, 10, price=70.0))
    assert renewed.commit() == (10, 10) and store.read(RELIANCE)["open"].iloc[0] == 70.0


def test_a_new_version_of_a_series_not_stored_yet_creates_it(store: CandleStore) -> None:
    version = store.new_version(RELIANCE, 738561)
    version.write(minutes(0, 9), candles(0, 10))
    assert store.series() == [] and version.commit() == (0, 10)
    assert [(info.series, info.candles) for info in store.series()] == [(RELIANCE, 10)]


def _rows_of_versions(store: CandleStore) -> int:
    con = duckdb.connect(str(store.path))
    try:
        row = con.execute("SELECT count(*) FROM candles WHERE series < 0").fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])
