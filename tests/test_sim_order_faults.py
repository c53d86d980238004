"""Order faults for testing idempotent placement: the exchange really holds an order whose answer was lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.clock import ManualClock
from kitekit.sim.config import SimConfig
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer
from tests.conftest import eventually
from tests.exchange_helpers import admin, book, exchange_orders


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(rate_limit_enabled=False)


def _buy(sim: SimServer, kite: KiteConnect, clock: ManualClock, tag: str) -> str:
    ask = book(sim.sim.market, "NSE:INFY", clock.now())["ask"][0]
    order_id: str = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "LIMIT", price=ask, tag=tag)
    return order_id


def _tagged(sim: SimServer, tag: str) -> list[dict[str, Any]]:
    return [o for o in exchange_orders(sim) if o["tag"] == tag]


def test_a_dropped_connection_after_acceptance_leaves_exactly_one_real_order(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    admin(sim, "PUT", "/order-faults", {"next": ["drop"]})
    with pytest.raises(requests.ConnectionError):
        _buy(sim, sim_kite, sim_clock, "lost1")
    (held,) = _tagged(sim, "lost1")
    assert held["status"] == "COMPLETE"
    assert [o["order_id"] for o in sim_kite.orders() if o["tag"] == "lost1"] == [held["order_id"]]
    assert _buy(sim, sim_kite, sim_clock, "next1")  # the script is used up: the next placement is answered
    assert admin(sim, "GET", "/order-faults")["injected"]["drop"] == 1


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (500, kex.GeneralException, "An unexpected error occurred."),
        (502, kex.DataException, "Couldn't parse the OMS response."),
        (503, kex.NetworkException, "Couldn't connect to the OMS. Please try again."),
        (504, kex.NetworkException, "Gateway timed out waiting for the OMS."),
    ],
)
def test_a_5xx_after_acceptance_still_leaves_the_order_on_the_exchange(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, status: int, kind: type, message: str
) -> None:
    admin(sim, "PUT", "/order-faults", {"next": ["error"], "error_status": status})
    with pytest.raises(kex.KiteException) as err:
        _buy(sim, sim_kite, sim_clock, "err1")
    assert (type(err.value), err.value.code, str(err.value)) == (kind, status, message)
    assert len(_tagged(sim, "err1")) == 1
    assert [o["tag"] for o in sim_kite.orders()] == ["err1"]


def test_a_429_without_acceptance_leaves_no_order(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    admin(sim, "PUT", "/order-faults", {"next": ["reject", "none"]})
    with pytest.raises(kex.NetworkException) as err:
        _buy(sim, sim_kite, sim_clock, "gone1")
    assert (err.value.code, str(err.value)) == (429, "Too many requests")
    assert _tagged(sim, "gone1") == [] and sim_kite.orders() == []
    _buy(sim, sim_kite, sim_clock, "ok1")
    assert len(_tagged(sim, "ok1")) == 1


def test_a_delayed_acknowledgement_times_the_client_out_while_the_order_stands(
    sim: SimServer, sim_clock: ManualClock
) -> None:
    impatient = KiteConnect(sim.sim.config.api_key, root=sim.url, timeout=0.2)
    login_via_redirect(sim, impatient)
    admin(sim, "PUT", "/order-faults", {"ack_delay_ms": 3000})
    with pytest.raises(requests.Timeout):
        _buy(sim, impatient, sim_clock, "slow1")
    assert eventually(lambda: _tagged(sim, "slow1"))[0]["status"] == "COMPLETE"


def test_order_fault_rates_roll_seeded_dice_on_every_placement(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    admin(sim, "PUT", "/order-faults", {"error_rate": 1.0, "error_status": 503})
    for i in range(3):
        with pytest.raises(kex.NetworkException):
            _buy(sim, sim_kite, sim_clock, f"r{i}")
    assert len(exchange_orders(sim)) == 3
    cleared = admin(sim, "DELETE", "/order-faults")
    assert cleared["error_rate"] == 0 and cleared["injected"]["error"] == 3
    _buy(sim, sim_kite, sim_clock, "fine")


@pytest.mark.parametrize(
    "body",
    [
        {"drop_rate": 2},
        {"drop_rate": "half"},
        {"error_rate": float("nan")},
        {"drop_rate": 0.6, "reject_rate": 0.6},
        {"error_status": 418},
        {"error_status": True},
        {"next": ["explode"]},
        {"next": [["drop"]]},
        {"next": "drop"},
        {"ack_delay_ms": -1},
        {"bogus": 1},
        [],
    ],
)
def test_order_fault_settings_are_checked_completely_before_any_applies(sim: SimServer, body: Any) -> None:
    before = admin(sim, "GET", "/order-faults")
    # A valid setting beside the bad one must not be applied either.
    sent = {"ack_delay_ms": 5, **body} if isinstance(body, dict) else body
    r = requests.put(f"{sim.url}/__sim/order-faults", data=json.dumps(sent), timeout=5)
    assert r.status_code == 400 and r.json()["error_type"] == "InputException"
    assert admin(sim, "GET", "/order-faults") == before


def test_kitekit_sim_flags_configure_order_faults(tmp_path: Path) -> None:
    env = {**os.environ, "KITEKIT_DATA_DIR": str(tmp_path)}
    argv = ["sim", "--port", "0", "--order-error-rate", "0.25", "--order-error-status", "502"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kitekit.cli", *argv, "--order-ack-delay-ms", "10"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split("listening on ")[1].split()[0]
        drain = threading.Thread(target=proc.stdout.read, daemon=True)
        drain.start()
        faults = requests.get(f"{url}/__sim/order-faults", timeout=10).json()["data"]
        assert (faults["error_rate"], faults["error_status"], faults["ack_delay_ms"]) == (0.25, 502, 10.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            drain.join(5)
            proc.stdout.close()
