"""What an order command tells: the fill price and charges, a rejection's exit code, slices, the live confirmation."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect

from kitekit.cli import run
from kitekit.cli.money import inr
from kitekit.session import SessionStore
from kitekit.sim.server import SimServer
from tests.conftest import empty_cli_home
from tests.orders_helpers import sent

FAILED, USAGE = 1, 2


@pytest.fixture
def on_sim(cli_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    empty_cli_home(tmp_path, monkeypatch, columns=250)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    cli_sim.sim.config.rate_limit_enabled = False
    return cli_sim


@pytest.fixture
def kite(on_sim: SimServer, tmp_path: Path) -> KiteConnect:
    """The official SDK on the CLI's own session (a login of its own would end the CLI's), to compare with."""
    run(["login"])  # a simulator's login needs no browser
    home = f"127.0.0.1_{on_sim.port}"
    saved = SessionStore(tmp_path / "data" / "sim" / home / "sessions" / "kitekit_sim.json").load()
    assert saved is not None
    return KiteConnect(on_sim.sim.config.api_key, access_token=saved.access_token, root=on_sim.url)


def kitekit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str | None = None
) -> tuple[int, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = run(list(argv))
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text, text
    return code, text


def order_ids(text: str) -> list[str]:
    return re.findall(r"(?:PAPER|LIVE) order (\d+):", text)


def charges_of(kite: KiteConnect, fill: dict[str, Any]) -> float:
    """Return what Kite's contract note calculator (POST /charges/orders) says a fill costs."""
    return float(kite.get_virtual_contract_note([fill])[0]["charges"]["total"])


@pytest.mark.parametrize("live", [False, True], ids=["paper-broker", "live-broker"])  # "live" marks Kite tests
def test_a_filled_order_prints_its_average_price_value_and_the_charges_it_cost(
    on_sim: SimServer, kite: KiteConnect, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    live: bool,
) -> None:  # fmt: skip
    code, text = kitekit(capsys, monkeypatch, "order", "buy", "INFY", "3", *(["--live", "--yes"] if live else []))
    assert code == 0, text
    [order_id] = order_ids(text)
    code, trades = kitekit(capsys, monkeypatch, "trades", *(["--live"] if live else []))
    price = float(re.findall(r"([\d,]+\.\d\d)", trades.split(order_id)[1])[0].replace(",", ""))
    fill = {"order_id": order_id, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
            "variety": "regular", "product": "CNC", "order_type": "MARKET", "quantity": 3,
            "average_price": price}  # fmt: skip
    total = charges_of(kite, fill)
    assert total > 0
    assert f"filled 3 at {inr(price)} (value {inr(3 * price)}); charges {inr(total)}: brokerage" in text, text
    assert "STT" in text and "GST" in text and "stamp" in text


def test_an_order_left_open_prints_no_fill(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, text = kitekit(capsys, monkeypatch, "order", "buy", "INFY", "1", "--limit", "2000")
    assert code == 0 and "OPEN" in text and "filled" not in text and "charges" not in text


def test_a_rejected_order_exits_1_and_says_why(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, text = kitekit(capsys, monkeypatch, "order", "buy", "INFY", "3000")  # ₹68 lakh on ₹10 lakh of funds
    assert code == FAILED, text
    assert "REJECTED: Insufficient funds" in text and "1 of 1 orders was rejected" in text
    assert "filled" not in text


def cheap_nifty_call(kite: KiteConnect) -> str:
    """Return a NIFTY call of the nearest expiry priced under ₹100, so 1,950 of them fit the paper funds."""
    calls = [i for i in kite.instruments("NFO") if i["name"] == "NIFTY" and i["instrument_type"] == "CE"]
    nearest = min(i["expiry"] for i in calls)
    keys = [f"NFO:{i['tradingsymbol']}" for i in calls if i["expiry"] == nearest]
    return str(next(key for key, q in kite.ltp(keys).items() if 5 < q["last_price"] < 100))


def test_slice_sends_orders_within_the_freeze_quantity_and_ends_with_a_summary(
    on_sim: SimServer, kite: KiteConnect, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    symbol = cheap_nifty_call(kite)
    code, text = kitekit(capsys, monkeypatch, "order", "buy", symbol, "1950")
    assert code == USAGE and "above the freeze quantity 1800" in text
    assert "with --slice" in text and "place_sliced" not in text  # a CLI user has the flag, not the function
    code, text = kitekit(capsys, monkeypatch, "order", "buy", symbol, "1950", "--slice")
    assert code == 0, text
    assert len(order_ids(text)) == 2 and "filled 1755 at" in text and "filled 195 at" in text
    assert text.index("Slices: 2 placed, 2 filled, 0 rejected, 0 open.") > text.index("filled 195 at")


def test_a_slice_the_funds_do_not_cover_is_counted_as_rejected_and_the_command_fails(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1,755 NIFTY futures want about ₹49 lakh of margin, the last 195 about ₹5 lakh: the paper funds are ₹10 lakh.
    code, text = kitekit(capsys, monkeypatch, "order", "sell", "NIFTY26DECFUT", "1950", "--slice")
    assert code == FAILED, text
    assert "Slices: 2 placed, 1 filled, 1 rejected, 0 open." in text and "1 of 2 orders was rejected" in text


def test_the_live_confirmation_shows_the_price_value_and_required_margin(
    on_sim: SimServer, kite: KiteConnect, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, text = kitekit(capsys, monkeypatch, "order", "buy", "INFY", "2", "--live", "--product", "MIS", stdin="n\n")
    assert code == FAILED and "Nothing was sent." in text and sent(on_sim) == 0
    # The market stands still on this simulator's clock: its last price and margin now are those shown.
    last = kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
    item = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "variety": "regular",
            "product": "MIS", "order_type": "MARKET", "quantity": 2, "price": 0, "trigger_price": 0}  # fmt: skip
    margin = kite.order_margins([item])[0]["total"]
    assert re.search(rf"price +│ {re.escape(inr(last))} \(market: the last price\)", text), text
    assert re.search(rf"value +│ {re.escape(inr(2 * last))} ", text)
    assert re.search(rf"margin required +│ {re.escape(inr(margin))} ", text)
    code, text = kitekit(capsys, monkeypatch, "order", "buy", "INFY", "2", "--limit", "2100", "--live", stdin="n\n")
    assert re.search(rf"price +│ {re.escape(inr(2100))} ", text) and re.search(r"value +│ ₹4,200.00 ", text)


def test_the_end_of_input_at_the_confirmation_sends_nothing_and_exits_1_not_130(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for argv in (["order", "buy", "INFY", "1", "--live"], ["order", "cancel", "123", "--live"]):
        code, text = kitekit(capsys, monkeypatch, *argv, stdin="")
        assert code == FAILED, text
        assert "Nothing was sent: the input ended" in text and "Aborted" not in text
    assert sent(on_sim) == 0 and sent(on_sim, "DELETE") == 0


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["order", "buy", "INFY", "1", "--yes"], "--yes skips the confirmation of a --live order"),
        (["order", "sell", "INFY", "1", "-y"], "--yes skips the confirmation"),
        (["order", "cancel", "123", "--yes"], "--yes skips the confirmation"),
        (["order", "modify", "123", "--price", "2000", "--yes"], "--yes skips the confirmation"),
        (["order", "buy", "INFY", "10", "--iceberg-legs", "3"], "--iceberg-legs splits an iceberg order"),
        (["order", "buy", "INFY", "10", "--iceberg-legs", "3", "--variety", "amo"], "this one is amo"),
    ],
)
def test_flags_that_would_do_nothing_are_refused_before_anything_is_fetched(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], says: str
) -> None:
    code, text = kitekit(capsys, monkeypatch, *argv)
    assert (code, says in text) == (USAGE, True), text
    assert not on_sim.sim.requests.get("POST /api/login") and sent(on_sim) == 0


def test_a_calculator_that_fails_neither_stops_an_order_nor_reads_as_its_failure(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = {"data_error_rate": 1.0, "paths": ["/margins/orders", "/charges/orders"]}
    requests.put(f"{on_sim.url}/__sim/faults", json=faults, timeout=5).raise_for_status()
    code, text = kitekit(capsys, monkeypatch, "order", "buy", "INFY", "1", "--live", stdin="y\n")
    assert code == 0, text
    assert "Could not get the margin it needs" in text and "Could not get the charges" in text
    assert "COMPLETE" in text and "margin required" not in text and "charges ₹" not in text
    assert sent(on_sim) == 1
