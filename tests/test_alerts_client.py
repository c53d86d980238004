"""kitekit.alerts: Kite's alerts from Python, typed and paced, refusing before sending what Kite would refuse.

Against the simulator on Friday 2026-11-27, 11:00 IST (the plugin's day), through the official client's session.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from kiteconnect import KiteConnect
from kiteconnect.exceptions import InputException, NetworkException

from kitekit.alerts import Alert, Alerts, AlertStatus, AlertTerms, AlertType, price_alert
from kitekit.clock import IST, ManualClock
from kitekit.errors import AlertValidationError, OrderValidationError, UnknownInstrumentError
from kitekit.instruments import InstrumentStore
from kitekit.orders import OrderRequest, Validator
from kitekit.rest.pacer import Pacer
from kitekit.rest.transport import install_transport
from kitekit.sim.pytest_plugin import SIM_NOW, login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.wire.alerts import MAX_ALERTS
from kitekit.wire.routes import EndpointClass
from tests.orders_helpers import client, sent


@pytest.fixture
def alerts(sim: SimServer, sim_instruments: InstrumentStore) -> Alerts:
    lookup = sim_instruments.instrument
    return Alerts(client(sim), instruments=lookup, validator=Validator(lookup, today=lambda: SIM_NOW.date()))


def posted(sim: SimServer) -> int:
    return sent(sim, "POST", "/alerts")


def step(sim: SimServer, clock: ManualClock) -> None:
    clock.advance(timedelta(seconds=1))
    sim.sim.exchange.tick()


def test_an_alert_round_trips_typed(alerts: Alerts) -> None:
    made = alerts.create(price_alert("INDICES", "NIFTY 50", above=27000))
    assert isinstance(made, Alert) and made.type is AlertType.SIMPLE and made.status is AlertStatus.ENABLED
    assert made.terms == price_alert("INDICES", "NIFTY 50", above=27000)
    assert made.created_at == SIM_NOW and made.created_at.tzinfo is not None and made.alert_count == 0
    assert made.terms.condition() == 'LastTradedPrice("INDICES:NIFTY 50") >= 27000'
    assert alerts.get(made.uuid) == made and alerts.list() == [made]
    changed = alerts.modify(made.uuid, price_alert("INDICES", "NIFTY 50", below=20000, name="dip"))
    assert (changed.uuid, changed.name, changed.terms.rhs_constant) == (made.uuid, "dip", 20000)
    assert alerts.list(AlertStatus.DISABLED) == [] and alerts.history(made.uuid) == []
    alerts.delete(made.uuid)
    assert alerts.list() == []


def test_kites_refusal_arrives_as_the_sdks_exception(alerts: Alerts) -> None:
    with pytest.raises(InputException, match="not found"):
        alerts.get("550e8400-e29b-41d4-a716-446655440000")


def test_an_alert_kite_would_refuse_is_refused_before_anything_is_sent(alerts: Alerts, sim: SimServer) -> None:
    bad = AlertTerms("x", AlertType.SIMPLE, "NSE", "INFY", "Momentum", price_alert("NSE", "INFY", above=1).operator,
                     price_alert("NSE", "INFY", above=1).rhs_type, 1.0)  # fmt: skip
    with pytest.raises(AlertValidationError, match="lhs_attribute") as caught:
        alerts.create(bad)
    assert caught.value.field == "lhs_attribute"
    with pytest.raises(UnknownInstrumentError):
        alerts.create(price_alert("NSE", "NOSUCHSTOCK", above=10))
    with pytest.raises(UnknownInstrumentError):
        alerts.create(price_alert("INDICES", "NIFTY 5O", above=10))  # a letter O for the zero
    assert posted(sim) == 0


def test_the_201st_alert_is_refused_before_sending(alerts: Alerts, sim: SimServer) -> None:
    form = price_alert("NSE", "INFY", above=9999).to_form()
    sim.sim.exchange.run_alerts(
        "KK1234", lambda book, now: [book.create(form, now, lambda e, s: True) for _ in range(MAX_ALERTS)]
    )
    with pytest.raises(AlertValidationError, match="at most 200 alerts"):
        alerts.create(price_alert("NSE", "INFY", above=1))
    assert posted(sim) == 0


def test_an_alert_that_places_orders_has_its_orders_checked_first_and_placed_when_it_fires(
    alerts: Alerts, sim: SimServer, sim_clock: ManualClock
) -> None:
    with pytest.raises(OrderValidationError) as caught:
        alerts.create(price_alert("NSE", "INFY", above=1), then=[OrderRequest.buy("NSE:INFY", 2, price=1000.01)])
    assert caught.value.rule == "tick" and posted(sim) == 0
    made = alerts.create(price_alert("NSE", "INFY", above=1), then=[OrderRequest.buy("NSE:INFY", 2)])
    assert made.type is AlertType.ATO and made.terms.basket is not None
    params = made.terms.basket["items"][0]["params"]
    assert (params["product"], params["order_type"], params["market_protection"]) == ("CNC", "MARKET", -1)
    step(sim, sim_clock)
    [firing] = alerts.history(made.uuid)
    assert firing.created_at == (SIM_NOW + timedelta(seconds=1)).astimezone(IST)
    [placed] = firing.order_meta
    order = next(o for o in alerts.kite.orders() if o["order_id"] == placed["order_id"])
    assert (order["status"], order["filled_quantity"]) == ("COMPLETE", 2)
    assert alerts.get(made.uuid).enabled is False


def test_alerts_calls_are_paced_with_every_other_call(sim: SimServer) -> None:
    """At a simulator that allows 3 calls a second of their class, the paced client meets no 429; the SDK alone does."""
    unpaced = KiteConnect(sim.sim.config.api_key, root=sim.url)
    login_via_redirect(sim, unpaced)
    sim.sim.limiter.rates[EndpointClass.OTHER] = 3.0
    sim.sim.limiter.reset()
    paced = KiteConnect(sim.sim.config.api_key, root=sim.url, access_token=unpaced.access_token)
    install_transport(paced, Pacer(None, rates={EndpointClass.OTHER: 3.0}))
    for _ in range(8):
        Alerts(paced).list()
    assert sim.sim.limiter.rejected == 0

    def burst() -> None:
        for _ in range(8):
            Alerts(unpaced).list()

    with pytest.raises(NetworkException, match="Too many requests"):
        burst()
