"""``kitekit alerts`` and ``kitekit alert add|rm|history`` on a running simulator (its market on Friday 2026-11-27,
11:00 IST): alerts on the simulator's account, orders-placing ones asked about first, refusals before sending."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from kitekit.cli import run
from kitekit.sim.server import SimServer
from tests.orders_helpers import sent


@pytest.fixture
def on_sim(cli_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    monkeypatch.setenv("COLUMNS", "250")
    cli_sim.sim.config.rate_limit_enabled = False
    return cli_sim


def kitekit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = run(list(argv))
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text, text
    return code, text


def alerts_of(sim: SimServer) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = sim.sim.exchange.run_alerts("KK1234", lambda b, now: b.listing(), mutates=False)
    return listed


def test_add_list_and_remove_an_alert(on_sim: SimServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = kitekit(capsys, "alert", "add", "NIFTY 50", "--above", "27000")
    assert code == 0, text
    [made] = alerts_of(on_sim)
    assert (made["lhs_exchange"], made["lhs_tradingsymbol"], made["operator"], made["rhs_constant"]) == (
        "INDICES", "NIFTY 50", ">=", 27000)  # fmt: skip
    assert f"Alert {made['uuid']} added" in text and 'LastTradedPrice("INDICES:NIFTY 50") >= 27000' in text
    code, text = kitekit(capsys, "alerts")
    assert code == 0 and str(made["uuid"]) in text and "simulator's account" in text and "enabled" in text
    code, text = kitekit(capsys, "alert", "rm", str(made["uuid"]))
    assert code == 0 and "Removed 1 alert" in text and alerts_of(on_sim) == []
    code, text = kitekit(capsys, "alert", "rm", str(made["uuid"]))
    assert code == 1 and "InputException" in text and "not found" in text


def test_an_alert_that_buys_is_asked_about_and_sent_only_on_yes(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, text = kitekit(capsys, "alert", "add", "INFY", "--below", "1500", "--then-buy", "5")
    assert code == 1 and "BUY 5 NSE:INFY MARKET" in text and "Nothing was sent." in text
    assert sent(on_sim, "POST", "/alerts") == 0
    code, text = kitekit(capsys, "alert", "add", "INFY", "--below", "1500", "--then-buy", "5", "--yes")
    assert code == 0 and "(ato, enabled)" in text
    [made] = alerts_of(on_sim)
    params = made["basket"]["items"][0]["params"]  # type: ignore[index]
    assert (params["transaction_type"], params["quantity"], params["product"]) == ("BUY", 5, "CNC")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["INFY", "--above", "1", "--below", "2"], "exactly one of --above P and --below P"),
        (["INFY"], "exactly one of --above P and --below P"),
        (["INFY", "--above", "1", "--then-buy", "1", "--then-sell", "1"], "contradict"),
        (["INFY", "--above", "1", "--limit", "10"], "--limit describe the order"),
        (["INFY", "--above", "1", "--yes"], "places none"),
        (["NIFTY 50", "--above", "1", "--then-buy", "75"], "is an index, which cannot be traded"),
        (["INFY", "--above", "1", "--then-buy", "1", "--limit", "1000.01", "--yes"], "Order refused before sending"),
        (["INFY", "--above", "1", "--name", "n" * 101], "Alert refused before sending"),
    ],
)
def test_what_kite_would_refuse_exits_2_and_sends_nothing(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    code, text = kitekit(capsys, "alert", "add", *argv)
    assert code == 2, text
    assert words in re.sub(r"\s+", " ", text)
    assert sent(on_sim, "POST", "/alerts") == 0


def test_history_tells_when_an_alert_fired_and_what_it_placed(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = kitekit(capsys, "alert", "add", "INFY", "--above", "1", "--then-buy", "2", "--yes")
    [made] = alerts_of(on_sim)
    code, text = kitekit(capsys, "alert", "history", str(made["uuid"]))
    assert code == 0 and "has not fired" in text
    clock = on_sim.sim.clock
    clock.advance(1)  # type: ignore[attr-defined]
    on_sim.sim.exchange.tick()
    code, text = kitekit(capsys, "alert", "history", str(made["uuid"]))
    assert code == 0 and 'LastTradedPrice("NSE:INFY") >= 1' in text and "order " in text and "NSE:INFY" in text
