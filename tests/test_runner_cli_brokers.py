"""``kitekit run --broker upstox|angel --sim`` and ``--data angel --orders kite``: the run on each broker's embedded
simulator, started for the command on the world of the Kite one (one market, one clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitekit.cli import run
from tests.runner_helpers import EXAMPLES

EMA = str(EXAMPLES / "ema_cross.py")
#: The world's start: a fixed day (SIM_NOW's), its Thursday before backtested.
AT = "2026-11-27T11:00:00+05:30"
BROKERS = {
    "upstox": ("--broker", "upstox"),
    "angel": ("--broker", "angel"),
    "mixed": ("--data", "angel", "--orders", "kite"),
}
LABELS = {"upstox": "on Upstox", "angel": "on Angel One SmartAPI", "mixed": "on Angel One SmartAPI data, Kite"}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("KITE_SIM_URL", "KITE_SIM_STATE", "KITE_SIM_AT", "KITEKIT_BROKER", "KITEKIT_DATA_BROKER",
                 "KITEKIT_ORDER_BROKER"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "world"


@pytest.mark.parametrize("which", list(BROKERS))
def test_a_backtest_runs_on_each_brokers_embedded_simulator(
    world: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    argv = ["--sim", "--sim-state", str(world), "--sim-at", AT, *BROKERS[which], "run", EMA, "--backtest",
            "--from", "2026-11-26", "--to", "2026-11-26", "-p", "fast=5", "-p", "slow=15", "--no-html"]  # fmt: skip
    code = run(argv)
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 0, text
    assert "Traceback" not in text
    assert f"BACKTEST ema_cross.py {LABELS[which]}" in text
    assert "Round trips" in text and "Charges" in text
    assert (world / "runs" / "ema_cross-backtest-20261126-20261126" / "run.json").is_file()


TRADES = {
    "upstox": ("--paper",),
    "angel": ("--live", "--yes"),
    "mixed": ("--paper",),
}
SAYS = {"upstox": "PAPER ema_cross.py on Upstox", "angel": "LIVE ema_cross.py sends orders to the simulator's",
        "mixed": "PAPER ema_cross.py on Angel One SmartAPI data, Kite Connect orders"}  # fmt: skip


@pytest.mark.parametrize("which", list(TRADES))
def test_a_paper_or_live_run_starts_and_stops_cleanly_on_each_brokers_embedded_simulator(
    world: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    argv = ["--sim", "--sim-state", str(world), "--sim-at", AT, *BROKERS[which], "run", EMA, *TRADES[which],
            "--for", "3s", "--no-status", "--no-html"]  # fmt: skip
    code = run(argv)
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 0, text
    assert "Traceback" not in text and SAYS[which] in text
    assert "the run's time is up" in text
    mode = "live" if which == "angel" else "paper"
    assert (world / "runs" / f"ema_cross-{mode}" / "run.json").is_file()
