"""Risk limits: each one refusing an order the strategy asks for, the loss limits' states, the intraday square-off.

The market is a few synthetic minute bars (the price is what each test needs) run through the real engine; the
strategy is a script of actions at given bars, and notes what each one returned or raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from kitekit.clock import IST
from kitekit.errors import RiskLimitError
from kitekit.orders import GttOrder, GttRequest, OrderChange, OrderRequest, TransactionType
from kitekit.runner import Bar, RiskLimits, RiskState, StaticInstruments, Strategy, backtest
from kitekit.wire.instruments_csv import Instrument
from kitekit.wire.orders import GttType

DAY = date(2026, 11, 26)
AAA, BBB = "NSE:AAA", "NSE:BBB"
INSTRUMENTS = StaticInstruments(
    [
        Instrument(9_000_001 + i, 9_000 + i, sym, sym, 0.0, None, 0.0, 0.05, 1, "EQ", "NSE", "NSE")
        for i, sym in enumerate(("AAA", "BBB"))
    ]
)

Action = Callable[["Script"], Any]


def bars(prices: Sequence[float], day: date = DAY, first: time = time(9, 15), volume: int = 1_000_000) -> pd.DataFrame:
    """Return one minute bar a price (open = high = low = close), from ``first`` on ``day``."""
    start = datetime.combine(day, first, tzinfo=IST)
    index = pd.DatetimeIndex([start + timedelta(minutes=i) for i in range(len(prices))], name="date")
    values = [float(p) for p in prices]
    return pd.DataFrame(
        {"open": values, "high": values, "low": values, "close": values, "volume": [volume] * len(values)},
        index=index,
    )


class Script(Strategy):
    """Runs ``steps[i]`` at the i-th bar of AAA and keeps what each returned (or the RiskLimitError it raised)."""

    symbols = (AAA,)

    def __init__(self, steps: dict[int, Action]) -> None:
        super().__init__()
        self.steps = steps
        self.results: dict[int, Any] = {}
        self.seen = 0

    def on_bar(self, bar: Bar) -> None:
        if bar.key != AAA:
            return
        step = self.steps.get(self.seen)
        self.seen += 1
        if step is not None:
            try:
                self.results[self.seen - 1] = step(self)
            except RiskLimitError as exc:
                self.results[self.seen - 1] = exc


def run(
    steps: dict[int, Action],
    prices: Sequence[float],
    tmp_path: Path,
    limits: RiskLimits,
    more: dict[str, pd.DataFrame] | None = None,
    **options: Any,
) -> tuple[Script, Any]:
    script = Script(steps)
    frames = {AAA: bars(prices), **(more or {})}
    result = backtest(
        script,
        instruments=INSTRUMENTS,
        bars=frames,
        symbols=list(frames),
        limits=limits,
        root=tmp_path,
        report=False,
        **options,
    )
    return script, result


def refused(result: Any, limit: str) -> bool:
    return isinstance(result, RiskLimitError) and result.limit == limit


def buy(quantity: int, key: str = AAA, product: str = "CNC", **terms: Any) -> Action:
    return lambda s: s.buy(key, quantity, product=product, **terms)


def sell(quantity: int, key: str = AAA, product: str = "CNC", **terms: Any) -> Action:
    return lambda s: s.sell(key, quantity, product=product, **terms)


def test_max_position_quantity_refuses_growing_past_it_and_lets_the_position_shrink(tmp_path: Path) -> None:
    limits = RiskLimits(max_position_quantity=15)
    script, result = run({0: buy(10), 1: buy(10), 2: buy(5), 3: sell(4), 4: buy(4)}, [100] * 6, tmp_path, limits)
    assert not isinstance(script.results[0], Exception)
    assert refused(script.results[1], "max_position_quantity")  # 10 + 10 > 15
    assert not isinstance(script.results[2], Exception)  # 15: at the limit
    assert not isinstance(script.results[3], Exception)  # shrinking always passes
    assert not isinstance(script.results[4], Exception)  # back to 15
    assert result.core.book.quantity(AAA) == 15
    assert "max_position_quantity" in str(script.results[1]) and "15" in str(script.results[1])


def test_max_position_quantity_counts_the_runs_open_orders(tmp_path: Path) -> None:
    limits = RiskLimits(max_position_quantity=15)
    # A limit far below the market rests; a second one would take the instrument past 15 if both filled.
    script, _ = run({0: buy(10, price=50.0), 1: buy(10, price=50.0)}, [100] * 3, tmp_path, limits)
    assert not isinstance(script.results[0], Exception) and refused(script.results[1], "max_position_quantity")


def test_max_position_value_and_max_order_value(tmp_path: Path) -> None:
    limits = RiskLimits(max_position_value=2_500.0, max_order_value=1_500.0)
    steps = {0: buy(20), 1: buy(10), 2: buy(5), 3: buy(5)}
    script, _ = run(steps, [100] * 5, tmp_path, limits)
    assert refused(script.results[0], "max_order_value")  # 20 × 100 = 2,000 > 1,500
    assert not isinstance(script.results[1], Exception)  # 1,000
    assert not isinstance(script.results[2], Exception)  # held 1,500 after it
    assert not isinstance(script.results[3], Exception)  # 2,000
    script, _ = run({0: buy(10), 1: buy(10), 2: buy(10)}, [100] * 4, tmp_path, limits)
    assert refused(script.results[2], "max_position_value")  # 3,000 > 2,500


def test_max_total_quantity_and_value_count_every_instrument(tmp_path: Path) -> None:
    other = {BBB: bars([200] * 4)}
    limits = RiskLimits(max_total_quantity=25)
    script, _ = run({0: buy(10), 1: buy(10, BBB), 2: buy(10)}, [100] * 4, tmp_path, limits, other)
    assert refused(script.results[2], "max_total_quantity")
    limits = RiskLimits(max_total_value=3_500.0)
    script, _ = run({0: buy(10), 1: buy(10, BBB), 2: buy(6)}, [100] * 4, tmp_path, limits, other)
    assert not isinstance(script.results[1], Exception)  # 1,000 + 2,000
    assert refused(script.results[2], "max_total_value")  # + 600 > 3,500


def test_max_orders_per_day_stops_a_runaway_and_starts_again_the_next_day(tmp_path: Path) -> None:
    class Runaway(Strategy):
        symbols = (AAA,)

        def on_start(self) -> None:
            self.outcomes: list[str] = []

        def on_bar(self, bar: Bar) -> None:
            try:
                self.buy(bar.key, 1, product="CNC")
                self.outcomes.append(f"{bar.start:%d} ok")
            except RiskLimitError as exc:
                self.outcomes.append(f"{bar.start:%d} {exc.limit}")

    frame = pd.concat([bars([100] * 5), bars([100] * 2, day=date(2026, 11, 27))])
    strategy = Runaway()
    backtest(
        strategy,
        instruments=INSTRUMENTS,
        bars={AAA: frame},
        limits=RiskLimits(max_orders_per_day=3),
        root=tmp_path,
        report=False,
    )
    assert strategy.outcomes == ["26 ok"] * 3 + ["26 max_orders_per_day"] * 2 + ["27 ok"] * 2


def test_kites_order_rate_is_a_limit_of_its_own(tmp_path: Path) -> None:
    burst: Action = lambda s: [s.buy(AAA, 1, product="CNC") for _ in range(12)]  # noqa: E731
    script, result = run({0: burst, 1: buy(1)}, [100] * 3, tmp_path, RiskLimits(order_rate=10.0))
    assert refused(script.results[0], "order_rate")  # the 11th in one second
    assert not isinstance(script.results[1], Exception)  # a minute later there is room again
    assert result.core.book.quantity(AAA) == 11


def test_the_daily_loss_moves_to_reducing_only_then_halts_flattens_and_ends_with_the_day(tmp_path: Path) -> None:
    class Losing(Strategy):
        """Buys 100 at the open; then tries to buy one and to sell ten at every bar; buys 5 at the next day's open."""

        symbols = (AAA,)

        def on_start(self) -> None:
            self.seen: list[tuple[datetime, str, str]] = []

        def on_bar(self, bar: Bar) -> None:
            if bar.start.date() == date(2026, 11, 27):
                self.seen.append((bar.start, "next day", self._try(lambda: self.buy(AAA, 5, product="CNC"))))
                return
            if not self.seen:
                self.buy(AAA, 100, product="CNC")
                self.seen.append((bar.start, "entry", "ok"))
                return
            self.seen.append((bar.start, "grow", self._try(lambda: self.buy(AAA, 1, product="CNC"))))
            self.seen.append((bar.start, "shrink", self._try(lambda: self.sell(AAA, 1, product="CNC"))))

        def _try(self, action: Callable[[], Any]) -> str:
            try:
                action()
            except RiskLimitError as exc:
                return exc.limit
            return "ok"

    # The price falls a rupee a bar: the day's loss passes 300 (reducing only), then 800 (halt and flatten).
    prices = [100, 100, 99, 98, 97, 96, 95, 94, 93, 92, 91, 90]
    frame = pd.concat([bars(prices), bars([90] * 3, day=date(2026, 11, 27))])
    strategy = Losing()
    result = backtest(
        strategy,
        instruments=INSTRUMENTS,
        bars={AAA: frame},
        root=tmp_path,
        report=False,
        limits=RiskLimits(reduce_at=300.0, max_daily_loss=800.0),
    )
    grows = [outcome for _, what, outcome in strategy.seen if what == "grow"]
    shrinks = [outcome for _, what, outcome in strategy.seen if what == "shrink"]
    assert grows[0] == "ok" and "reducing_only" in grows and set(shrinks) == {"ok"}
    day_one = [at for at, what, _ in strategy.seen if at.date() == DAY]
    halted_at = max(day_one)
    assert halted_at.time() < time(9, 15 + len(prices) - 1)  # halted: no more bars that day
    flattening = [r for r in result.core.order_rows if r["intent"].startswith("halt-")]
    assert len(flattening) == 1 and flattening[0]["side"] == "SELL"
    assert [o for _, w, o in strategy.seen if w == "next day"] == ["ok"] * 3  # a new day: active again
    assert result.core.book.quantity(AAA) == 15 and result.core.guard.state is RiskState.ACTIVE
    assert any("HALTED" in line for line in result.core.events)


def test_intraday_positions_are_squared_off_at_the_limits_time_before_the_brokers(tmp_path: Path) -> None:
    prices = [100.0] * (6 * 60 + 15)  # 09:15 to 15:30
    steps = {0: buy(10, product="MIS"), 1: buy(5, product="CNC"), 356: buy(1, product="MIS"), 357: buy(1)}
    script, result = run(steps, prices, tmp_path, RiskLimits(squareoff_at=time(15, 10)))
    closing = [r for r in result.core.order_rows if r["intent"].startswith("squareoff-")]
    assert len(closing) == 1 and closing[0]["quantity"] == 10 and closing[0]["side"] == "SELL"
    assert closing[0]["time"].time() == time(15, 10, 59)  # the first event at 15:10 or after, before 15:20
    assert refused(script.results[356], "squareoff_at")  # 15:11: no new intraday position today
    assert not isinstance(script.results[357], Exception)  # delivery orders go on
    assert result.core.book.quantity(AAA, "MIS") == 0 and result.core.book.quantity(AAA, "CNC") == 6


def test_a_strategy_cannot_place_a_gtt_set_a_tag_or_grow_an_order_past_a_limit(tmp_path: Path) -> None:
    order = GttOrder(TransactionType.BUY, 1, 90.0)
    gtt = GttRequest(GttType.SINGLE, "NSE", "AAA", (90.0,), 100.0, (order,))

    def place_gtt(s: Script) -> Any:
        return s.orders.place_gtt(gtt)

    def tagged(s: Script) -> Any:
        return s.orders.place(OrderRequest.buy(AAA, 1, product="CNC"), tag="mytag")

    def grow(s: Script) -> Any:
        placed = s.buy(AAA, 5, price=50.0, product="CNC")
        return s.orders.modify(placed.order_id, OrderChange(quantity=20))

    limits = RiskLimits(max_position_quantity=10)
    script, _ = run({0: place_gtt, 1: tagged, 2: grow}, [100] * 4, tmp_path, limits)
    assert refused(script.results[0], "gtt")
    assert refused(script.results[1], "tag")
    assert refused(script.results[2], "max_position_quantity")
