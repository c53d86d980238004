"""The runner's parts on their own: the book's accounting, timers, kill flags, the statistics, grids, run state."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pytest

from kitekit.clock import IST, ManualClock
from kitekit.errors import RunError
from kitekit.runner import Book, KillSwitch, RiskLimits, parse_grid, parse_limits, rank, read_kill, request_kill
from kitekit.runner.grid import combinations
from kitekit.runner.html import format_stat, rupees
from kitekit.runner.report import compute_stats, equity_frame
from kitekit.runner.state import JsonLines, RunFolder, RunState, run_name, tag_prefix
from kitekit.runner.timers import StrategyClock, parse_every

T0 = datetime(2026, 11, 27, 9, 15, tzinfo=IST)


def test_the_book_keeps_average_cost_realises_on_the_way_down_and_through_zero() -> None:
    book = Book()
    book.fill("o1", "NSE:A", 1, "CNC", True, 10, 100.0, T0)
    book.fill("o2", "NSE:A", 1, "CNC", True, 10, 110.0, T0)
    assert book.lots[("NSE:A", "CNC")].average == 105.0 and book.held == 1
    book.mark(1, 120.0)
    assert book.unrealised == pytest.approx(300.0)
    realised = book.fill("o3", "NSE:A", 1, "CNC", False, 25, 120.0, T0 + timedelta(minutes=5))  # through zero
    assert realised == pytest.approx(300.0) and book.quantity("NSE:A") == -5
    assert book.lots[("NSE:A", "CNC")].average == 120.0 and book.unrealised == pytest.approx(0.0)
    book.charge("o3", "NSE:A", "CNC", 50.0)  # 20 of its 25 closed the long, 5 opened the short
    long_trip = book.trips[0]
    assert long_trip.side == "long" and long_trip.realised == pytest.approx(300.0)
    assert long_trip.charges == pytest.approx(40.0) and long_trip.net == pytest.approx(260.0)
    assert book.pnl == pytest.approx(300.0 - 50.0)
    again = Book.from_json(book.to_json())
    assert again.quantity("NSE:A") == -5 and again.pnl == pytest.approx(book.pnl) and again.held == 1


def test_timers_fire_every_period_and_at_a_time_of_day_skipping_days_without_events() -> None:
    clock = ManualClock(T0)
    timers = StrategyClock(clock)
    every = timers.every("15m")
    at = timers.at(time(15, 10))
    assert timers.due(T0 + timedelta(minutes=14)) == []
    assert timers.due(T0 + timedelta(minutes=15)) == [every]
    assert timers.due(T0 + timedelta(hours=2)) == [every]  # a gap: once, then on from there
    assert every.due == T0 + timedelta(hours=2, minutes=15)
    afternoon = datetime(2026, 11, 27, 15, 10, 30, tzinfo=IST)
    assert at in timers.due(afternoon)
    assert at.due == datetime(2026, 11, 28, 15, 10, tzinfo=IST)
    monday = datetime(2026, 11, 30, 9, 15, tzinfo=IST)  # Saturday's 15:10 passed with no event: not fired Monday
    assert at not in timers.due(monday) and at.due == datetime(2026, 11, 30, 15, 10, tzinfo=IST)
    every.cancel()
    assert timers.due(monday + timedelta(hours=1)) == []
    assert parse_every("90s") == timedelta(seconds=90) and parse_every(2) == timedelta(seconds=2)
    with pytest.raises(ValueError, match="is not a span"):
        parse_every("soon")


def test_a_kill_flag_is_read_as_written_by_kitekit_kill_a_cron_job_or_an_empty_touch(tmp_path: Path) -> None:
    flag = tmp_path / "KILL"
    assert read_kill(flag) is None
    request_kill(flag, flatten=True, reason="risk desk")
    found = read_kill(flag)
    assert found is not None and found.flatten and found.reason == "risk desk"
    flag.write_text("")  # `touch KILL`
    assert read_kill(flag) == read_kill(flag) and not read_kill(flag).flatten  # type: ignore[union-attr]
    flag.write_text("flatten\nby cron at 15:05\n")
    assert read_kill(flag).flatten  # type: ignore[union-attr]
    ticks = iter([0.0, 0.1, 0.5])
    switch = KillSwitch([tmp_path / "other", flag], interval=0.2, monotonic=lambda: next(ticks))
    assert switch.check() is not None  # at 0.0
    flag.unlink()
    assert switch.check() is None  # 0.1: not looked at again yet
    assert switch.check() is None  # 0.5: looked, gone


def test_statistics_of_a_known_curve() -> None:
    times = [datetime(2026, 11, d, 15, 29, tzinfo=IST) for d in (23, 24, 25, 26, 27)]
    curve = equity_frame(times, [100.0, 110.0, 99.0, 104.5, 121.0], [True, True, False, True, True])
    assert curve["drawdown"].min() == pytest.approx(99.0 / 110.0 - 1.0)
    trades = pd.DataFrame({"charges": [1.0, 2.0]})
    stats = compute_stats(curve, [], trades, 100.0, orders=2)
    assert stats["total_return"] == pytest.approx(0.21) and stats["max_drawdown"] == pytest.approx(-0.1)
    assert stats["exposure"] == pytest.approx(0.8) and stats["charges"] == 3.0
    assert stats["max_drawdown_duration_days"] == pytest.approx(3.0)  # from the 24th's peak to the 27th's new one
    returns = pd.Series([0.0, 0.1, -0.1, 0.05556, 0.15789])
    assert stats["sharpe"] == pytest.approx(returns.mean() / returns.std() * math.sqrt(252), rel=1e-3)
    assert math.isnan(stats["win_rate"]) and stats["round_trips"] == 0


def test_grids_limits_and_names_are_parsed_strictly() -> None:
    assert parse_grid(["fast=10,20,30 slow=50,100"]) == {"fast": ["10", "20", "30"], "slow": ["50", "100"]}
    assert len(combinations(parse_grid(["a=1,2", "b=3,4,5"]))) == 6
    with pytest.raises(RunError, match="given twice"):
        parse_grid(["a=1", "a=2"])
    ranked = rank([{"sharpe": 1.0}, {"sharpe": float("nan")}, {"sharpe": 2.0}])
    assert [r["sharpe"] for r in ranked][:2] == [2.0, 1.0] and ranked[0]["rank"] == 1
    limits = parse_limits({"max_daily_loss": "5000", "squareoff_at": "15:05", "order_rate": "none"})
    assert limits == RiskLimits(max_daily_loss=5000.0, squareoff_at=time(15, 5), order_rate=None)
    with pytest.raises(ValueError, match="must not be negative"):
        parse_limits({"max_order_value": "-1"})
    assert run_name("my strategy/v2") == "my-strategy-v2"
    prefix = tag_prefix("run", T0.date())
    assert len(prefix) == 12 and prefix.isalnum() and prefix.endswith("1127")
    short = tag_prefix("run", T0.date(), 11)  # Angel's tags take 19: the hash gives up a character
    assert len(short) == 11 and short.endswith("1127") and prefix.startswith(short[:7])


def test_a_runs_state_and_logs_survive_a_torn_last_line_and_a_damaged_state_is_refused(tmp_path: Path) -> None:
    log = JsonLines(tmp_path / "trades.jsonl")
    log.append({"a": 1})
    log.append({"a": 2})
    with (tmp_path / "trades.jsonl").open("a") as fh:
        fh.write('{"a": 3')  # a crash in the middle of a line
    assert log.load() == [{"a": 1}, {"a": 2}]
    folder = RunFolder(tmp_path / "run").create()
    folder.save_state(RunState(day="2026-11-27", seq=4, killed={"reason": "x"}))
    loaded = folder.load_state()
    assert loaded is not None and loaded.seq == 4 and loaded.killed == {"reason": "x"}
    folder.file("state.json").write_text("{not json")
    with pytest.raises(ValueError, match="move it aside"):
        folder.load_state()


def test_amounts_are_written_the_indian_way() -> None:
    assert rupees(1234567.891) == "₹12,34,567.89" and rupees(-2284.31) == "-₹2,284.31"
    assert format_stat("total_return", 0.1234) == "12.34%" and format_stat("sharpe", float("nan")) == "–"
    assert format_stat("profit_factor", "inf") == "∞"


def test_round_trip_times_with_and_without_fractions_of_a_second_are_read_alike() -> None:
    import pandas as pd

    from kitekit.runner.report import instants

    read = instants(pd.Series(["2026-11-27T09:43:13+05:30", "2026-11-27T09:43:13.053280+05:30"]))
    assert [t.isoformat() for t in read] == ["2026-11-27T09:43:13+05:30", "2026-11-27T09:43:13.053280+05:30"]


def test_a_neutral_tick_becomes_the_kite_tick_dict_strategies_and_the_paper_broker_read() -> None:
    from kitekit.brokers.model import Level, Ohlc, Tick
    from kitekit.runner.brokered import kite_tick

    stamp = T0.replace(hour=10)
    tick = Tick("NSE:INFY", 1500.5, "full", stamp, volume=900, last_quantity=3, average_price=1499.0,
                ohlc=Ohlc(1490.0, 1510.0, 1480.0, 1495.0), bids=(Level(1500.4, 10, 2),),
                asks=(Level(1500.6, 7, 1),))  # fmt: skip
    got = kite_tick(tick, 408065)
    assert got["instrument_token"] == 408065 and got["last_price"] == 1500.5
    assert got["exchange_timestamp"] == stamp and got["volume_traded"] == 900 and got["last_traded_quantity"] == 3
    assert got["ohlc"] == {"open": 1490.0, "high": 1510.0, "low": 1480.0, "close": 1495.0}
    assert got["depth"] == {"buy": [{"price": 1500.4, "quantity": 10, "orders": 2}],
                            "sell": [{"price": 1500.6, "quantity": 7, "orders": 1}]}  # fmt: skip
    assert "depth" not in kite_tick(Tick("NSE:NIFTY 50", 26000.0, "ltp", stamp), 256265)  # no book: none made up
