"""Paper and simulator agree: one order sequence on the same quotes gives the same fills, positions and P&L."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kitekit.clock import ManualClock
from kitekit.instruments import InstrumentStore
from kitekit.orders import (
    LiveBroker,
    OrderGateway,
    OrderRequest,
    PaperBroker,
    Product,
    QuoteRecorder,
    RecordedQuotes,
)
from kitekit.orders.rules import nearest_tick
from kitekit.sim.config import SimConfig
from kitekit.sim.server import SimServer
from tests.orders_helpers import advancing, client

Step = Callable[[OrderGateway], Any]


@pytest.fixture
def bare(unlimited: SimConfig) -> SimConfig:
    """An account with no starting holdings, so both sides start from the same empty book."""
    unlimited.seed_holdings = False
    return unlimited


def steps(last: dict[str, float]) -> list[tuple[float, Step]]:
    """The sequence: seconds to let pass first, then what to do (the same on both sides)."""

    def price(key: str, share: float) -> float:
        return nearest_tick(last[key] * share, 0.05)

    mis = {"product": Product.MIS}
    stop = price("NSE:RELIANCE", 0.998)
    return [
        (0, lambda g: g.place(OrderRequest.buy("NSE:INFY", 10, **mis), "a1")),
        (0, lambda g: g.place(OrderRequest.buy("NSE:RELIANCE", 5, price=price("NSE:RELIANCE", 1.01), **mis), "a2")),
        (0, lambda g: g.place(OrderRequest.sell("NSE:INFY", 4, **mis), "a3")),
        (0, lambda g: g.place(OrderRequest.buy("NSE:TCS", 3, price=price("NSE:TCS", 0.998), **mis), "a4")),
        (0, lambda g: g.place(OrderRequest.sell("NSE:RELIANCE", 2, trigger_price=stop, **mis), "a5")),
        (90, lambda g: g.place(OrderRequest.sell("NSE:SBIN", 7, **mis), "a6")),
        (600, lambda g: g.positions()),
        (1800, lambda g: g.positions()),
    ]


def books(gateway: OrderGateway) -> dict[str, Any]:
    """What must agree: fills per intent (by tag), net positions with P&L, and the equity funds."""
    tag_of = {o.order_id: o.tag for o in gateway.orders()}
    fills = sorted((tag_of[t.order_id], t.quantity, t.average_price) for t in gateway.trades())
    positions = sorted(
        (p.key, str(p.product), p.quantity, p.average_price, round(p.pnl, 2), round(p.realised, 2))
        for p in gateway.positions().net
    )
    statuses = sorted((o.tag, str(o.status), o.filled_quantity) for o in gateway.orders())
    return {"fills": fills, "positions": positions, "statuses": statuses, "net": round(gateway.margins().equity.net, 2)}


def run(gateway: OrderGateway, clock: ManualClock, sequence: list[tuple[float, Step]]) -> dict[str, Any]:
    for wait, step in sequence:
        clock.advance(wait)
        step(gateway)
    return books(gateway)


def test_paper_and_the_simulator_give_the_same_fills_positions_and_pnl(
    bare: SimConfig, sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    kite = client(sim)
    keys = ["NSE:INFY", "NSE:RELIANCE", "NSE:TCS", "NSE:SBIN"]
    last = {k: float(v["last_price"]) for k, v in kite.ltp(keys).items()}
    start = sim_clock.now()

    live = LiveBroker(kite, sim_instruments, folder=tmp_path / "live", clock=sim_clock, sleep=advancing(sim_clock))
    on_sim = run(live, sim_clock, steps(last))

    # The same sequence on paper, at the same moments, priced by the simulator's own answers: its quotes, and the
    # minute candles both the simulator's exchange and paper follow through a gap (kitekit.engine.catchup).
    sim_clock.set(start)
    recorder = QuoteRecorder(kite)
    paper = PaperBroker(recorder, sim_instruments, folder=tmp_path / "paper", account="KK1234", clock=sim_clock)
    on_paper = run(paper, sim_clock, steps(last))
    assert on_paper == on_sim
    assert len(on_sim["fills"]) >= 5 and any(p[2] for p in on_sim["positions"])

    # And again on paper from the recorded quotes alone: no simulator, the same books.
    replay_clock = ManualClock(start)
    replay = PaperBroker(RecordedQuotes(recorder.answers), sim_instruments, folder=tmp_path / "replay",
                         account="KK1234", clock=replay_clock)  # fmt: skip
    assert run(replay, replay_clock, steps(last)) == on_sim
    assert replay_clock.now() - start == timedelta(seconds=90 + 600 + 1800)
