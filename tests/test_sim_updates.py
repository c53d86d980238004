"""The simulator's order-update hub: per-user delivery, wake-ups, and a bounded queue that counts what it drops."""

from __future__ import annotations

from kitekit.sim.updates import OrderUpdates


def test_each_listener_gets_its_users_updates_in_order_and_only_those() -> None:
    hub = OrderUpdates()
    woken: list[str] = []
    mine = hub.subscribe("KK1234", wake=lambda: woken.append("mine"))
    other = hub.subscribe("XY9999")
    hub.publish("KK1234", {"order_id": "1", "status": "OPEN"})
    hub.publish("KK1234", {"order_id": "1", "status": "COMPLETE"})
    assert [u["status"] for u in mine.take()] == ["OPEN", "COMPLETE"]
    assert other.take() == [] and woken == ["mine", "mine"]
    hub.unsubscribe(mine)
    hub.publish("KK1234", {"order_id": "2"})
    assert mine.take() == [] and hub.published == {"KK1234": 3}


def test_a_listener_that_falls_behind_loses_its_oldest_updates_and_counts_them() -> None:
    hub = OrderUpdates()
    slow = hub.subscribe("KK1234")
    slow.limit = 3
    for i in range(5):
        hub.publish("KK1234", {"n": i})
    assert [u["n"] for u in slow.take()] == [2, 3, 4] and slow.dropped == 2
