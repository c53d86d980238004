"""Candle answers parsed column-wise: equal to the official SDK's parse of the same bytes, errors and all."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.clock import IST
from kitekit.history.windows import split_windows
from kitekit.sim.server import SimServer
from kitekit.wire import candles as codec
from kitekit.wire.candles import CANDLE_COLUMNS, empty_candles, merge_candles, parse_candles
from kitekit.wire.envelope import TOO_MANY_REQUESTS, ErrorType, error_body, success_body
from kitekit.wire.formats import format_timestamp
from kitekit.wire.history import Interval

pytestmark = pytest.mark.usefixtures("unlimited")

RELIANCE = 738561
FRIDAY = datetime(2026, 11, 27, tzinfo=IST)


class Canned(requests.adapters.BaseAdapter):
    """Answers every request with the same status and body, so the SDK parses bytes we chose."""

    def __init__(self, body: bytes, status: int) -> None:
        super().__init__()
        self.body, self.status = body, status

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = self.status
        response.headers["content-type"] = "application/json"
        response.raw = io.BytesIO(self.body)
        response.request, response.url = request, request.url or ""
        return response

    def close(self) -> None:
        pass


def sdk_historical(body: bytes, status: int = 200) -> list[dict[str, Any]]:
    """Return what the official SDK's ``historical_data()`` makes of ``body`` (or raise what it raises)."""
    kite = KiteConnect("key", access_token="token", root="http://sdk.invalid")
    session = requests.Session()
    session.mount("http://", Canned(body, status))
    kite.reqsession = session
    records: list[dict[str, Any]] = kite.historical_data(RELIANCE, "2026-11-27", "2026-11-27", "minute")
    return records


def sdk_frame(body: bytes) -> pd.DataFrame:
    """The SDK's parse plus ``pd.DataFrame``, indexed by date and in IST so it compares with ours."""
    frame = pd.DataFrame(sdk_historical(body)).set_index("date")
    # utc=True: rows in several offsets leave the SDK's column as objects.
    frame.index = pd.to_datetime(frame.index, utc=True).tz_convert(IST).as_unit("us").rename("date")
    return frame


def fetch(sim: SimServer, sim_kite: KiteConnect, interval: str, start: datetime, end: datetime, **flags: int) -> bytes:
    """Return the simulator's raw answer to one historical request."""
    params: dict[str, str | int] = {"from": format_timestamp(start), "to": format_timestamp(end), "interval": interval}
    r = requests.get(
        f"{sim.url}/instruments/historical/{RELIANCE}/{interval}",
        params={**params, **flags},
        headers={"Authorization": f"token {sim_kite.api_key}:{sim_kite.access_token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.content


def body(candles: list[Any]) -> bytes:
    return json.dumps(success_body({"candles": candles})).encode()


def raises_like_sdk(raw: bytes, status: int) -> tuple[kex.KiteException, kex.KiteException]:
    """Return (ours, the SDK's) exceptions for the same answer."""
    with pytest.raises(kex.KiteException) as sdk:
        sdk_historical(raw, status)
    with pytest.raises(kex.KiteException) as ours:
        parse_candles(raw, status=status)
    return ours.value, sdk.value


# -- equality with the SDK ---------------------------------------------------------------------------------------


def test_a_minute_window_from_the_simulator_equals_the_sdks_parse(sim: SimServer, sim_kite: KiteConnect) -> None:
    raw = fetch(sim, sim_kite, "minute", FRIDAY - timedelta(days=10), FRIDAY + timedelta(hours=15))
    ours = parse_candles(raw)
    assert len(ours) > 2000
    pd.testing.assert_frame_equal(ours, sdk_frame(raw))
    assert list(ours.columns) == list(CANDLE_COLUMNS)
    assert str(ours.index.dtype) == "datetime64[us, Asia/Kolkata]" and ours.index.name == "date"
    assert ours.dtypes.to_dict() == {**dict.fromkeys(CANDLE_COLUMNS[:4], np.float64), "volume": np.int64}


def test_rows_with_oi_give_an_oi_column_equal_to_the_sdks(sim: SimServer, sim_kite: KiteConnect) -> None:
    raw = fetch(sim, sim_kite, "5minute", FRIDAY - timedelta(days=5), FRIDAY + timedelta(hours=15), oi=1)
    ours = parse_candles(raw)
    assert list(ours.columns) == [*CANDLE_COLUMNS, "oi"] and ours["oi"].dtype == np.int64
    pd.testing.assert_frame_equal(ours, sdk_frame(raw))


def test_day_candles_stay_on_their_ist_date_at_midnight(sim: SimServer, sim_kite: KiteConnect) -> None:
    raw = fetch(sim, sim_kite, "day", FRIDAY - timedelta(days=30), FRIDAY)
    ours = parse_candles(raw)
    pd.testing.assert_frame_equal(ours, sdk_frame(raw))
    assert ours.index[-1] == pd.Timestamp("2026-11-27 00:00", tz=IST)
    index = pd.DatetimeIndex(ours.index)
    assert (index == index.normalize()).all()  # midnight in IST, not 18:30 of the day before
    assert ours.index[-1].tz_convert("UTC") == pd.Timestamp("2026-11-26 18:30", tz="UTC")
    assert ours.index[-1].date() == FRIDAY.date()


def test_whole_number_prices_read_as_floats_with_the_sdks_values() -> None:
    raw = body([["2024-03-15T09:15:00+0530", 2450, 2452.5, 2449, 2451, 1200]])
    ours = parse_candles(raw)
    pd.testing.assert_frame_equal(ours, sdk_frame(raw), check_dtype=False)
    assert ours["open"].dtype == np.float64 and ours["open"].iloc[0] == 2450.0


def test_times_in_other_offsets_are_the_same_instants_as_the_sdks() -> None:
    raw = body(
        [
            ["2024-03-15T03:45:00Z", 1.0, 1.0, 1.0, 1.0, 1],
            ["2024-03-15T03:46:00+00:00", 1.0, 1.0, 1.0, 1.0, 1],
            ["2024-03-15T09:17:00.500000+05:30", 1.0, 1.0, 1.0, 1.0, 1],
        ]
    )
    ours = parse_candles(raw)
    pd.testing.assert_frame_equal(ours, sdk_frame(raw))
    assert ours.index[0] == pd.Timestamp("2024-03-15 09:15", tz=IST)


def test_a_time_without_offset_is_read_as_ist() -> None:
    ours = parse_candles(body([["2024-03-15T09:15:00", 1.0, 1.0, 1.0, 1.0, 1]]))
    assert ours.index[0] == pd.Timestamp("2024-03-15 09:15", tz=IST)


def test_kites_time_shape_is_read_without_any_per_candle_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("a candle time was parsed one by one")

    monkeypatch.setattr("dateutil.parser.parse", refuse)
    monkeypatch.setattr(codec, "_slow_times", refuse)
    stamps = pd.date_range("1999-12-31 09:15", periods=5000, freq="37min", tz=IST)
    rows = [[t.strftime("%Y-%m-%dT%H:%M:%S%z"), 1.5, 2.0, 1.0, 1.5, i] for i, t in enumerate(stamps)]
    rows.append(["2024-02-29T15:29:00+0530", 1.5, 2.0, 1.0, 1.5, 0])  # a leap day
    ours = parse_candles(body(rows))
    assert ours.index[:-1].equals(stamps.as_unit("us").rename("date"))
    assert ours.index[-1] == pd.Timestamp("2024-02-29 15:29", tz=IST)


def test_importing_the_codec_and_the_windows_loads_neither_pandas_nor_the_sdk() -> None:
    probe = (
        "import sys, kitekit.wire.candles, kitekit.history, kitekit.history.windows; "
        "print(sorted(m for m in ('pandas', 'kiteconnect') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- empty, 6 or 7 values ----------------------------------------------------------------------------------------


def test_no_candles_give_an_empty_frame_with_the_usual_columns_and_dtypes() -> None:
    empty = parse_candles(body([]))
    assert len(empty) == 0 and list(empty.columns) == list(CANDLE_COLUMNS)
    assert str(empty.index.dtype) == "datetime64[us, Asia/Kolkata]"
    assert empty.dtypes.to_dict() == {**dict.fromkeys(CANDLE_COLUMNS[:4], np.float64), "volume": np.int64}
    assert list(parse_candles(body([]), oi=True).columns) == [*CANDLE_COLUMNS, "oi"]


def test_rows_decide_the_oi_column_whatever_was_asked() -> None:
    six = parse_candles(body([["2024-03-15T09:15:00+0530", 1.0, 1.0, 1.0, 1.0, 5]]), oi=True)
    seven = parse_candles(body([["2024-03-15T09:15:00+0530", 1.0, 1.0, 1.0, 1.0, 5, 7]]))
    assert "oi" not in six.columns
    assert seven["oi"].tolist() == [7]


# -- Kite's errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("error_type", list(ErrorType), ids=str)
def test_every_kite_error_raises_what_the_sdk_raises(error_type: ErrorType) -> None:
    raw = json.dumps(error_body(error_type, "Something went wrong")).encode()
    ours, sdk = raises_like_sdk(raw, error_type.http_status)
    assert (type(ours), str(ours), ours.code) == (type(sdk), str(sdk), sdk.code)


def test_an_error_type_kite_never_sends_raises_the_sdks_general_exception() -> None:
    raw = json.dumps({"status": "error", "message": "odd", "error_type": "FooException", "data": None}).encode()
    ours, sdk = raises_like_sdk(raw, 500)
    assert (type(ours), str(ours), ours.code) == (type(sdk), str(sdk), sdk.code) == (kex.GeneralException, "odd", 500)


def test_a_span_over_the_limit_raises_the_sdks_input_exception(sim: SimServer, sim_kite: KiteConnect) -> None:
    r = requests.get(
        f"{sim.url}/instruments/historical/{RELIANCE}/minute",
        params={"from": "2026-01-01 09:15:00", "to": "2026-11-27 15:30:00", "interval": "minute"},
        headers={"Authorization": f"token {sim_kite.api_key}:{sim_kite.access_token}"},
        timeout=30,
    )
    ours, sdk = raises_like_sdk(r.content, r.status_code)
    assert isinstance(ours, kex.InputException) and (str(ours), ours.code) == (str(sdk), 400)


def test_an_error_without_a_status_gets_the_status_kite_pairs_with_it() -> None:
    with pytest.raises(kex.NetworkException) as limited:
        parse_candles(json.dumps(error_body(ErrorType.NETWORK, TOO_MANY_REQUESTS)).encode())
    assert limited.value.code == 429
    with pytest.raises(kex.TokenException) as expired:
        parse_candles(json.dumps(error_body(ErrorType.TOKEN, "Incorrect `api_key` or `access_token`.")).encode())
    assert expired.value.code == 403


def test_a_success_body_with_an_error_type_raises_like_the_sdk() -> None:
    raw = json.dumps({"status": "success", "error_type": "InputException", "message": "odd", "data": None}).encode()
    ours, sdk = raises_like_sdk(raw, 200)
    assert (type(ours), str(ours), ours.code) == (type(sdk), str(sdk), sdk.code) == (kex.InputException, "odd", 200)


def test_a_body_that_is_not_json_raises_the_sdks_data_exception_word_for_word() -> None:
    raw = b'{"status":"success","data":{"candles":[["2024-03-15T09:15:00+0530",1,'
    ours, sdk = raises_like_sdk(raw, 200)
    assert (type(ours), str(ours), ours.code) == (type(sdk), str(sdk), sdk.code)
    assert isinstance(ours, kex.DataException) and ours.code == 502


# -- malformed answers -------------------------------------------------------------------------------------------

STAMP = "2024-03-15T09:15:00+0530"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[1, 2]", "expected a JSON object"),
        (b'{"status": "success", "data": null}', "needs a data.candles list"),
        (b'{"status": "success", "data": {"candles": {}}}', "needs a data.candles list"),
        (body([[STAMP, 1, 1, 1, 1]]), r"row 0 is .*\[time, open, high, low, close, volume\]"),
        (body([[STAMP, 1, 1, 1, 1, 1], [STAMP, 1, 1, 1, 1, 1, 1]]), "row 1 is .*seventh value"),
        (body([[STAMP, 1, 1, 1, 1, 1], "abcdef"]), "row 1 is 'abcdef'"),
        (body([[STAMP, 1, 1, 1, 1, 1], [STAMP[:-1], 1, 1, 1, 1, 1]]), r"row 1 has time '2024-03-15T09:15:00\+053'"),
        (body([["2024-02-30T09:15:00+0530", 1, 1, 1, 1, 1]]), "row 0 has time '2024-02-30"),
        (body([[1710474300, 1, 1, 1, 1, 1]]), "row 0 has time 1710474300"),
        (body([[STAMP, 1, 1, 1, 1, 1], [STAMP, 1, None, 1, 1, 1]]), "row 1 has high None, not a number"),
        (body([[STAMP, "1.5", 1, 1, 1, 1]]), "row 0 has open '1.5', not a number"),
        (body([[STAMP, 1, 1, 1, 1, 2**64]]), "row 0 has volume 18446744073709551616"),
        (body([[STAMP, [1, 2], 1, 1, 1, 1]]), r"row 0 has open \[1, 2\]"),
    ],
    ids=[
        "array",
        "null-data",
        "candles-not-list",
        "five-values",
        "six-and-seven-mixed",
        "row-not-a-list",
        "truncated-time",
        "no-such-date",
        "numeric-time",
        "null-price",
        "string-price",
        "volume-too-big",
        "list-price",
    ],
)
def test_a_malformed_answer_raises_a_data_exception_naming_the_problem(raw: bytes, message: str) -> None:
    with pytest.raises(kex.DataException, match=message) as err:
        parse_candles(raw, status=200)
    assert err.value.code == 200


def test_volumes_written_as_whole_floats_read_as_integers() -> None:
    frame = parse_candles(body([[STAMP, 1, 1, 1, 1, 1200.0, 75.0]]))
    assert frame["volume"].dtype == np.int64 and frame["oi"].dtype == np.int64
    assert frame["volume"].tolist() == [1200]


def test_a_fractional_volume_keeps_its_value_as_a_float() -> None:
    frame = parse_candles(body([[STAMP, 1, 1, 1, 1, 10.5], [STAMP.replace("15:00", "16:00"), 1, 1, 1, 1, 3]]))
    assert frame["volume"].dtype == np.float64 and frame["volume"].tolist() == [10.5, 3.0]


# -- merging windows ---------------------------------------------------------------------------------------------


def frame_of(minutes: Mapping[int, float]) -> pd.DataFrame:
    start = datetime(2024, 3, 15, 9, 15, tzinfo=IST)
    rows = [[(start + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%S%z"), p, p, p, p, m] for m, p in minutes.items()]
    return parse_candles(body(rows))


def test_merging_drops_the_duplicate_at_a_seam_and_keeps_the_later_window() -> None:
    merged = merge_candles([frame_of({0: 1.0, 1: 1.0, 2: 1.0}), frame_of({2: 2.0, 3: 2.0})])
    assert merged["volume"].tolist() == [0, 1, 2, 3]
    assert merged["close"].tolist() == [1.0, 1.0, 2.0, 2.0]
    assert merged.index.is_unique and merged.index.is_monotonic_increasing


def test_merging_puts_windows_in_time_order_and_skips_empty_ones() -> None:
    merged = merge_candles([frame_of({5: 1.0}), empty_candles(), frame_of({0: 1.0, 1: 1.0})])
    assert merged["volume"].tolist() == [0, 1, 5]
    assert str(merged.index.dtype) == "datetime64[us, Asia/Kolkata]"


def test_merging_only_empty_windows_gives_an_empty_frame_with_their_columns() -> None:
    assert list(merge_candles([empty_candles(oi=True)]).columns) == [*CANDLE_COLUMNS, "oi"]
    assert list(merge_candles([]).columns) == list(CANDLE_COLUMNS)


def test_merging_windows_with_and_without_oi_is_refused() -> None:
    with_oi = parse_candles(body([[STAMP, 1, 1, 1, 1, 1, 9]]))
    with pytest.raises(ValueError, match="cannot merge candle frames"):
        merge_candles([frame_of({0: 1.0}), with_oi])


def test_overlapping_windows_from_the_simulator_merge_into_the_one_request_answer(
    sim: SimServer, sim_kite: KiteConnect
) -> None:
    start, seam, end = FRIDAY - timedelta(days=3), FRIDAY - timedelta(days=1, hours=-10), FRIDAY + timedelta(hours=15)
    first, second = (parse_candles(fetch(sim, sim_kite, "minute", a, b)) for a, b in ((start, seam), (seam, end)))
    assert first.index[-1] == second.index[0] == pd.Timestamp(seam)  # both ends inclusive: a shared candle
    whole = parse_candles(fetch(sim, sim_kite, "minute", start, end))
    pd.testing.assert_frame_equal(merge_candles([first, second]), whole)


def test_windows_of_a_long_range_merge_into_the_simulators_whole_series(sim: SimServer, sim_kite: KiteConnect) -> None:
    start, end = FRIDAY - timedelta(days=230), FRIDAY + timedelta(hours=15)
    windows = split_windows(start, end, Interval.MINUTE_5)
    assert len(windows) == 3
    merged = merge_candles(parse_candles(fetch(sim, sim_kite, "5minute", w.start, w.end)) for w in windows)
    market = sim.sim.market
    uni = market.universe(sim.sim.clock.now())
    row = uni.resolve(str(RELIANCE))
    assert row is not None
    rows = market.candles(uni, row, Interval.MINUTE_5, start, end, sim.sim.clock.now())
    assert merged.index.tolist() == [pd.Timestamp(r[0]) for r in rows]  # type: ignore[arg-type]
    assert merged["close"].tolist() == [r[4] for r in rows]
