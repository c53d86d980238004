"""The paper broker: the engine at the simulator's quotes, intents once, idempotent changes, a ledger that lasts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from kiteconnect.exceptions import InputException

from kitekit.clock import ManualClock
from kitekit.errors import IntentConflictError, JournalError, OrderStateError, OrderValidationError
from kitekit.instruments import InstrumentStore
from kitekit.orders import (
    OrderChange,
    OrderEvents,
    OrderRequest,
    OrderStatus,
    PaperBroker,
    QuoteRecorder,
    RecordedQuotes,
)
from kitekit.orders.rules import nearest_tick
from kitekit.sim.config import SimConfig
from kitekit.sim.server import SimServer


@pytest.fixture
def paper(
    unlimited: SimConfig, sim: SimServer, sim_kite: Any, sim_instruments: InstrumentStore, sim_clock: ManualClock,
    tmp_path: Path,
) -> PaperBroker:  # fmt: skip
    return PaperBroker(sim_kite, sim_instruments, folder=tmp_path / "paper", clock=sim_clock)


def reopen(paper: PaperBroker, tmp_path: Path) -> PaperBroker:
    """A second broker on the same ledger, as a restarted process would build it."""
    return PaperBroker(paper.source, paper.instruments, folder=tmp_path / "paper", clock=paper.clock)


def below(paper: PaperBroker, key: str = "NSE:INFY", share: float = 0.96) -> float:
    """A buy price under the market (it rests) and within the circuit limits."""
    return nearest_tick(float(paper.source.quote(key)[key]["last_price"]) * share, 0.05)


def test_a_market_buy_fills_at_the_simulators_depth_and_shows_in_positions(paper: PaperBroker) -> None:
    placed = paper.place(OrderRequest.buy("NSE:INFY", 10), "entry1")
    order = paper.order(placed.order_id)
    assert order.status == OrderStatus.COMPLETE and order.filled_quantity == 10
    # Sent with the validator's default protection (-1), booked as a LIMIT at its protection price.
    assert (order.raw["order_type"], order.raw["market_protection"], order.raw["tags"][-2]) == ("LIMIT", 0, "mktp")
    [trade] = [t for t in paper.trades() if t.order_id == placed.order_id]
    assert trade.quantity == 10 and trade.average_price == order.average_price
    [position] = paper.positions().net
    assert (position.key, position.quantity, position.product) == ("NSE:INFY", 10, "CNC")
    assert position.pnl == pytest.approx(10 * (position.last_price - order.average_price), abs=0.01)


def test_the_same_intent_twice_returns_the_first_order(paper: PaperBroker) -> None:
    price = below(paper)
    first = paper.place(OrderRequest.buy("NSE:INFY", 1, price=price), "dip-buy")
    again = paper.place(OrderRequest.buy("NSE:INFY", 1, price=price), "dip-buy")
    assert again.order_id == first.order_id and again.replayed and not first.replayed
    assert len(paper.orders()) == 1
    with pytest.raises(IntentConflictError, match="already used today"):
        paper.place(OrderRequest.buy("NSE:INFY", 2, price=price), "dip-buy")


def test_the_ledger_survives_a_restart(paper: PaperBroker, tmp_path: Path) -> None:
    bought = paper.place(OrderRequest.buy("NSE:INFY", 4), "a")
    resting = paper.place(OrderRequest.buy("NSE:INFY", 1, price=below(paper)), "b")
    before = (paper.positions(), paper.margins().equity.net)
    again = reopen(paper, tmp_path)
    assert [o.order_id for o in again.orders()] == [bought.order_id, resting.order_id]
    assert (again.positions().net, again.margins().equity.net) == (before[0].net, before[1])
    assert again.place(OrderRequest.buy("NSE:INFY", 4), "a").replayed


def test_a_damaged_ledger_is_reported_and_left_alone(paper: PaperBroker, tmp_path: Path) -> None:
    paper.ledger.path.write_text("{not json")
    with pytest.raises(JournalError, match="is damaged"):
        reopen(paper, tmp_path)
    assert paper.ledger.path.read_text() == "{not json"


def test_a_cancel_of_a_cancelled_order_succeeds_and_of_a_filled_one_says_why_not(paper: PaperBroker) -> None:
    resting = paper.place(OrderRequest.buy("NSE:INFY", 1, price=below(paper)), "r").order_id
    assert paper.cancel(resting) == resting
    assert paper.cancel(resting) == resting
    assert paper.order(resting).status == OrderStatus.CANCELLED
    filled = paper.place(OrderRequest.buy("NSE:INFY", 1), "f").order_id
    with pytest.raises(OrderStateError, match="is COMPLETE; it cannot be cancelled"):
        paper.cancel(filled)


def test_a_modification_already_in_place_is_not_sent_again(paper: PaperBroker) -> None:
    price = below(paper)
    order_id = paper.place(OrderRequest.buy("NSE:INFY", 1, price=price), "m").order_id
    paper.modify(order_id, OrderChange(price=price + 1))
    paper.modify(order_id, OrderChange(price=price + 1))
    statuses = [str(s.status) for s in paper.order_history(order_id)]
    assert statuses.count("MODIFIED") == 1 and paper.order(order_id).price == price + 1
    with pytest.raises(OrderValidationError, match="not a multiple of tick"):
        paper.modify(order_id, OrderChange(price=price + 0.02))


def test_a_refusal_is_the_sdks_exception_and_replays_as_the_same(paper: PaperBroker, sim_clock: ManualClock) -> None:
    sim_clock.set(sim_clock.now().replace(hour=17))  # the market is closed
    with pytest.raises(InputException, match="Markets are closed"):
        paper.place(OrderRequest.buy("NSE:INFY", 1), "late")
    with pytest.raises(InputException, match="Markets are closed"):
        paper.place(OrderRequest.buy("NSE:INFY", 1), "late")
    assert paper.orders() == []


def test_the_same_orders_on_recorded_quotes_fill_the_same(paper: PaperBroker, tmp_path: Path) -> None:
    price = below(paper)
    recorder = QuoteRecorder(paper.source)
    live = PaperBroker(recorder, paper.instruments, folder=tmp_path / "one", clock=paper.clock)
    for i, request in enumerate(_sequence(price)):
        live.place(request, f"s{i}")
    recorder.save(tmp_path / "quotes.json")
    replay = PaperBroker(RecordedQuotes.load(tmp_path / "quotes.json"), paper.instruments, folder=tmp_path / "two",
                         clock=paper.clock)  # fmt: skip
    for i, request in enumerate(_sequence(price)):
        replay.place(request, f"s{i}")
    assert [t.to_kite() for t in live.trades()] == [t.to_kite() for t in replay.trades()]


def _sequence(price: float) -> list[OrderRequest]:
    return [
        OrderRequest.buy("NSE:INFY", 10),
        OrderRequest.buy("NSE:RELIANCE", 5),
        OrderRequest.sell("NSE:INFY", 4),
        OrderRequest.buy("NSE:INFY", 1, price=price),
    ]


def test_order_events_report_each_change_once_by_callback_and_async_iterator(paper: PaperBroker) -> None:
    events = OrderEvents(paper, interval=0.01)
    seen: list[tuple[str, str]] = []
    events.on_update(lambda u: seen.append((u.order.order_id, str(u.status))))
    order_id = paper.place(OrderRequest.buy("NSE:INFY", 1, price=below(paper)), "e").order_id
    assert [(u.order.order_id, str(u.status)) for u in events.poll()] == [(order_id, "OPEN")]
    assert events.poll() == []
    paper.cancel(order_id)

    async def first_change() -> str:
        async for update in events.stream():
            return str(update.status)
        raise AssertionError("the stream ended")

    assert asyncio.run(asyncio.wait_for(first_change(), 10)) == "CANCELLED"
    assert seen == [(order_id, "OPEN"), (order_id, "CANCELLED")]


def test_a_pushed_update_merges_with_polling_and_a_stale_poll_is_ignored(paper: PaperBroker) -> None:
    events = OrderEvents(paper)
    order_id = paper.place(OrderRequest.buy("NSE:INFY", 1, price=below(paper)), "p").order_id
    [opened] = events.poll()
    assert events.push({**opened.order.raw, "status": "UPDATE"}) is None  # nothing new: UPDATE of an OPEN order
    done = events.push({**opened.order.raw, "status": "CANCELLED"})
    assert done is not None and done.previous == "OPEN" and done.source == "websocket"
    assert events.push(opened.order.raw) is None  # an older state arriving late
    assert events.poll() == []  # the book still shows it OPEN: paper never cancelled it
    assert paper.order(order_id).status == OrderStatus.OPEN
