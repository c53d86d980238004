"""The simulated world: a market clock that runs through sessions only, kept on disk, shared, and told to clients."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kitekit.cli import run
from kitekit.clock import IST, ManualClock, SystemClock
from kitekit.errors import SimWorldError
from kitekit.markethours import TradingCalendar
from kitekit.sessionclock import SessionClock, advance_in_sessions, clock_from_description, describe_clock
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.world import World, WorldClock

from .conftest import empty_cli_home

CAL = TradingCalendar()


def ist(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=IST)


# -- the session clock ------------------------------------------------------------------------------------------
def test_market_time_runs_to_the_close_then_on_at_the_next_trading_days_open() -> None:
    # Monday 2027-01-25 15:29; Tuesday 2027-01-26 is Republic Day: the next session is Wednesday's.
    assert advance_in_sessions(CAL, ist("2027-01-25 15:29"), 59) == ist("2027-01-25 15:29:59")
    assert advance_in_sessions(CAL, ist("2027-01-25 15:29"), 60) == ist("2027-01-27 09:15")
    assert advance_in_sessions(CAL, ist("2027-01-25 15:29"), 90) == ist("2027-01-27 09:15:30")
    # Friday's close rolls over the weekend.
    assert advance_in_sessions(CAL, ist("2026-11-27 15:00"), 3600) == ist("2026-11-30 09:45")


def test_an_anchor_outside_the_session_runs_in_real_time_until_the_open() -> None:
    # 05:59 on a trading day passes 06:00 (the token flush) and 08:30 (the dump) as time does.
    assert advance_in_sessions(CAL, ist("2026-12-08 05:59"), 120) == ist("2026-12-08 06:01")
    assert advance_in_sessions(CAL, ist("2026-12-08 05:59"), (3 * 60 + 16) * 60) == ist("2026-12-08 09:15")
    # A Saturday morning waits for Monday's open, then trades.
    saturday = ist("2026-12-05 10:00")
    monday_open = ist("2026-12-07 09:15")
    gap = (monday_open - saturday).total_seconds()
    assert advance_in_sessions(CAL, saturday, gap + 60) == monday_open + timedelta(minutes=1)
    # After the close, the next session is the next trading day's, not the same day's.
    assert advance_in_sessions(CAL, ist("2026-12-31 23:59"), 0) == ist("2026-12-31 23:59")
    assert advance_in_sessions(CAL, ist("2026-12-31 23:59"), 60) == ist("2027-01-01 00:00")


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31)),  # noqa: DTZ001 - naive bounds, as hypothesis wants
    st.lists(st.floats(min_value=0, max_value=5 * 86_400), min_size=1, max_size=6),
)
def test_one_long_step_lands_where_many_short_ones_do(start: datetime, steps: list[float]) -> None:
    begin = start.replace(tzinfo=IST, microsecond=0)
    stepped = begin
    for seconds in steps:
        stepped = advance_in_sessions(CAL, stepped, seconds)
    assert abs((advance_in_sessions(CAL, begin, sum(steps)) - stepped).total_seconds()) < 1e-3


def test_the_session_clock_follows_the_wall_and_a_description_tells_the_same_time() -> None:
    wall = ManualClock(datetime(2026, 12, 4, 23, 0, tzinfo=IST))  # a Friday night on the wall
    clock = SessionClock(SIM_NOW, wall.now(), speed=60, wall=wall)
    wall.advance(timedelta(minutes=5))  # five wall minutes at 60x: five market hours, past Friday's close
    assert clock.now() == ist("2026-11-30 09:45")  # 11:00 + 4h30 to the close, then 30 minutes into Monday
    copy = clock_from_description(json.loads(json.dumps(describe_clock(clock))), wall)
    wall.advance(timedelta(seconds=7))
    assert copy.now() == clock.now()
    frozen = clock_from_description(describe_clock(ManualClock(SIM_NOW)), wall)
    assert frozen.now() == SIM_NOW and describe_clock(SystemClock())["mode"] == "wall"
    with pytest.raises(ValueError, match="unknown clock mode"):
        clock_from_description({"mode": "sundial"})


# -- the world on disk ------------------------------------------------------------------------------------------
@pytest.fixture
def wall() -> ManualClock:
    return ManualClock(datetime(2026, 12, 4, 22, 0, tzinfo=IST))


def test_a_new_world_starts_at_the_latest_session_and_goes_on_between_runs(tmp_path: Path, wall: ManualClock) -> None:
    first = World(tmp_path, wall).open()
    assert first.now() == ist("2026-12-04 09:15")  # Friday night on the wall: Friday's session from its open
    wall.advance(timedelta(hours=7))  # nobody runs for seven hours: the session ended, Monday's went on
    again = World(tmp_path, wall).open()
    assert again.now() == first.now() == ist("2026-12-07 10:00")
    assert (tmp_path / "world.json").stat().st_mode & 0o777 == 0o600


def test_a_world_never_starts_again_elsewhere_unless_asked_to_start_fresh(tmp_path: Path, wall: ManualClock) -> None:
    (tmp_path / "exchange-KK1234.json").write_text("{}")
    (tmp_path / "state.json").write_text("{}")
    World(tmp_path, wall).open(at=SIM_NOW)
    wall.advance(timedelta(minutes=30))
    assert World(tmp_path, wall).open(at=SIM_NOW).now() == SIM_NOW + timedelta(minutes=30)  # the same world
    with pytest.raises(SimWorldError, match=r"began at 2026-11-27 11:00 IST and is now at 2026-11-27 11:30.*--fresh"):
        World(tmp_path, wall).open(at=ist("2027-01-27 10:00"))
    with pytest.raises(SimWorldError, match=r"runs through market sessions\. Add --fresh"):
        World(tmp_path, wall).open(real_time=True)
    assert (tmp_path / "exchange-KK1234.json").exists()  # a refusal touches nothing
    fresh = World(tmp_path, wall).open(at=ist("2027-01-27 10:00"), fresh=True)
    assert fresh.now() == ist("2027-01-27 10:00")
    assert not (tmp_path / "exchange-KK1234.json").exists() and not (tmp_path / "state.json").exists()


def test_a_new_speed_goes_on_from_where_the_market_is(tmp_path: Path, wall: ManualClock) -> None:
    World(tmp_path, wall).open(at=SIM_NOW)
    wall.advance(timedelta(minutes=10))
    faster = World(tmp_path, wall).open(speed=6)
    assert faster.now() == SIM_NOW + timedelta(minutes=10)
    wall.advance(timedelta(minutes=10))
    assert faster.now() == SIM_NOW + timedelta(minutes=70)
    with pytest.raises(SimWorldError, match="must be positive"):
        World(tmp_path, wall).open(speed=0)


def test_moving_a_world_on_shows_in_a_clock_already_running_on_it(tmp_path: Path, wall: ManualClock) -> None:
    running = World(tmp_path, wall).open(at=SIM_NOW)
    assert isinstance(running, WorldClock)
    running.RECHECK_S = 0  # look at the file on every reading
    World(tmp_path, wall).advance(timedelta(hours=5).total_seconds())
    assert running.now() == ist("2026-11-30 09:45")  # 4h30 to Friday's close, 30 minutes into Monday
    assert describe_clock(running)["anchor"] == "2026-11-30T09:45:00+05:30"
    with pytest.raises(SimWorldError, match="only goes forward"):
        World(tmp_path, wall).advance(-1)
    with pytest.raises(SimWorldError, match="no simulated world"):
        World(tmp_path / "elsewhere", wall).advance(60)


def test_a_damaged_world_file_starts_the_clock_again_and_keeps_the_accounts(tmp_path: Path, wall: ManualClock) -> None:
    (tmp_path / "world.json").write_text('{"version": 1, "speed": "fast"')
    (tmp_path / "exchange-KK1234.json").write_text("{}")
    assert World(tmp_path, wall).open(at=SIM_NOW).now() == SIM_NOW
    assert (tmp_path / "world.json.damaged").exists() and (tmp_path / "exchange-KK1234.json").exists()


# -- the CLI on one world ---------------------------------------------------------------------------------------
@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return empty_cli_home(tmp_path, monkeypatch, columns=160)


def test_sim_commands_share_one_world_and_every_time_they_show_is_its_time(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--sim", "login"]) == 0
    out = capsys.readouterr().out
    # Logged in at the world's 2026-11-27 11:00, whatever today is: the session ends at 06:00 the next morning.
    assert "2026-11-28 06:00" in out, out
    assert run(["--sim", "status"]) == 0  # a second command: the same world, the same session
    assert "valid" in capsys.readouterr().out
    world = json.loads((home / "data" / "sim" / "embedded" / "world.json").read_text())
    assert world["origin"] == SIM_NOW.isoformat()


def test_a_world_asked_to_start_elsewhere_is_refused_with_the_way_out(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(["--sim", "status"]) in (0, 3)
    capsys.readouterr()
    assert run(["--sim", "--sim-at", "2027-01-27T10:00+05:30", "status"]) == 2
    assert "--fresh" in capsys.readouterr().err
    assert run(["--sim", "--sim-at", "2027-01-27 10:00", "--sim-fresh", "login"]) == 0
    assert "2027-01-28 06:00" in capsys.readouterr().out
    assert run(["--sim", "--sim-at", "tomorrow", "status"]) == 2
    assert "is not an instant" in capsys.readouterr().err
    monkeypatch.setenv("KITE_SIM_STATE", str(home / "elsewhere"))
    assert run(["--sim", "status"]) == 3  # another world, never logged in
    assert (home / "elsewhere" / "world.json").exists()


def test_sim_server_refuses_an_instant_its_world_has_left(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(home / "w")
    World(home / "w").open(at=SIM_NOW)
    assert run(["sim", "--port", "0", "--state", state, "--at", "2027-01-27"]) == 2
    assert "Add --fresh" in capsys.readouterr().err
    assert run(["sim", "--port", "0", "--at", "2027-01-27", "--real-time"]) == 2


def test_a_library_on_kite_sim_tells_the_worlds_time_in_everything_built_on_its_client(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kitekit
    from kitekit.cli import library
    from kitekit.clock import clock_of
    from kitekit.history import CandleStore, History
    from kitekit.instruments import InstrumentStore
    from kitekit.paths import cache_dir, data_dir

    monkeypatch.setenv("KITE_SIM", "1")
    try:
        kite = kitekit.get_kite()
        now = clock_of(kite).now()
        assert timedelta(0) <= now - SIM_NOW < timedelta(minutes=5)
        store = InstrumentStore(cache_dir() / "instruments", kite)
        assert store.clock is clock_of(kite) and store.dump_day() == date(2026, 11, 27)
        assert History(kite, store, CandleStore()).clock is clock_of(kite)
        assert data_dir() == home / "data" / "sim" / "embedded"  # nothing simulated lands among real data
        assert run(["--sim", "status"]) == 0  # the CLI finds the library's session: one session, not two
    finally:
        if library._context is not None:
            library._context.close()
            library._context = None


def test_a_cli_on_a_running_simulator_reads_its_clock(
    home: Path, cli_sim: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kitekit.cli.context import CliContext
    from kitekit.sim.server import SimServer

    assert isinstance(cli_sim, SimServer)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    context = CliContext.from_env(None, None, None)
    assert context.clock.now() == SIM_NOW
    assert run(["login"]) == 0
    assert "2026-11-28 06:00" in capsys.readouterr().out


def test_status_tells_a_session_the_simulator_ended_from_a_valid_one(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kitekit.sim.auth import AuthState
    from kitekit.sim.config import SimConfig

    assert run(["--sim", "login"]) == 0
    world = home / "data" / "sim" / "embedded"
    assert AuthState(SimConfig(state_file=world / "state.json"), ManualClock(SIM_NOW)).expire_all() == 1
    capsys.readouterr()
    assert run(["--sim", "status"]) == 3
    out = capsys.readouterr().out
    assert "dead (the simulator ended it)" in out and "kitekit --sim login" in out


def test_every_now_a_simulator_session_shows_is_the_simulators(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The world is pinned at Friday 2026-11-27 11:00: whatever today is, every stamp a command shows or writes
    # falls within minutes of it.
    day = "2026-11-27 11:0"
    assert run(["--sim", "monitor", "NIFTY 50", "--count", "1"]) == 0
    assert capsys.readouterr().out.startswith(day)
    assert run(["--sim", "monitor", "NIFTY 50", "--count", "1", "--every", "0.1", "--csv", str(home / "m.csv")]) == 0
    assert (home / "m.csv").read_text().splitlines()[1].startswith("2026-11-27T11:0")
    assert run(["--sim", "ticks", "NIFTY 50", "--count", "2"]) == 0
    assert day in capsys.readouterr().out
    assert run(["--sim", "record", "NIFTY 50", "--out", str(home / "rec"), "--count", "3"]) == 0
    assert [p.name for p in (home / "rec").iterdir() if p.suffix == ".parquet"] == ["ticks-2026-11-27.parquet"]
    assert run(["--sim", "order", "buy", "INFY", "1"]) == 0
    capsys.readouterr()
    assert run(["--sim", "orders"]) == 0
    assert re.search(r"│ 11:0\d:\d\d ", capsys.readouterr().out)  # the order book shows the time of day


def _ltp(out: str, symbol: str) -> float:
    row = next(line for line in out.splitlines() if f"│ {symbol} " in line)
    return float(row.split("│")[2].replace(",", ""))


def test_a_scripted_day_twice_the_market_moves_and_resting_orders_fill_while_nothing_runs(
    home: Path, capsys: pytest.CaptureFixture[str], sim_market: object
) -> None:
    from kitekit.engine.path import Candle
    from kitekit.sim.market import Market
    from kitekit.wire.history import Interval

    assert isinstance(sim_market, Market)  # the embedded world's market: the same seed, the same prices
    world = home / "data" / "sim" / "embedded"
    seen: list[float] = []
    for _ in ("the first run", "the same script again, in the world the first one left"):
        assert run(["--sim", "quote", "INFY"]) == 0
        before = _ltp(capsys.readouterr().out, "INFY")
        clock = World(world).clock()
        assert clock is not None
        now = clock.now()
        # The lowest INFY trades in the coming hour, read from the simulator's own model: a limit a tick above it
        # is crossed within the hour, and only then (it is below the price now).
        uni = sim_market.universe(now)
        row = uni.by_key["NSE:INFY"]
        later = now + timedelta(hours=1)
        minutes = [Candle.from_kite(c) for c in sim_market.candles(uni, row, Interval.MINUTE, now, later, later)]
        low = min(c.low for c in minutes if c.start > now)
        limit = round(low + 0.05, 2)
        crossed = next(c.start for c in minutes if c.start > now and c.low <= limit)
        assert limit < before
        assert run(["--sim", "order", "buy", "INFY", "5", "--limit", f"{limit}"]) == 0  # paper
        assert run(["--sim", "order", "buy", "INFY", "3", "--limit", f"{limit}", "--live", "--yes"]) == 0
        assert "OPEN" in capsys.readouterr().out
        World(world).advance(3600)  # an hour of market passes with no command, no simulator running
        assert run(["--sim", "orders"]) == 0  # paper: filled along the path, at its limit
        paper_book = capsys.readouterr().out
        assert run(["--sim", "orders", "--live"]) == 0  # the simulator's exchange: the same
        live_book = capsys.readouterr().out
        for book in (paper_book, live_book):
            last = [line for line in book.splitlines() if "NSE:INFY" in line][-1]
            assert "COMPLETE" in last and f"{limit:,.2f}" in last, book
        for where in ([], ["--live"]):
            assert run(["--sim", "trades", *where]) == 0
            fill = [line for line in capsys.readouterr().out.splitlines() if "NSE:INFY" in line][-1]
            assert f" {crossed:%H:%M}:" in fill, (crossed, fill)  # filled in the minute the market reached it
        assert run(["--sim", "quote", "INFY"]) == 0
        after = _ltp(capsys.readouterr().out, "INFY")
        assert after != before  # the market moved between the commands
        seen += [before, after]
        for where in ([], ["--live"]):
            assert run(["--sim", "positions", *where]) == 0
            position = next(line for line in capsys.readouterr().out.splitlines() if "│ NSE:INFY" in line)
            pnl = position.split("│")[6].strip()
            assert re.fullmatch(r"[+-]₹[\d,]+\.\d\d", pnl) and pnl.strip("+-₹") != "0.00", position
    assert len(set(seen)) == 4  # the second run went on from where the first left the market
