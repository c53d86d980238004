"""Order pacing on the server's seconds: Kite counts 10 orders per calendar second of its own clock.

The pacer learns where the server's seconds fall from the ``Date`` header of its answers and sends each order
early enough in one of them to arrive within it; a burst against the simulator (whose clock is a fraction of a
second off the local one) then meets no 429 at all.
"""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.utils import formatdate
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect

from kitekit.clock import VirtualClock
from kitekit.rest.pacer import Pacer
from kitekit.rest.serverclock import ServerClock, parse_date
from kitekit.rest.transport import install_transport
from kitekit.sim.pytest_plugin import SIM_NOW, login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.wire.routes import EndpointClass
from tests.exchange_helpers import book

ORDER = EndpointClass.ORDER
#: Where the server's seconds start in the fake local time below: 0.55 s into each local second.
OFFSET = 12_345.45


class FakeTime:
    """A local clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def clock(self) -> float:
        return self.now


def answered(pacer: Pacer, t: FakeTime, sent: float, took: float = 0.004) -> None:
    """Feed ``pacer`` an answer to a request sent at local ``sent``, dated by a server OFFSET ahead."""
    server = sent + took / 2 + OFFSET
    pacer.observe("k", formatdate(math.floor(server), usegmt=True), sent, sent + took)


def arrivals(sends: list[float], spread: float, latest: bool) -> Counter[int]:
    """Return how many sends land in each server second, every one taking the least or the most it may."""
    return Counter(math.floor(s + OFFSET + (spread - 1e-6 if latest else 0.0)) for s in sends)


def test_a_date_header_is_read_to_the_second_and_garbage_is_ignored() -> None:
    assert parse_date("Fri, 27 Nov 2026 05:30:00 GMT") == SIM_NOW.timestamp()
    for bad in (None, "", "yesterday", "Fri, 27 Nov 2026 05:30:00 -0000", "Fri, 99 Nov 2026 05:30:00 GMT"):
        assert parse_date(bad) is None


def test_answers_straddling_a_second_narrow_the_offset_and_a_contradiction_starts_afresh() -> None:
    clock = ServerClock()
    clock.observe(100.0, 50.40, 50.41)  # dated 100 while local 50.40-50.41: offset in [49.59, 50.60)
    assert clock.bounds() == pytest.approx((49.59, 50.60))
    clock.observe(101.0, 50.44, 50.45)  # the server's second rolled between: offset in [50.55, 50.60)
    assert clock.bounds() == pytest.approx((50.55, 50.60))
    clock.observe(500.0, 50.50, 50.51)  # the server's clock was set forward
    assert clock.bounds() == pytest.approx((449.49, 450.50)) and clock.restarts == 1


def test_with_the_servers_seconds_known_every_send_arrives_within_one_second_holding_at_most_ten() -> None:
    t = FakeTime()
    pacer = Pacer(None, clock=t.clock, sleep=lambda s: None)
    for i in range(40):  # a few seconds of ordinary calls teach the pacer where the server's seconds fall
        answered(pacer, t, t.now + i * 0.05)
    t.now += 2.0
    sends = [pacer.reserve("k", ORDER) for _ in range(30)]
    assert sends == sorted(sends) and sends[0] >= t.now
    for latest in (False, True):  # however long each takes, up to the spread
        counts = arrivals(sends, pacer.arrival_spread, latest)
        assert max(counts.values()) <= 10 and sum(counts.values()) == 30
    assert arrivals(sends, pacer.arrival_spread, False) == arrivals(sends, pacer.arrival_spread, True)
    assert sends[-1] - sends[0] < 4.0  # still about ten a second


def test_before_the_servers_seconds_are_known_no_window_longer_than_a_second_holds_more_than_ten() -> None:
    t = FakeTime()
    pacer = Pacer(None, clock=t.clock, sleep=lambda s: None)
    sends = [pacer.reserve("k", ORDER) for _ in range(30)]
    window = 1.0 + pacer.arrival_spread
    assert max(sum(1 for s in sends if start <= s < start + window) for start in sends) <= 10


def test_evenly_spaced_sends_alone_can_land_eleven_in_one_of_the_servers_seconds() -> None:
    # What the pacer did before: 10 a second, spaced evenly, blind to where the server's seconds fall. A send
    # slowed by 60 ms and one sent ten slots later that was quick share one server second.
    t = FakeTime()
    t.now = math.floor(t.now + OFFSET) + 1 - OFFSET - 0.05  # 50 ms before one of the server's seconds
    pacer = Pacer(None, clock=t.clock, sleep=lambda s: None, second_caps={})
    sends = [pacer.reserve("k", ORDER) for _ in range(11)]
    landed = Counter(math.floor(s + OFFSET + (0.06 if i == 0 else 0.0)) for i, s in enumerate(sends))
    assert max(landed.values()) == 11


# -- against the simulator ----------------------------------------------------------------------------------
@pytest.fixture
def sim_clock() -> Any:
    """The simulator's clock runs in real time, 0.55 s into one of the local clock's seconds."""
    start = SIM_NOW + timedelta(microseconds=550_000)
    return VirtualClock(start)


def test_the_simulator_dates_every_answer_by_its_own_clock(sim: SimServer, sim_clock: VirtualClock) -> None:
    answer = requests.get(f"{sim.url}/__sim/info", timeout=5)
    told = parse_date(answer.headers["date"])
    assert told is not None and abs(told - sim_clock.now().timestamp()) < 2
    assert answer.headers["date"].count("GMT") == 1  # one Date: uvicorn's own (the wall clock's) is off


def test_a_burst_of_thirty_orders_through_kitekits_pacing_meets_no_429(sim: SimServer, sim_clock: VirtualClock) -> None:
    kite = KiteConnect(sim.sim.config.api_key, root=sim.url)
    login_via_redirect(sim, kite)
    install_transport(kite, Pacer(None))
    kite.profile()  # an ordinary call or two first, as any program makes
    price = round(book(sim.sim.market, "NSE:INFY", sim_clock.now())["ltp"] * 0.95, 1)

    def place(_: int) -> str:
        order_id: str = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "LIMIT", price=price)
        return order_id

    with ThreadPoolExecutor(30) as pool:
        placed = list(pool.map(place, range(30)))
    assert len(set(placed)) == 30
    assert (sim.sim.order_caps.rejected, sim.sim.limiter.rejected) == (0, 0)
