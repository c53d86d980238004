"""``kitekit history``, ``history backfill`` and ``chart`` against the simulator; the chart file itself."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from kitekit.cli import history_cmd, run
from kitekit.clock import IST
from kitekit.history import CandleStore, SeriesKey, candlestick_html, write_chart
from kitekit.sim.server import SimServer
from kitekit.wire.candles import CANDLE_COLUMNS
from kitekit.wire.history import Interval
from tests.conftest import empty_cli_home
from tests.history_helpers import historical_requests


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and private kitekit dirs, with no Kite variables and no browser."""
    empty_cli_home(tmp_path, monkeypatch, columns=200)

    def no_browser(url: str) -> None:
        raise AssertionError(f"a test tried to open a browser at {url}")

    monkeypatch.setattr(history_cmd, "open_in_browser", no_browser)
    return tmp_path


@pytest.fixture
def on_sim(cli_home: Path, cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    return cli_sim


def outcome(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = run(argv)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text, text
    return code, text


# -- the chart file --------------------------------------------------------------------------------------------


class _Tags(HTMLParser):
    """Checks tags open and close in order (the ones HTML lets stand alone excepted)."""

    ALONE = frozenset({"meta", "br", "link", "img", "input", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        if tag not in self.ALONE:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)  # <meta ... />: opens and closes at once

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, (tag, self.stack)


def plotted(html: str) -> list[dict[str, Any]]:
    """Return the traces the page hands to ``Plotly.newPlot`` (the figure's data, as JSON)."""
    tags = _Tags()
    tags.feed(html)
    tags.close()
    assert tags.stack == [] and {"html", "head", "body", "script"} <= set(tags.seen)
    call = html[html.index("Plotly.newPlot(") + len("Plotly.newPlot(") :]
    decoder = json.JSONDecoder()
    _, at = decoder.raw_decode(call.lstrip())
    rest = call.lstrip()[at:].lstrip().removeprefix(",").lstrip()
    traces, _ = decoder.raw_decode(rest)
    assert isinstance(traces, list)
    return traces


def day_candles() -> pd.DataFrame:
    index = pd.DatetimeIndex(
        [pd.Timestamp(d, tz=IST) for d in ("2026-11-20", "2026-11-23", "2026-11-25", "2026-11-26")], name="date"
    ).as_unit("us")
    values = {"open": [10.0, 11, 12, 11.5], "high": [11.0, 12.5, 12.2, 12], "low": [9.5, 10.5, 11, 11]}
    return pd.DataFrame(
        {**values, "close": [11.0, 12, 11.2, 11.9], "volume": np.array([100, 200, 150, 300])}, index=index
    )


def test_the_chart_is_a_valid_html_page_holding_every_candle_and_its_volume() -> None:
    frame = day_candles()
    candles, volume = plotted(candlestick_html(frame, "NSE:TEST day", plotlyjs="cdn"))
    assert candles["type"] == "candlestick" and volume["type"] == "bar"
    assert candles["x"] == volume["x"] == ["2026-11-20", "2026-11-23", "2026-11-25", "2026-11-26"]
    for column in ("open", "high", "low", "close"):
        assert candles[column] == frame[column].tolist()
    assert volume["y"] == [100, 200, 150, 300]
    assert volume["marker"]["color"] == ["#26a69a", "#26a69a", "#ef5350", "#26a69a"]  # up, up, down, up


def test_the_chart_skips_days_without_candles_and_intraday_nights() -> None:
    html = candlestick_html(day_candles(), "t", plotlyjs="cdn")
    assert '"values":["2026-11-21","2026-11-22","2026-11-24"]' in html  # the weekend and a holiday
    stamps = pd.date_range("2026-11-26 09:15", "2026-11-26 15:29", freq="min", tz=IST)
    minutes = pd.DataFrame({c: 1.0 for c in CANDLE_COLUMNS}, index=stamps.append(stamps + timedelta(days=1)))
    assert '"bounds":[15.5,9.25],"pattern":"hour"' in candlestick_html(minutes, "t", plotlyjs="cdn")


def test_a_chart_file_embeds_plotly_so_it_opens_offline(tmp_path: Path) -> None:
    path = write_chart(day_candles(), tmp_path / "chart.html", "NSE:TEST")
    html = path.read_text()
    assert '<script src="https://cdn' not in html and len(html) > 1_000_000
    assert len(plotted(html)[0]["x"]) == 4


# -- the commands --------------------------------------------------------------------------------------------


def test_history_shows_the_candles_and_a_second_run_fetches_nothing_stored(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], cli_home: Path
) -> None:
    argv = ["history", "RELIANCE", "--interval", "5minute", "--from", "2026-11-02", "--to", "2026-11-26"]
    code, text = outcome(capsys, argv)
    assert code == 0, text
    assert "NSE:RELIANCE 5minute, the last 10" in text and "2026-11-26 15:25:00+05:30" in text
    assert re.search(
        r"[\d,]+ 5minute candles of NSE:RELIANCE from 2026-11-02 09:15:00\+05:30 .*fetched 1 windows", text
    )
    assert historical_requests(on_sim) == 1
    code, text = outcome(capsys, argv)
    # Thursday's candles had all closed by the simulator's Friday 11:00 (its clock is the one that counts).
    assert code == 0 and "fetched 0 windows" in text and historical_requests(on_sim) == 1
    assert (cli_home / "data" / "sim" / f"127.0.0.1_{on_sim.port}" / "candles.duckdb").is_file()


def test_history_refresh_fetches_the_whole_stored_range_again_not_only_the_range_asked(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], cli_home: Path
) -> None:
    assert (
        outcome(capsys, ["history", "RELIANCE", "-i", "60minute", "--from", "2026-01-01", "--to", "2026-11-27"])[0] == 0
    )
    store = CandleStore(cli_home / "data" / "sim" / f"127.0.0.1_{on_sim.port}" / "candles.duckdb")
    series = SeriesKey("NSE", "RELIANCE", Interval.MINUTE_60)
    stored = store.read(series, oi=True)
    week = ["history", "RELIANCE", "-i", "60minute", "--from", "2026-11-20", "--to", "2026-11-27", "--refresh"]
    code, text = outcome(capsys, week)
    assert code == 0 and "fetched 1 windows" in text and historical_requests(on_sim) == 2
    pd.testing.assert_frame_equal(store.read(series, oi=True), stored)  # since January still, fetched again


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_history_writes_the_candles_to_a_file(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], cli_home: Path, suffix: str
) -> None:
    out = cli_home / "exports" / f"nifty{suffix}"
    code, text = outcome(
        capsys, ["history", "NIFTY 50", "--from", "2026-06-01", "--to", "2026-11-27", "--out", str(out)]
    )
    assert code == 0 and f"Wrote {out}" in text.replace("\n", "")
    con = duckdb.connect()
    reader = "read_csv" if suffix == ".csv" else "read_parquet"
    rows = con.execute(f"SELECT count(*), min(date), max(date) FROM {reader}('{out}')").fetchone()  # noqa: S608
    assert rows is not None and rows[0] > 100
    assert pd.Timestamp(rows[2]).tz_convert(IST) == pd.Timestamp("2026-11-27", tz=IST)


def test_backfill_fills_the_store_for_several_instruments_and_then_fetches_only_new_windows(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["history", "backfill", "RELIANCE", "NSE:INFY", "NIFTY 50", "--interval", "15minute", "--days", "30"]
    code, text = outcome(capsys, argv)
    assert code == 0, text
    assert historical_requests(on_sim) == 3
    for name in ("NSE:RELIANCE", "NSE:INFY", "NSE:NIFTY 50"):
        assert re.search(rf"{re.escape(name)}\s+│\s+1\s+│", text), text
    code, text = outcome(capsys, argv)
    assert code == 0 and historical_requests(on_sim) <= 6  # at most the forming tail of each


def test_chart_writes_the_html_without_opening_a_browser_when_told(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], cli_home: Path
) -> None:
    code, text = outcome(capsys, ["chart", "RELIANCE", "--from", "2026-06-01", "--to", "2026-11-27", "--no-open"])
    assert code == 0, text
    html = (cli_home / "RELIANCE-day.html").read_text()
    candles = plotted(html)[0]
    assert candles["x"][-1] == "2026-11-27" and len(candles["x"]) > 100
    assert "NSE:RELIANCE, day: " in html


def test_chart_opens_the_file_in_the_browser_unless_told_not_to(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], cli_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(history_cmd, "open_in_browser", opened.append)
    code, _ = outcome(capsys, ["chart", "NIFTY 50", "-i", "60minute", "--from", "2026-11-01", "-o", "n.html"])
    assert code == 0
    assert opened == [(cli_home / "n.html").as_uri()]


def test_history_runs_on_the_embedded_simulator_too(cli_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = outcome(capsys, ["--sim", "history", "NIFTY 50", "--days", "10"])
    assert code == 0, text
    assert "SIMULATED MARKET" in text and "day candles of NSE:NIFTY 50" in text
    stored = cli_home / "data" / "sim" / "embedded" / "candles.duckdb"
    assert stored.is_file() and not (cli_home / "data" / "candles.duckdb").exists()  # never mixed with real data
