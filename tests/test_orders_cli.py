"""The order commands: paper by default and saying so, --live showing the order in full and asking first."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from kitekit.cli import run
from kitekit.cli.money import inr, pnl
from kitekit.cli.order_view import positions_table
from kitekit.orders import Positions
from kitekit.sim.server import SimServer
from tests.orders_helpers import accepted, sent


@pytest.fixture
def on_sim(cli_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    monkeypatch.setenv("COLUMNS", "250")
    return cli_sim


def kitekit(capsys: pytest.CaptureFixture[str], *argv: str, answer: str | None = None,
            monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str]:  # fmt: skip
    if answer is not None and monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    code = run(list(argv))
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text, text
    return code, text


def test_an_order_is_paper_by_default_says_so_and_never_reaches_the_exchange(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = kitekit(capsys, "order", "buy", "INFY", "3")
    assert code == 0, text
    assert "PAPER" in text and "nothing reaches the exchange" in text and "PAPER order" in text
    assert "COMPLETE" in text and sent(on_sim) == 0 and accepted(on_sim) == []
    code, text = kitekit(capsys, "orders")
    assert code == 0 and "NSE:INFY" in text and "3/3" in text and "the PAPER account" in text
    code, text = kitekit(capsys, "positions")
    assert code == 0 and "NSE:INFY" in text and "₹" in text


def test_live_prints_the_order_in_full_and_sends_nothing_unless_confirmed(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, text = kitekit(capsys, "order", "buy", "INFY", "2", "--limit", "2000", "--live", answer="n\n",
                         monkeypatch=monkeypatch)  # fmt: skip
    assert code == 1 and "Nothing was sent." in text
    for field in ("exchange", "NSE", "tradingsymbol", "INFY", "transaction_type", "BUY", "quantity", "order_type",
                  "LIMIT", "product", "CNC", "₹2,000.00", "send it?"):  # fmt: skip
        assert field in text, field
    assert sent(on_sim) == 0
    code, text = kitekit(capsys, "order", "buy", "INFY", "2", "--limit", "2000", "--live", "--tag", "cli1",
                         answer="y\n", monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0 and "LIVE order" in text and "(tag cli1)" in text
    assert [o["tag"] for o in accepted(on_sim)] == ["cli1"]


def test_live_with_yes_sends_at_once_and_the_same_tag_again_sends_nothing(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):
        code, text = kitekit(capsys, "order", "sell", "INFY", "1", "--live", "--yes", "--tag", "exit7",
                             "--product", "mis")  # fmt: skip
        assert code == 0, text
    assert "placed earlier with this intent; nothing sent" in text
    assert sent(on_sim) == 1 and len(accepted(on_sim)) == 1
    code, text = kitekit(capsys, "trades", "--live")
    assert code == 0 and "NSE:INFY" in text and "your Kite account" not in text and "LIVE mode" in text


def test_cancel_and_show_work_on_paper_and_a_second_cancel_is_fine(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = kitekit(capsys, "order", "buy", "INFY", "1", "--limit", "2100", "--tag", "rest1")
    assert code == 0, text
    order_id = text.split("PAPER order ")[1].split(":")[0]
    for _ in range(2):
        code, text = kitekit(capsys, "order", "cancel", order_id)
        assert code == 0 and "CANCELLED" in text
    code, text = kitekit(capsys, "order", "show", order_id)
    assert code == 0 and "OPEN" in text and "CANCEL PENDING" in text and "CANCELLED" in text


def test_an_order_breaking_a_rule_is_a_usage_error_naming_the_rule_and_nothing_is_sent(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = kitekit(capsys, "order", "buy", "INFY", "1", "--limit", "2101.03", "--live", "--yes")
    assert code == 2 and "price 2101.03 is not a multiple of tick 0.05; nearest 2101.05" in text
    assert sent(on_sim) == 0


def test_amounts_use_indian_grouping_and_pnl_is_coloured_by_its_sign() -> None:
    assert [inr(1234567.5), inr(-987.0), inr(12345678901.25), inr(0.004)] == [
        "₹12,34,567.50", "-₹987.00", "₹12,34,56,78,901.25", "₹0.00"
    ]  # fmt: skip
    assert (pnl(1500.0).style, pnl(-20.5).style, pnl(0.0).style) == ("green", "red", "")
    positions = Positions.from_kite(
        {"net": [{"exchange": "NSE", "tradingsymbol": "INFY", "product": "MIS", "quantity": 5, "pnl": 1234567.5},
                 {"exchange": "NSE", "tradingsymbol": "SBIN", "product": "MIS", "quantity": -3, "pnl": -2500.0}],
         "day": []}
    )  # fmt: skip
    console = Console(record=True, force_terminal=True, color_system="standard", width=200)
    console.print(positions_table(positions, "Positions"))
    rendered = console.export_text(styles=True, clear=False)
    assert "\x1b[32m+₹12,34,567.50" in rendered and "\x1b[31m-₹2,500.00" in rendered
    assert "\x1b[1;32m+₹12,32,067.50" in rendered  # the total, bold and green


def test_piped_into_a_log_the_orders_table_keeps_every_id_and_tag_whole(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cron job writes to a file: no terminal to fit, so nothing may be cut to rich's default 80 columns.
    monkeypatch.delenv("COLUMNS")
    code, text = kitekit(capsys, "order", "buy", "INFY", "3", "--tag", "morningBreakout0107")
    assert code == 0, text
    order_id = text.split("PAPER order ")[1].split(":")[0]
    code, text = kitekit(capsys, "orders")
    assert code == 0 and "…" not in text
    assert order_id in text and "morningBreakout0107" in text and "NSE:INFY" in text


def test_a_paper_refusal_says_the_paper_broker_refused_it_not_kite(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = kitekit(capsys, "order", "show", "12345")
    assert code == 1 and "The paper broker refused it (OrderException, as Kite would)" in text
    assert "Kite answered" not in text and sent(on_sim) == 0
    code, text = kitekit(capsys, "order", "show", "12345", "--live")
    assert code == 1 and "Kite answered OrderException" in text
