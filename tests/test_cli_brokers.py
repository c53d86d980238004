"""The everyday commands on every broker: one test body each, run on Kite, Upstox and Angel One.

Each command runs as a user types it, ``kitekit --sim --broker NAME ...``: the embedded simulator of that broker
over one simulated world (real HTTP and WebSocket on 127.0.0.1), its clock pinned at ``SIM_NOW`` by
``KITE_SIM_AT`` (tests/conftest.py). Kite's commands keep their own code; the others go through the neutral
layer, so the same assertions hold on all three.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from kitekit.clock import IST
from kitekit.sim.pytest_plugin import SIM_NOW

from .conftest import Cli
from .runner_helpers import EXAMPLES

#: Each test runs several commands, each starting its broker's embedded simulator (seconds each, more under the
#: whole suite's load on two cores): the suite's 120 s per test is too short for them there.
pytestmark = pytest.mark.timeout(360)

BROKERS = ["kite", "upstox", "angel"]
OTHERS = ["upstox", "angel"]
LABELS = {"kite": "", "upstox": "Upstox", "angel": "Angel One SmartAPI"}


def one_line(err: str) -> str:
    """Return the error output without the simulator's banner and progress lines, which must be one line."""
    lines = [line for line in err.splitlines() if line.strip() and not re.match(r"^[╭╰│]|Logging in to|PAPER —", line)]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("broker", BROKERS)
def test_login_status_and_logout(broker: str, cli: Callable[[str], Cli]) -> None:
    kk = cli(broker)
    code, out, _ = kk("status")
    assert code == 3 and "login" in out  # nothing saved yet: the session exit code, and how to log in
    code, out, _ = kk("login")
    assert code == 0 and "Logged in" in out
    code, out, _ = kk("status")
    assert code == 0 and "valid" in out and "2026-11-27" in out  # the world's day, not today
    code, out, _ = kk("logout")
    assert code == 0 and "Logged out" in out
    assert kk("status")[0] == 3


@pytest.mark.parametrize("broker", BROKERS)
def test_instruments_quote_and_history_into_the_one_candle_store(
    broker: str, cli: Callable[[str], Cli], tmp_path: Path
) -> None:
    from kitekit.history.store import CandleStore, SeriesKey
    from kitekit.wire.history import Interval

    kk = cli(broker)
    code, out, _ = kk("instruments", "find", "RELIANCE", "--limit", "3")
    assert code == 0 and "NSE:RELIANCE" in out
    code, out, _ = kk("quote", "RELIANCE", "NSE:INFY", "--no-depth")
    assert code == 0
    prices = re.findall(r"^│ (RELIANCE|NSE:INFY)\s+│\s+([\d,]+\.\d\d)", out, re.M)
    assert {name for name, _ in prices} == {"RELIANCE", "NSE:INFY"}
    assert all(float(p.replace(",", "")) > 0 for _, p in prices)
    code, out, _ = kk("history", "RELIANCE", "-i", "5minute", "--from", "2026-11-26", "--to", "2026-11-26")
    assert code == 0 and "75 5minute candles of NSE:RELIANCE" in out  # 09:15 to 15:25, one whole session
    stored = CandleStore(tmp_path / "world" / "candles.duckdb").read(
        SeriesKey("NSE", "RELIANCE", Interval.MINUTE_5, False)
    )
    assert len(stored) == 75  # the same store Kite's candles are kept in, under the neutral identity


def resting_price(kk: Cli) -> str:
    """Return a buy limit 3% under RELIANCE's last price: it rests, and lies inside the day's circuit band."""
    code, out, _ = kk("quote", "RELIANCE", "--no-depth")
    found = re.search(r"^│ RELIANCE\s+│\s+([\d,]+\.\d\d)", out, re.M)
    assert code == 0 and found is not None
    return f"{round(float(found.group(1).replace(',', '')) * 0.97, 1):.2f}"  # on any tick (0.05, 0.10)


@pytest.mark.parametrize("broker", BROKERS)
def test_paper_orders_by_default_place_list_cancel_and_positions(broker: str, cli: Callable[[str], Cli]) -> None:
    kk = cli(broker)
    code, out, err = kk("order", "buy", "RELIANCE", "1", "--limit", resting_price(kk), "--tag", "restingbuy")
    assert code == 0 and "PAPER" in err and "PAPER order" in out and "OPEN" in out
    order_id = re.search(r"PAPER order (\S+):", out)
    assert order_id is not None
    code, out, _ = kk("orders")
    assert code == 0 and "restingbuy" in out and "the PAPER account" in out
    code, out, _ = kk("order", "cancel", order_id.group(1))
    assert code == 0 and "CANCELLED" in out
    code, out, _ = kk("order", "buy", "RELIANCE", "2")
    assert code == 0 and "COMPLETE" in out
    code, out, _ = kk("positions")
    assert code == 0 and re.search(r"NSE:RELIANCE\s+│\s+CNC\s+│\s+2\s", out)


@pytest.mark.parametrize("broker", OTHERS)
def test_a_live_order_reaches_the_brokers_simulator_only_with_the_explicit_opt_in(
    broker: str, cli: Callable[[str], Cli]
) -> None:
    kk = cli(broker)
    price = resting_price(kk)
    code, out, _ = kk("order", "buy", "RELIANCE", "1", "--limit", price, "--tag", "paperonly")
    assert code == 0 and "PAPER order" in out
    code, out, _ = kk("orders", "--live")
    assert code == 0 and "paperonly" not in out  # the paper order never reached the broker
    code, out, _ = kk("order", "buy", "RELIANCE", "1", "--limit", price, "--tag", "livebuy", "--live", "--yes")
    assert code == 0 and "LIVE order" in out and f"the {LABELS[broker]} simulator's account" in out
    code, out, _ = kk("orders", "--live")
    assert code == 0 and "livebuy" in out and "OPEN" in out


@pytest.mark.parametrize("broker", BROKERS)
def test_ticks_print_as_they_arrive(broker: str, cli: Callable[[str], Cli]) -> None:
    code, out, _ = cli(broker)("ticks", "RELIANCE", "--count", "2", "--mode", "full")
    lines = [line for line in out.splitlines() if "RELIANCE" in line]
    assert code == 0 and len(lines) == 2
    assert all(re.match(r"^\d\d:\d\d:\d\d  NSE:RELIANCE  [\d,]+\.\d\d .*bid .*ask", line) for line in lines)


#: RELIANCE's token on each broker's feed: Upstox's exchange token shifted a byte with the segment (as Kite's are
#: made), Angel's with the exchange type in front (``kitekit.brokers.<broker>.instruments``).
RELIANCE_TOKENS = {"upstox": 2885 << 8 | 1, "angel": 1_000_002_885}


@pytest.mark.parametrize("broker", OTHERS)
def test_record_writes_the_brokers_feed_which_a_backtest_on_it_runs_and_kite_refuses(
    broker: str, cli: Callable[[str], Cli], tmp_path: Path
) -> None:
    from kitekit.brokers.recording import read_feed_recording
    from kitekit.wire.recording import read_recording, recording_source

    kk = cli(broker)
    code, out, _ = kk("ticks", "RELIANCE", "--count", "1", "--mode", "full")
    printed = re.search(r"NSE:RELIANCE  ([\d,]+\.\d\d)  ([+-]\d+\.\d\d)%  vol ([\d,]+)  bid", out)
    assert code == 0 and printed is not None, out
    price, change, volume = (float(g.replace(",", "")) for g in printed.groups())
    code, out, err = kk("record", "RELIANCE", "NIFTY 50", "--out", "rec", "--count", "4")
    recorded = re.search(r"^Recorded (\d+) ticks in \d+ frames to rec \(dropped 0\)\.$", out, re.M)
    assert code == 0 and recorded is not None and int(recorded.group(1)) >= 4, err
    source = recording_source(tmp_path / "rec")
    assert source.broker == broker and source.keys[RELIANCE_TOKENS[broker]] == "NSE:RELIANCE"
    rows = read_recording(tmp_path / "rec").to_pylist()
    reliance = [r for r in rows if source.keys[r["instrument_token"]] == "NSE:RELIANCE"]
    nifty = [r for r in rows if source.keys[r["instrument_token"]] == "NSE:NIFTY 50"]
    assert reliance and nifty and {r["mode"] for r in rows} == {"full"}
    for r in reliance:  # what `ticks` printed a moment before: the same previous close, the day's volume since
        assert r["tradable"] and r["close"] == pytest.approx(price / (1 + change / 100), abs=0.05 + price * 1e-4)
        assert r["volume_traded"] >= volume and r["depth_buy_price"][0] < r["depth_sell_price"][0]
        assert r["exchange_timestamp"].astimezone(IST).date() == SIM_NOW.date() and r["raw"] == b""
    assert all(not r["tradable"] and r["depth_buy_price"] is None and r["last_price"] > 0 for r in nifty)
    first = max(t.timestamp for t in read_feed_recording(tmp_path / "rec").frames[0][1] if t.timestamp)
    strategy = str(EXAMPLES / "opening_range.py")
    code, out, err = kk("run", strategy, "--backtest", "--ticks", "rec", "--no-html")
    assert code == 0 and f"opening_range.py on {LABELS[broker]}" in err, err
    assert re.search(rf"^From\s+{re.escape(first.isoformat())}$", out, re.M), out  # the recording's first frame
    code, _, err = cli("kite")("run", strategy, "--backtest", "--ticks", "rec", "--no-html")
    assert code == 2 and f"rec is a recording of {LABELS[broker]}'s feed" in err and "from Kite Connect" in err
    assert f"--broker {broker}" in err
    code, _, err = cli("kite")("sim", "--port", "0", "--replay", "rec")
    assert code == 2 and f"recording of the {broker} feed: the simulator replays Kite Connect's frames" in err


@pytest.mark.parametrize("broker", OTHERS)
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["alerts"], "Alerts is offered on Kite Connect only"),
        (["alert", "rm", "abc"], "Alerts is offered on Kite Connect only"),
        (["profile"], "The profile command is offered on Kite Connect only"),
        (["postbacks", "--listen"], "Order postbacks is offered on Kite Connect only"),
        (["record", "RELIANCE", "--out", "ticks", "--bus", "redis://127.0.0.1:1/0"], "--bus carries Kite Connect's"),
        (["ticks", "RELIANCE", "--bus", "redis://127.0.0.1:1/0"], "--bus carries Kite Connect's feed only"),
        (["history", "RELIANCE", "--days", "3", "--continuous"], "--continuous is offered on Kite Connect's"),
    ],
)
def test_kites_extras_refuse_another_broker_in_one_line_naming_it_with_exit_2(
    broker: str, args: list[str], says: str, cli: Callable[[str], Cli]
) -> None:
    code, out, err = cli(broker)(*args)
    line = one_line(err)
    assert code == 2 and says in line and LABELS[broker] in line
    assert not out.strip()


@pytest.mark.parametrize("broker", OTHERS)
def test_wrong_input_on_another_broker_is_one_clear_line(
    broker: str, cli: Callable[[str], Cli], monkeypatch: pytest.MonkeyPatch
) -> None:
    kk = cli(broker)
    code, _, err = kk("order", "buy", "NOSUCHSTOCK", "1")
    assert code == 1 and "Unknown instrument 'NOSUCHSTOCK'" in one_line(err)
    code, _, err = kk("history", "NOSUCHSTOCK", "--days", "1")
    assert code == 1 and "Unknown instrument 'NOSUCHSTOCK'" in one_line(err)
    code, _, err = kk("order", "buy", "RELIANCE", "0")
    assert code == 2 and "Order refused before sending (quantity)" in one_line(err)
    code, out, err = kk("instruments", "find", "zzqqxx")
    assert code == 1 and "Nothing matches" in out
    monkeypatch.setenv("KITE_SIM_URL", "http://127.0.0.1:9")  # a running simulator is Kite's: said, not tried
    code, _, err = kk("quote", "RELIANCE")
    assert code == 2 and "drop --sim-url and use --sim" in one_line(err)


def test_the_mixed_mode_prices_kite_paper_orders_by_angel_quotes(cli: Callable[[str], Cli]) -> None:
    code, out, err = cli("kite")("--data", "angel", "--orders", "kite", "order", "buy", "RELIANCE", "1")
    assert code == 0 and "at simulated Angel One SmartAPI prices" in err and "COMPLETE" in out


@pytest.mark.parametrize("broker", OTHERS)
def test_an_option_chain_and_the_monitor_polling_and_streaming(broker: str, cli: Callable[[str], Cli]) -> None:
    kk = cli(broker)
    code, out, _ = kk("instruments", "chain", "NIFTY")
    assert code == 0 and f"NIFTY options expiring 2026-12-01 (lot 65, {LABELS[broker]})" in out
    priced = re.findall(r"^│ NFO:NIFTY\w+CE │\s+[\d,]+ │\s+([\d,]+\.\d\d) │", out, re.M)
    assert any(float(p.replace(",", "")) > 0 for p in priced)  # strikes priced by the broker's own quotes
    code, out, _ = kk("monitor", "RELIANCE", "--count", "2", "--every", "0.5")
    assert code == 0 and len(re.findall(r"^2026-11-27 \d\d:\d\d:\d\d  RELIANCE [\d,]+\.\d\d$", out, re.M)) == 2
    code, out, _ = kk("monitor", "RELIANCE", "NIFTY 50", "--stream", "--count", "8")  # frames: each may carry one
    assert (
        code == 0
        and re.search(r"│ NIFTY 50\s+│\s+[\d,]+\.\d\d", out)
        and re.search(r"│ RELIANCE\s+│\s+[\d,]+\.\d\d", out)
    )
