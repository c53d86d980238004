"""The reliability run, small, on every broker: randomised orders under every order fault and client kills.

Each broker's simulator injects the order faults in its own dialect (accepted then dropped, accepted then a 5xx,
its rate-limit refusal, slow acknowledgements); the worker process placing the plan through ``LiveBroker`` on
that broker's client is SIGKILLed twice and restarted, recovering from its journal by tag. None may be lost or
doubled. The full run (1,000 orders, five kills) is ``./dev bench reliability --broker NAME``; this one keeps
the same code path in the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.bench_reliability import run
from bench.reliability_brokers import BROKERS


@pytest.mark.slow
@pytest.mark.timeout(360)  # a worker killed twice and slow acknowledgements: about a minute alone, more under load
@pytest.mark.parametrize("broker", BROKERS)
def test_orders_under_every_fault_and_client_kills_reach_the_exchange_exactly_once(tmp_path: Path, broker: str) -> None:
    out = run(orders=30, kills=2, seed=11, folder=tmp_path, quiet=True, broker=broker)
    assert (out.lost, out.duplicated, out.strays) == (0, 0, 0)
    assert out.intents == 30 and out.placed + out.refused == 30 and out.exchange_orders == out.placed
    assert out.kills == 2
    assert out.faults["drop"] + out.faults["error"] + out.faults["reject"] > 0 and out.recovered > 0
