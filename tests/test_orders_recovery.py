"""The intent journal's crash recovery, idempotent cancels and modifies, and the order budgets, over real HTTP."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from kitekit.clock import ManualClock, SystemClock
from kitekit.errors import OrderBudgetError, OrderStateError
from kitekit.instruments import InstrumentStore
from kitekit.orders import Budget, IntentJournal, IntentState, LiveBroker, LookupPolicy, OrderChange, OrderRequest
from kitekit.orders.journal import derive_tag
from kitekit.orders.rules import nearest_tick
from kitekit.sim.config import SimConfig
from kitekit.sim.server import SimServer
from kitekit.wire.routes import EndpointClass
from tests.conftest import eventually
from tests.orders_helpers import accepted, advancing, client, sent

ACCOUNT = "KK1234"


def broker(sim: SimServer, store: InstrumentStore, clock: ManualClock, folder: Path, **options: object) -> LiveBroker:
    return LiveBroker(client(sim), store, folder=folder, clock=clock, sleep=advancing(clock),
                      lookup=LookupPolicy(settle=2.0, looks=3), **options)  # type: ignore[arg-type]  # fmt: skip


def resting(live: LiveBroker, key: str = "NSE:INFY", quantity: int = 1) -> OrderRequest:
    last = float(live.kite.ltp(key)[key]["last_price"])
    return OrderRequest.buy(key, quantity, price=nearest_tick(last * 0.96, 0.05))


def in_doubt(live: LiveBroker, intent_id: str, request: OrderRequest) -> dict[str, object]:
    """Leave an intent as a process killed right after claiming it would (its journal gone); return its request."""
    now = live.clock.now()
    params = live.check(request).to_kite()
    tag = derive_tag(intent_id, ACCOUNT, now.date())
    journal = IntentJournal(live.journal.path)  # the other process's
    intent = journal.open(ACCOUNT, now.date(), intent_id, tag, params, now)
    assert journal.claim(intent, now, 400, 5000).won
    journal.close()  # killed: its claim's owner is gone
    return {**params, "tag": tag}


def test_the_journal_is_sqlite_in_wal_mode_synced_in_full_and_private(tmp_path: Path) -> None:
    journal = IntentJournal(tmp_path / "orders")
    con = sqlite3.connect(journal.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal._con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: fsync'd at every commit
    assert journal.path.stat().st_mode & 0o777 == 0o600


def test_an_intent_in_doubt_whose_order_arrived_is_found_at_start_and_never_sent_again(
    sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    first = broker(sim, sim_instruments, sim_clock, tmp_path / "orders")
    request = resting(first)
    params = in_doubt(first, "crash1", request)
    order_id = first.kite.place_order(**params)  # the request got out; the process died before the answer
    posts = sent(sim)
    restarted = broker(sim, sim_instruments, sim_clock, tmp_path / "orders")
    assert [i.order_id for i in restarted.last_reconciliation.found] == [order_id]
    again = restarted.place(request, "crash1")
    assert (again.order_id, again.replayed, sent(sim)) == (order_id, True, posts)


def test_an_intent_in_doubt_whose_request_never_left_is_sent_exactly_once_after_restart(
    sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    first = broker(sim, sim_instruments, sim_clock, tmp_path / "orders")
    request = resting(first)
    in_doubt(first, "crash2", request)  # killed between the journal and the network
    restarted = broker(sim, sim_instruments, sim_clock, tmp_path / "orders")
    [absent] = restarted.last_reconciliation.absent
    assert absent.state is IntentState.NEW and sent(sim) == 0
    placed = restarted.place(request, "crash2")
    assert sent(sim) == 1 and [o["order_id"] for o in accepted(sim) if o["tag"] == placed.tag] == [placed.order_id]


def test_intents_left_in_doubt_on_an_earlier_day_are_given_up_not_sent(
    sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    first = broker(sim, sim_instruments, sim_clock, tmp_path / "orders")
    in_doubt(first, "yesterday", resting(first))
    sim_clock.advance(timedelta(days=3))  # the next Monday
    restarted = broker(sim, sim_instruments, sim_clock, tmp_path / "orders")
    [failed] = restarted.last_reconciliation.failed
    assert failed.state is IntentState.FAILED and "order book is gone" in (failed.message or "")
    assert sent(sim) == 0


def test_a_cancel_is_idempotent_and_a_filled_order_says_why_it_cannot_be_cancelled(
    sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    live = broker(sim, sim_instruments, sim_clock, tmp_path / "orders")
    order_id = live.place(resting(live), "c1").order_id
    assert live.cancel(order_id) == order_id
    assert live.cancel(order_id) == order_id
    assert sent(sim, "DELETE") == 1 and live.order(order_id).status == "CANCELLED"
    filled = live.place(OrderRequest.buy("NSE:INFY", 1), "c2").order_id
    with pytest.raises(OrderStateError, match="is COMPLETE; it cannot be cancelled"):
        live.cancel(filled)
    assert sent(sim, "DELETE") == 1


def test_a_modify_is_idempotent(sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock,
                                tmp_path: Path) -> None:  # fmt: skip
    live = broker(sim, sim_instruments, sim_clock, tmp_path / "orders")
    request = resting(live)
    order_id = live.place(request, "m1").order_id
    change = OrderChange(price=(request.price or 0) + 1.0)
    live.modify(order_id, change)
    live.modify(order_id, change)
    assert sent(sim, "PUT") == 1
    assert [str(s.status) for s in live.order_history(order_id)].count("MODIFIED") == 1


def slow_changes(sim: SimServer, order_id: str) -> None:
    """Hold every modify and cancel of ``order_id`` for a second before the simulator reads it."""
    requests.put(f"{sim.url}/__sim/faults", json={"latency_ms": 1000, "paths": [f"/orders/regular/{order_id}"]},
                 timeout=5).raise_for_status()  # fmt: skip


def impatient(sim: SimServer, sim_instruments: InstrumentStore, tmp_path: Path) -> LiveBroker:
    """A broker on the wall clock whose client gives up after 0.3 s."""
    return LiveBroker(client(sim, timeout=0.3), sim_instruments, folder=tmp_path / "orders", clock=SystemClock(),
                      lookup=LookupPolicy(settle=3.0, looks=7))  # fmt: skip


def test_a_cancel_applied_after_the_client_gave_up_is_found_not_sent_again(
    sim: SimServer, sim_instruments: InstrumentStore, tmp_path: Path
) -> None:
    live = impatient(sim, sim_instruments, tmp_path)
    order_id = live.place(resting(live), "lost").order_id
    slow_changes(sim, order_id)
    live.cancel(order_id)
    assert live.order(order_id).status == "CANCELLED" and sent(sim, "DELETE") == 1


def test_a_modify_that_never_arrived_is_sent_again_and_applied_once(
    sim: SimServer, sim_instruments: InstrumentStore, tmp_path: Path
) -> None:
    live = impatient(sim, sim_instruments, tmp_path)
    request = resting(live)
    order_id = live.place(request, "never").order_id
    slow_changes(sim, order_id)  # the client hangs up first, so the simulator never reads the change

    def heal() -> None:
        eventually(lambda: sent(sim, "PUT") >= 1)
        requests.delete(f"{sim.url}/__sim/faults", timeout=5).raise_for_status()

    healer = threading.Thread(target=heal)
    healer.start()
    change = OrderChange(price=(request.price or 0) + 1.0)
    live.modify(order_id, change)
    healer.join()
    assert live.order(order_id).price == change.price and sent(sim, "PUT") == 2
    assert [str(s.status) for s in live.order_history(order_id)].count("MODIFIED") == 1


@pytest.fixture
def capped(sim_config: SimConfig) -> SimConfig:
    """The simulator's 400-a-minute order cap on, its 10-a-second limits off (the test sends fast, its clock stands)."""
    sim_config.rate_limits[EndpointClass.ORDER] = 0
    sim_config.orders_per_second = 1000
    return sim_config


def test_the_400_a_minute_budget_waits_for_room_and_the_exchange_never_refuses(
    capped: SimConfig, sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        sim_clock.advance(seconds)

    live = LiveBroker(client(sim, order_rate=0), sim_instruments, folder=tmp_path / "orders", clock=sim_clock,
                      sleep=sleep)  # fmt: skip
    request = resting(live, "NSE:TATASTEEL")
    for i in range(401):
        live.place(request, f"b{i}")
    assert waits == [pytest.approx(61.0)]
    assert sim.sim.order_caps.rejected == 0 and len(accepted(sim)) == 401


def test_the_days_budget_stops_before_sending(
    sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    live = broker(sim, sim_instruments, sim_clock, tmp_path / "orders", budget=Budget(per_day=3))
    request = resting(live)
    for i in range(3):
        live.place(request, f"d{i}")
    with pytest.raises(OrderBudgetError, match="3 order requests were sent today"):
        live.place(request, "d3")
    assert sent(sim) == 3 and live.intents()[-1].state is IntentState.NEW
