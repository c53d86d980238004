"""The dump's download waits for a simulator building a new day's dump, where other calls keep the SDK's timeout."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from kitekit.instruments.download import fetch_dump
from kitekit.rest.raw import kite_get
from kitekit.sim.server import SimServer
from kitekit.wire.instruments_csv import HEADER

from .history_helpers import set_faults


def test_the_dump_waits_past_the_clients_timeout_for_its_first_bytes(sim: SimServer, sim_kite: Any) -> None:
    # A new day's dump is built when first asked (seconds on a busy machine): here each answer starts 1.5 s late,
    # past the client's 1 s timeout, as the build's wait would.
    sim_kite.timeout = 1
    set_faults(sim, latency_ms=1500, paths=["/instruments"])
    # A call of the usual kind gives up at the timeout.
    with pytest.raises(requests.exceptions.ReadTimeout), kite_get(sim_kite, "/instruments/NSE", stream=True):
        pass
    dump = fetch_dump(sim_kite, "NSE")
    assert dump.startswith(HEADER.encode()) and dump.count(b"\n") > 1000
