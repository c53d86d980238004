"""Tables at any terminal width: ids, symbols and prices are never cut to "…"; other columns wrap or go first."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from kitekit.cli import run
from kitekit.cli.fit import ALWAYS, Col, FitTable
from kitekit.sim.server import SimServer
from tests.conftest import empty_cli_home

ORDER_ID, SYMBOL, PRICE, TAG = "2612040000000000001", "NFO:NIFTY26DEC25000CE", "1,23,456.05", "morningBreakout0107"


def rendered(table: FitTable, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def orders_like() -> FitTable:
    table = FitTable(
        Col("time", whole=True, keep=1),
        Col("order id", whole=True, keep=ALWAYS),
        Col("instrument", whole=True, keep=ALWAYS),
        Col("type", keep=2),
        Col("price", whole=True, keep=ALWAYS, justify="right"),
        Col("status", keep=3),
        Col("message", keep=0),
        Col("tag", whole=True, keep=0),
        title="Orders",
        footer="total",
    )
    table.add_row("09:15:02", ORDER_ID, SYMBOL, "LIMIT NRML", PRICE, "REJECTED", "Insufficient funds to trade", TAG)
    table.add_row("09:16:40", "2612040000000000002", "NSE:INFY", "MARKET CNC", "", "COMPLETE", "", "x")
    table.set_footer("price", "₹1,23,456.05")
    return table


@pytest.mark.parametrize("width", range(6, 181))
def test_whole_cells_are_never_cut_and_no_line_is_wider_than_the_terminal(width: int) -> None:
    text = rendered(orders_like(), width)
    lines = text.splitlines()
    assert "…" not in text
    assert all(len(line) <= width for line in lines), width
    for value in (ORDER_ID, SYMBOL, PRICE):
        assert value in "".join(lines), value  # even folded at a tiny width, every character is there in order
        if width >= 40:
            assert any(value in line for line in lines), (value, width)


def test_optional_columns_go_first_least_useful_first_and_the_rows_become_blocks_last() -> None:
    table, console = orders_like(), Console(file=io.StringIO())
    assert table.shown(200, console) == [c.header for c in table.columns]
    assert table.shown(120, console) == ["time", "order id", "instrument", "type", "price", "status", "message"]
    assert table.shown(100, console) == ["time", "order id", "instrument", "type", "price", "status"]
    assert table.shown(80, console) == ["order id", "instrument", "price", "status"]
    assert table.shown(65, console) == ["order id", "instrument", "price"]
    assert table.shown(60, console) is None
    blocks = rendered(table, 50)
    assert f"order id: {ORDER_ID}" in blocks and "message: Insufficient funds to trade" in blocks
    assert "total\nprice: ₹1,23,456.05" in blocks


@pytest.fixture
def on_sim(cli_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    empty_cli_home(tmp_path, monkeypatch, columns=250)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    return cli_sim


def kitekit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = run(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err, out.err
    return code, out.out


def test_order_ids_symbols_and_prices_stay_whole_in_every_command_at_every_width(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, text = kitekit(capsys, "order", "buy", "INFY", "3", "--limit", "2400", "--tag", "wide1")
    assert code == 0, text
    order_id = text.split("PAPER order ")[1].split(":")[0]
    code, text = kitekit(capsys, "trades")
    fill = re.findall(r"[\d,]+\.\d\d", text.split("NSE:INFY")[1])[0]  # the trade's price, as the table shows it
    code, text = kitekit(capsys, "quote", "INFY", "--no-depth")
    last = re.findall(r"[\d,]+\.\d\d", text.split("INFY")[1])[0]  # the market stands still on this clock
    checks = {
        ("orders",): [order_id, "NSE:INFY", "2,400.00"],
        ("trades",): [order_id, "NSE:INFY", fill],
        ("positions",): ["NSE:INFY", fill],
        ("order", "show", order_id): [order_id, "NSE:INFY", "2,400.00"],
        ("quote", "INFY", "NIFTY26DECFUT"): ["INFY", "NIFTY26DECFUT", last],
        ("monitor", "INFY", "NIFTY26DECFUT", "--live", "--count", "1"): ["INFY", "NIFTY26DECFUT", last],
    }
    for width in (200, 80, 50, 30):
        monkeypatch.setenv("COLUMNS", str(width))
        for argv, values in checks.items():
            code, text = kitekit(capsys, *argv)
            assert code == 0, (argv, text)
            assert "…" not in text, (argv, width, text)
            for value in values:
                assert value in text, (argv, width, value, text)
            assert max(map(len, text.splitlines())) <= width, (argv, width, text)
