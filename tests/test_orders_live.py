"""The live broker over real HTTP against the simulator: one exchange order per intent, whatever goes wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kiteconnect.exceptions import InputException

from kitekit.clock import ManualClock
from kitekit.errors import OrderValidationError
from kitekit.instruments import InstrumentStore
from kitekit.orders import LiveBroker, LookupPolicy, OrderRequest, OrderStatus
from kitekit.orders.rules import nearest_tick
from kitekit.sim.server import SimServer
from tests.conftest import eventually
from tests.orders_helpers import accepted, advancing, client, order_faults, sent


@pytest.fixture
def live(sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path) -> LiveBroker:
    return LiveBroker(client(sim), sim_instruments, folder=tmp_path / "orders", clock=sim_clock,
                      lookup=LookupPolicy(settle=2.0, looks=3), sleep=advancing(sim_clock))  # fmt: skip


def below(live: LiveBroker, key: str = "NSE:INFY") -> float:
    """A buy price under the market (it rests) and within the circuit limits."""
    return nearest_tick(float(live.kite.ltp(key)[key]["last_price"]) * 0.96, 0.05)


def tagged(sim: SimServer, tag: str) -> list[dict[str, Any]]:
    return [o for o in accepted(sim) if o["tag"] == tag]


def test_an_order_breaking_a_rule_is_refused_before_anything_is_sent(live: LiveBroker, sim: SimServer) -> None:
    with pytest.raises(OrderValidationError, match=r"not a multiple of tick 0\.05; nearest"):
        live.place(OrderRequest.buy("NSE:INFY", 1, price=1500.03), "bad")
    assert sent(sim) == 0 and live.intents() == []


def test_placing_the_same_intent_twice_sends_one_request_and_returns_the_first_order(
    live: LiveBroker, sim: SimServer
) -> None:
    request = OrderRequest.buy("NSE:INFY", 1, price=below(live))
    first = live.place(request, "entry-1")
    again = live.place(request, "entry-1")
    assert (again.order_id, again.replayed, first.replayed) == (first.order_id, True, False)
    assert sent(sim) == 1 and len(tagged(sim, first.tag)) == 1
    assert len(first.tag) == 20 and first.tag.isalnum() and first.tag.startswith("entry1")


@pytest.mark.parametrize("fault", ["drop", "error"])
def test_an_order_accepted_then_lost_is_found_by_its_tag_and_not_sent_again(
    live: LiveBroker, sim: SimServer, fault: str
) -> None:
    order_faults(sim, next=[fault])
    placed = live.place(OrderRequest.buy("NSE:INFY", 2), f"lost-{fault}")
    assert placed.recovered and sent(sim) == 1
    [order] = tagged(sim, placed.tag)
    assert order["order_id"] == placed.order_id
    assert live.order(placed.order_id).status == OrderStatus.COMPLETE


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_every_5xx_after_acceptance_is_settled_by_the_order_book(live: LiveBroker, sim: SimServer, status: int) -> None:
    order_faults(sim, next=["error"], error_status=status)
    placed = live.place(OrderRequest.buy("NSE:INFY", 1), f"e{status}")
    assert placed.recovered and sent(sim) == 1 and len(tagged(sim, placed.tag)) == 1


def test_a_429_without_acceptance_is_looked_up_then_sent_once_more(live: LiveBroker, sim: SimServer) -> None:
    order_faults(sim, next=["reject"])
    placed = live.place(OrderRequest.buy("NSE:INFY", 1), "busy")
    assert sent(sim) == 2 and len(tagged(sim, placed.tag)) == 1
    assert [i.sends for i in live.intents()] == [2]


def test_a_slow_acknowledgement_past_the_timeout_is_found_not_duplicated(
    sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    live = LiveBroker(client(sim, timeout=0.3), sim_instruments, folder=tmp_path / "orders", clock=sim_clock,
                      sleep=advancing(sim_clock))  # fmt: skip
    order_faults(sim, ack_delay_ms=1500)
    placed = live.place(OrderRequest.buy("NSE:INFY", 1), "slow")
    order_faults(sim, ack_delay_ms=0)
    assert placed.recovered and sent(sim) == 1 and len(tagged(sim, placed.tag)) == 1


def test_a_refusal_is_journaled_and_replayed_without_a_second_request(
    live: LiveBroker, sim: SimServer, sim_clock: ManualClock
) -> None:
    sim_clock.set(sim_clock.now().replace(hour=16))  # after the close
    with pytest.raises(InputException, match="Markets are closed"):
        live.place(OrderRequest.buy("NSE:INFY", 1), "late")
    with pytest.raises(InputException, match="Markets are closed"):
        live.place(OrderRequest.buy("NSE:INFY", 1), "late")
    assert sent(sim) == 1 and [str(i.state) for i in live.intents()] == ["rejected"]


def test_order_updates_arrive_through_the_tickers_websocket_without_a_poll(live: LiveBroker, sim: SimServer) -> None:
    from kitekit.orders import OrderEvents
    from kitekit.ticker import Ticker

    events = OrderEvents(live)
    seen: list[tuple[str, str]] = []
    events.on_update(lambda u: seen.append((u.order.order_id, f"{u.status}:{u.source}")))
    ticker = Ticker.from_kite(live.kite)
    events.listen(ticker)
    ticker.start()
    try:
        eventually(lambda: ticker.stats.connects)
        placed = live.place(OrderRequest.buy("NSE:INFY", 1, price=below(live)), "ws-events-1")
        eventually(lambda: (placed.order_id, "OPEN:websocket") in seen)
        live.cancel(placed.order_id)
        eventually(lambda: (placed.order_id, "CANCELLED:websocket") in seen)
    finally:
        ticker.stop()
    assert events.poll() == []  # the polls find nothing new: every change already came in by the WebSocket
