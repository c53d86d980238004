"""The exchange's accounts survive a restart, a damaged file costs only a fresh account, reset starts afresh,
and ``/__sim/orders`` is the exchange's own count of what it accepted."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect

from kitekit.clock import ManualClock
from kitekit.sim.config import SimConfig
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer
from tests.conftest import eventually
from tests.exchange_helpers import admin, book, exchange_orders, path

STARTING = {"RELIANCE", "INFY", "HDFCBANK", "ITC", "TATASTEEL"}


@pytest.fixture
def persisted(tmp_path: Path) -> SimConfig:
    return SimConfig(rate_limit_enabled=False, state_file=tmp_path / "state.json")


@pytest.fixture
def server(persisted: SimConfig, sim_clock: ManualClock, sim_market: Market) -> Iterator[SimServer]:
    with SimServer(persisted, sim_clock, market=sim_market) as running:
        yield running


def _kite(server: SimServer) -> KiteConnect:
    kite = KiteConnect(server.sim.config.api_key, root=server.url)
    login_via_redirect(server, kite)
    return kite


def _trade(server: SimServer, kite: KiteConnect, clock: ManualClock) -> dict[str, str]:
    infy = book(server.sim.market, "NSE:INFY", clock.now())
    filled = kite.place_order("regular", "NSE", "INFY", "BUY", 10, "MIS", "LIMIT", price=infy["ask"][0], tag="keep")
    resting = kite.place_order("regular", "NSE", "INFY", "BUY", 5, "CNC", "LIMIT", price=infy["bid"][0] - 20)
    leg = {"transaction_type": "SELL", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": 3000.0}
    kite.place_gtt("single", "INFY", "NSE", [3000.0], infy["ltp"], [leg])
    kite.place_mf_order("INFKKS01A014", "BUY", amount=2500)
    return {"filled": filled, "resting": resting}


def _everything(kite: KiteConnect) -> dict[str, Any]:
    return {
        "orders": kite.orders(),
        "trades": kite.trades(),
        "positions": kite.positions(),
        "holdings": kite.holdings(),
        "margins": kite.margins(),
        "gtts": kite.get_gtts(),
        "mf": kite.mf_orders(),
    }


def test_orders_trades_positions_holdings_funds_gtts_and_mutual_funds_survive_a_restart(
    persisted: SimConfig, sim_clock: ManualClock, sim_market: Market
) -> None:
    with SimServer(persisted, sim_clock, market=sim_market) as first:
        kite = _kite(first)
        ids = _trade(first, kite, sim_clock)
        before, log_before = _everything(kite), exchange_orders(first)
    saved = persisted.state_file.with_name("exchange-KK1234.json")  # type: ignore[union-attr]
    assert saved.stat().st_mode & 0o777 == 0o600
    with SimServer(persisted, sim_clock, market=sim_market) as second:
        kite.root = second.url  # the access token persisted too (state.json)
        assert _everything(kite) == before
        assert exchange_orders(second) == log_before
        assert kite.cancel_order("regular", ids["resting"]) == ids["resting"]  # a restored order still works
        newer = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "LIMIT", price=1900.0)
        assert newer not in {o["order_id"] for o in before["orders"]}


def test_a_damaged_account_file_is_set_aside_with_a_warning_and_the_user_starts_afresh(
    persisted: SimConfig, sim_clock: ManualClock, sim_market: Market, caplog: pytest.LogCaptureFixture
) -> None:
    damaged = persisted.state_file.with_name("exchange-KK1234.json")  # type: ignore[union-attr]
    damaged.write_text('{"version": 1, "user_id": "KK1234", "engine": {"ver')
    with (
        caplog.at_level(logging.WARNING, logger="kitekit.sim"),
        SimServer(persisted, sim_clock, market=sim_market) as server,
    ):
        kite = _kite(server)
        assert kite.orders() == []
        assert {h["tradingsymbol"] for h in kite.holdings()} == STARTING
    assert any("is damaged" in r.getMessage() for r in caplog.records)
    aside = [p.name for p in damaged.parent.iterdir() if p.name.startswith("exchange-KK1234.json.damaged-")]
    assert len(aside) == 1 and "engine" in (damaged.parent / aside[0]).read_text()


def test_reset_starts_a_fresh_account_that_never_reuses_an_order_id(server: SimServer, sim_clock: ManualClock) -> None:
    kite = _kite(server)
    ids = _trade(server, kite, sim_clock)
    assert admin(server, "POST", "/reset") == {"user_id": "KK1234", "holdings": len(STARTING)}
    assert kite.orders() == [] and kite.get_gtts() == [] and kite.mf_orders() == []
    assert {h["tradingsymbol"] for h in kite.holdings()} == STARTING
    assert kite.margins("equity")["net"] == 1_000_000.0
    assert exchange_orders(server) == []
    fresh = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "LIMIT", price=1900.0)
    assert fresh not in ids.values()


@pytest.mark.parametrize("body", ["[1]", '{"user": "KK1234"}', '{"user_id": ""}', '{"user_id": 7}', "not json"])
def test_reset_refuses_bad_input_and_changes_nothing(server: SimServer, sim_clock: ManualClock, body: str) -> None:
    kite = _kite(server)
    _trade(server, kite, sim_clock)
    r = requests.post(f"{server.url}/__sim/reset", data=body, timeout=5)
    assert r.status_code == 400 and r.json()["error_type"] == "InputException"
    assert len(kite.orders()) == 2


def test_sim_orders_lists_every_order_the_exchange_accepted_with_its_tag_and_nothing_it_refused(
    server: SimServer, sim_clock: ManualClock
) -> None:
    kite = _kite(server)
    ids = _trade(server, kite, sim_clock)
    with pytest.raises(Exception, match="Invalid `tag`"):
        kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "LIMIT", price=1900.0, tag="not a valid tag!")
    rejected = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "LIMIT", price=99999.0, tag="rms")
    listed = exchange_orders(server)
    expected = [(ids["filled"], "keep"), (ids["resting"], None), (rejected, "rms")]
    assert [(o["order_id"], o["tag"]) for o in listed] == expected
    assert [o["status"] for o in listed] == ["COMPLETE", "OPEN", "REJECTED"]
    assert listed[0]["tags"] == ["keep"] and listed[0]["user_id"] == "KK1234"


def test_a_saved_resting_order_fills_after_a_restart_without_any_request(
    persisted: SimConfig, sim_clock: ManualClock, sim_market: Market
) -> None:
    when, low = min(path(sim_market, "NSE:INFY", sim_clock.now(), 600), key=lambda point: point[1])
    limit = round(low + 0.1, 2)
    assert limit < book(sim_market, "NSE:INFY", sim_clock.now())["ask"][0]
    with SimServer(persisted, sim_clock, market=sim_market) as first:
        oid = _kite(first).place_order("regular", "NSE", "INFY", "BUY", 2, "MIS", "LIMIT", price=limit)
    sim_clock.set(when)
    with SimServer(persisted, sim_clock, market=sim_market) as second:
        updates = second.sim.order_updates.subscribe(persisted.user_id)
        seen: list[dict[str, Any]] = []

        def filled() -> bool:
            seen.extend(updates.take())
            return any(u["order_id"] == oid and u["status"] == "COMPLETE" for u in seen)

        eventually(filled)
