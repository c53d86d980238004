"""The runner's commands: kitekit run (a backtest, a grid), runs, report and kill, and their refusals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kitekit import paths
from kitekit.cli import run
from kitekit.sim.server import SimServer
from tests.runner_helpers import EXAMPLES

EMA = str(EXAMPLES / "ema_cross.py")
DAY = ("--from", "2026-11-26", "--to", "2026-11-26")


@pytest.fixture
def on_sim(cli_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    monkeypatch.setenv("COLUMNS", "200")
    return cli_sim


def kitekit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = run(list(argv))
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text, text
    return code, text


def runs_dir(server: SimServer) -> Path:
    return paths.sim_home(server.url) / "runs"


def test_a_backtest_prints_its_statistics_and_report_then_runs_and_report_find_it(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = kitekit(capsys, "run", EMA, "--backtest", *DAY, "--param", "fast=5", "--param", "slow=15")
    assert code == 0, text
    assert "BACKTEST" in text and "nothing is sent" in text
    for label in ("Total return", "Sharpe", "Sortino", "Calmar", "Max drawdown", "Win rate", "Profit factor",
                  "Expectancy", "Exposure", "Longest losing streak", "Charges", "₹10,00,000.00"):  # fmt: skip
        assert label in text, label
    name = "ema_cross-backtest-20261126-20261126"
    assert f"Report: {runs_dir(on_sim) / name / 'report.html'}" in text
    code, text = kitekit(capsys, "runs")
    assert code == 0 and name in text and "backtest" in text and "finished" in text
    code, text = kitekit(capsys, "report", name)
    assert code == 0 and "Total return" in text and "last trades" in text and "NSE:INFY" in text
    code, text = kitekit(capsys, "run", EMA, "--backtest", *DAY)  # the same again: a new run, numbered
    assert code == 0 and f"{name}-2" in text


def test_a_grid_runs_every_combination_in_processes_and_ranks_them(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = kitekit(capsys, "run", EMA, "--backtest", *DAY, "--grid", "fast=3,5", "slow=10,20", "--workers", "2",
                         "--rank-by", "total_return")  # fmt: skip
    assert code == 0, text
    assert "GRID 4 backtests" in text and "4/4" in text and "ranked by total_return" in text
    folder = next(runs_dir(on_sim).glob("ema_cross-grid-*"))
    ranked = pd.read_parquet(folder / "grid.parquet")
    assert len(ranked) == 4 and list(ranked["rank"]) == [1, 2, 3, 4]
    assert ranked["total_return"].is_monotonic_decreasing
    assert {(str(f), str(s)) for f, s in zip(ranked["fast"], ranked["slow"], strict=True)} == {
        ("3", "10"), ("3", "20"), ("5", "10"), ("5", "20")}  # fmt: skip
    assert all((Path(p) / "stats.json").is_file() for p in ranked["folder"])


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--backtest", "--paper"], "contradict"),
        (["--backtest", "--param", "fats=3"], "unknown parameter 'fats'"),
        (["--backtest", "--param", "fast"], "is not name=value"),
        (["--backtest", "--risk", "max_loss=3"], "unknown risk limit 'max_loss'"),
        (["--backtest", "--from", "2026-11-27", "--to", "2026-11-26"], "before --from"),
        (["--paper", "--from", "2026-11-26"], "are for backtests"),
        (["--yes"], "does nothing here"),
        (["--backtest", "--grid", "fast"], "is not a grid axis"),
        (["--paper", "--grid", "fast=1,2"], "for backtests"),
    ],
)
def test_wrong_arguments_are_usage_errors_before_anything_runs(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, text = kitekit(capsys, "run", EMA, *argv)
    assert code == 2 and says in text, text
    assert not runs_dir(on_sim).exists() or not any(runs_dir(on_sim).iterdir())


def test_a_live_run_asks_first_and_starts_nothing_without_a_yes(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, text = kitekit(capsys, "run", EMA, "--live", "--risk", "max_daily_loss=5000")
    assert code == 1 and "LIVE" in text and "Nothing was started." in text and "max_daily_loss=5000" in text
    assert not (runs_dir(on_sim) / "ema_cross-live" / "run.json").exists()


def test_kill_sets_and_clears_the_flag_and_refuses_an_unknown_run(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = kitekit(capsys, "kill", "--flatten", "--reason", "end of day")
    flag = runs_dir(on_sim) / "KILL"
    assert code == 0 and flag.is_file() and "every run" in text
    assert '"flatten": true' in flag.read_text() and "end of day" in flag.read_text()
    code, text = kitekit(capsys, "kill", "--clear")
    assert code == 0 and not flag.exists()
    code, text = kitekit(capsys, "kill", "nosuchrun")
    assert code == 2 and "no run named 'nosuchrun'" in text
    code, text = kitekit(capsys, "report", "nosuchrun")
    assert code == 2 and "no run named" in text


def test_the_demo_paper_trades_the_ema_example_on_the_embedded_simulator_and_says_where_its_report_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, text = kitekit(capsys, "--sim", "demo", "--readings", "1", "--trade-for", "4", "--speed", "120")
    assert code == 0, text
    assert "Paper-trading ema_cross.py" in text and "PAPER" in text and "the run's time is up" in text
    report = paths.sim_home(None) / "runs" / "demo-ema_cross" / "report.html"
    assert f"Report: {report}" in text and report.is_file()
