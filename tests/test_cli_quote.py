"""``kitekit quote`` and the option chain's prices: what the simulator quotes, fetched in batched calls."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from kitekit.cli import run
from kitekit.cli.money import group_indian
from kitekit.sim.server import SimServer
from tests.conftest import empty_cli_home
from tests.orders_helpers import client


@pytest.fixture
def on_sim(cli_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    empty_cli_home(tmp_path, monkeypatch, columns=250)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    cli_sim.sim.config.rate_limit_enabled = False
    return cli_sim


def kitekit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = run(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err, out.err
    return code, out.out + out.err


def test_quote_shows_last_price_ohlc_volume_oi_and_depth_in_one_call(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["instruments", "sync"])
    before = on_sim.sim.requests["GET /quote"]
    code, text = kitekit(capsys, "quote", "INFY", "NIFTY 50", "NIFTY26DECFUT")
    assert code == 0, text
    assert on_sim.sim.requests["GET /quote"] == before + 1
    # The market stands still on this simulator's clock: what it quotes now is what the command showed.
    quotes = client(on_sim).quote(["NSE:INFY", "NSE:NIFTY 50", "NFO:NIFTY26DECFUT"])
    infy, fut = quotes["NSE:INFY"], quotes["NFO:NIFTY26DECFUT"]
    row = next(line for line in text.splitlines() if line.startswith("│ INFY "))
    for value in (infy["last_price"], *infy["ohlc"].values()):
        assert f"{value:,.2f}" in row, value
    assert f"{infy['last_price'] - infy['ohlc']['close']:+,.2f}" in row and group_indian(infy["volume"]) in row
    fut_row = next(line for line in text.splitlines() if line.startswith("│ NIFTY26DECFUT "))
    assert fut["oi"] > 0 and group_indian(fut["oi"]) in fut_row
    assert "INFY: market depth" in text and "NIFTY26DECFUT: market depth" in text
    assert "NIFTY 50: market depth" not in text  # an index has no order book
    best = infy["depth"]["buy"][0]["price"], infy["depth"]["sell"][0]["price"]
    assert re.search(rf"{best[0]:,.2f} │ +{best[1]:,.2f}", text)


def test_quote_of_an_unknown_symbol_names_it_and_fails(on_sim: SimServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = kitekit(capsys, "quote", "INFY", "NOSUCHSYMBOL")
    assert code == 1 and "NOSUCHSYMBOL: Unknown instrument" in text and "No quote for 1 of 2" in text
    assert "│ INFY " in text  # what could be quoted is still shown


def test_the_option_chain_shows_each_strikes_last_price_and_open_interest_from_one_batched_call(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["instruments", "sync"])
    before = on_sim.sim.requests["GET /quote"]
    code, text = kitekit(capsys, "instruments", "chain", "NIFTY")
    assert code == 0, text
    rows = [line.split("│")[1:-1] for line in text.splitlines() if re.match(r"│ NIFTY\w+CE ", line)]
    assert len(rows) > 10 and "CE LTP" in text and "PE OI" in text
    tokens = 2 * len(rows)
    assert on_sim.sim.requests["GET /quote"] - before == math.ceil(tokens / 500)
    ce_symbol, _, ce_oi, ce_ltp, strike, pe_ltp, pe_oi, _, pe_symbol = (cell.strip() for cell in rows[len(rows) // 2])
    quotes = client(on_sim).quote([f"NFO:{ce_symbol}", f"NFO:{pe_symbol}"])
    ce, pe = quotes[f"NFO:{ce_symbol}"], quotes[f"NFO:{pe_symbol}"]
    assert (ce_ltp, pe_ltp) == (f"{ce['last_price']:,.2f}", f"{pe['last_price']:,.2f}")
    assert (ce_oi, pe_oi) == (group_indian(ce["oi"]), group_indian(pe["oi"]))
    assert strike in ce_symbol and strike in pe_symbol
