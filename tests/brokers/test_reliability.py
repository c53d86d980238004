"""The reliability run, small: randomised orders under every order fault and client kills, none lost or doubled.

The full run (1,000 orders, five kills) is ``./dev bench reliability``; this one keeps the same code path in the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.bench_reliability import run


@pytest.mark.slow
def test_orders_under_every_fault_and_client_kills_reach_the_exchange_exactly_once(tmp_path: Path) -> None:
    out = run(orders=30, kills=2, seed=11, folder=tmp_path, quiet=True)
    assert (out.lost, out.duplicated, out.strays) == (0, 0, 0)
    assert out.intents == 30 and out.placed + out.refused == 30 and out.exchange_orders == out.placed
    assert out.kills == 2
    assert out.faults["drop"] + out.faults["error"] + out.faults["reject"] > 0 and out.recovered > 0
