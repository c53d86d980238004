"""Pacing: the shared pacer on its own, and paced clients against the simulator's enforced limits."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from kiteconnect import KiteConnect
from kiteconnect.exceptions import KiteException

from kitekit.rest.pacer import DEFAULT_FILENAME, Pacer
from kitekit.rest.retry import RetryPolicy
from kitekit.rest.transport import install_transport
from kitekit.sim.config import SimConfig
from kitekit.sim.server import SimServer
from kitekit.wire.routes import DEFAULT_RATES, EndpointClass

from .conftest import eventually

QUOTE, HISTORICAL, ORDER, OTHER = (
    EndpointClass.QUOTE,
    EndpointClass.HISTORICAL,
    EndpointClass.ORDER,
    EndpointClass.OTHER,
)
#: Quote limit for load tests: fast enough to keep the suite quick, and the simulator then allows bursts of
#: 20, so a load of 60 calls in a few seconds 429s unless the calls really are spaced.
FAST_QUOTES = 20.0


class FakeTime:
    """A wall clock that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def t() -> FakeTime:
    return FakeTime()


@pytest.fixture(params=["in-process", "sqlite"])
def make_pacer(request: pytest.FixtureRequest, tmp_path: Path, t: FakeTime) -> Callable[..., Pacer]:
    """Build pacers on fake time, kept in this process or in a SQLite file."""
    path = None if request.param == "in-process" else tmp_path / "pacing.sqlite3"

    def make(**settings: float | dict[EndpointClass, float]) -> Pacer:
        return Pacer(path, clock=t.clock, sleep=t.sleep, **settings)  # type: ignore[arg-type]

    return make


@pytest.fixture
def fast_quotes(sim_config: SimConfig) -> dict[EndpointClass, float]:
    """Let the simulator allow FAST_QUOTES quote calls a second; return the matching pacer rates."""
    sim_config.rate_limits[QUOTE] = FAST_QUOTES
    return {**DEFAULT_RATES, QUOTE: FAST_QUOTES}


def client_of(sim: SimServer, kite: KiteConnect) -> KiteConnect:
    """Return a fresh official client on the same session as ``kite``."""
    return KiteConnect(kite.api_key, kite.access_token, root=sim.url)


# -- the pacer on its own ---------------------------------------------------------------------------------


def test_slots_are_spaced_by_the_interval_with_the_safety_margin(make_pacer: Callable[..., Pacer], t: FakeTime) -> None:
    pacer = make_pacer(rates={QUOTE: 1.0}, margin=0.02)
    slots = [pacer.reserve("k", QUOTE) for _ in range(4)]
    assert slots[0] == t.now
    assert [b - a for a, b in itertools.pairwise(slots)] == pytest.approx([1 / 0.98] * 3)


def test_the_default_margin_keeps_at_least_95_percent_of_every_limit() -> None:
    pacer = Pacer()
    for cls, rate in DEFAULT_RATES.items():
        assert 0.95 * rate <= 1 / pacer.interval(cls) < rate


def test_a_class_left_out_keeps_kites_limit_and_a_zero_rate_leaves_it_unpaced(
    make_pacer: Callable[..., Pacer], t: FakeTime
) -> None:
    pacer = make_pacer(rates={QUOTE: 5.0, OTHER: 0.0})
    assert pacer.rates[HISTORICAL] == DEFAULT_RATES[HISTORICAL]
    assert [pacer.reserve("k", OTHER) for _ in range(3)] == [t.now] * 3


@pytest.mark.parametrize("settings", [{"rates": {QUOTE: -1.0}}, {"margin": 1.0}, {"margin": -0.1}, {"cooldown": -1.0}])
def test_nonsense_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Pacer(**settings)  # type: ignore[arg-type]


def test_every_key_and_class_has_its_own_bucket(make_pacer: Callable[..., Pacer], t: FakeTime) -> None:
    pacer = make_pacer()
    pacer.reserve("a", QUOTE)
    assert pacer.reserve("b", QUOTE) == t.now
    assert pacer.reserve("a", HISTORICAL) == t.now


def test_acquire_sleeps_until_the_slot_and_says_how_long(make_pacer: Callable[..., Pacer], t: FakeTime) -> None:
    pacer = make_pacer(rates={QUOTE: 1.0}, margin=0.0)
    assert pacer.acquire("k", QUOTE) == 0.0
    assert pacer.acquire("k", QUOTE) == pytest.approx(1.0)
    assert t.slept == pytest.approx([1.0])


def test_a_cooldown_pushes_the_next_slot_out(make_pacer: Callable[..., Pacer], t: FakeTime) -> None:
    pacer = make_pacer(cooldown=1.5)
    pacer.cool_down("k", QUOTE)
    assert pacer.reserve("k", QUOTE) == pytest.approx(t.now + 1.5)
    pacer.cool_down("k", ORDER, seconds=0.3)
    assert pacer.reserve("k", ORDER) == pytest.approx(t.now + 0.3)


def test_a_clock_stepping_back_does_not_stall_the_bucket(make_pacer: Callable[..., Pacer], t: FakeTime) -> None:
    pacer = make_pacer(rates={QUOTE: 1.0})
    for _ in range(3):
        pacer.reserve("k", QUOTE)
    t.now -= 3600.0  # an NTP step or a VM resume
    assert pacer.reserve("k", QUOTE) - t.now == pytest.approx(3 * pacer.interval(QUOTE))


def test_a_directory_holds_the_default_database_file(tmp_path: Path) -> None:
    with Pacer(tmp_path) as pacer:
        pacer.reserve("k", QUOTE)
    assert pacer.path == tmp_path / DEFAULT_FILENAME
    assert pacer.path.exists()


def test_pacers_on_one_file_share_the_budget_and_the_cooldown(tmp_path: Path, t: FakeTime) -> None:
    # Two Pacer objects on one file behave as two processes would.
    first, second = (Pacer(tmp_path / "p.sqlite3", clock=t.clock, sleep=t.sleep) for _ in range(2))
    a = first.reserve("k", HISTORICAL)
    b = second.reserve("k", HISTORICAL)
    assert b - a == pytest.approx(first.interval(HISTORICAL))
    first.cool_down("k", QUOTE, seconds=2.0)
    assert second.reserve("k", QUOTE) == pytest.approx(t.now + 2.0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_a_forked_child_takes_its_slot_from_the_same_file(tmp_path: Path, t: FakeTime) -> None:
    pacer = Pacer(tmp_path, clock=t.clock, sleep=t.sleep)
    first = pacer.reserve("k", QUOTE)  # the parent's connection is open when the child is forked
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+ frowns on fork() with threads around
        child = multiprocessing.get_context("fork").Process(target=pacer.reserve, args=("k", QUOTE))
        child.start()
    child.join(30)
    assert child.exitcode == 0
    assert pacer.reserve("k", QUOTE) - first == pytest.approx(2 * pacer.interval(QUOTE))


def test_an_order_is_never_queued_behind_quote_callers_waiting_for_their_slots(tmp_path: Path) -> None:
    gate = threading.Event()
    waits: list[float] = []

    def parked(seconds: float) -> None:  # quote callers park here, inside acquire(), until the test ends
        waits.append(seconds)
        gate.wait(30)

    pacer = Pacer(tmp_path, sleep=parked)
    callers = [threading.Thread(target=pacer.acquire, args=("k", QUOTE)) for _ in range(5)]
    for caller in callers:
        caller.start()
    try:
        eventually(lambda: len(waits) == 4)  # one went at once; four wait up to four seconds for theirs
        assert max(waits) > 3.0
        assert pacer.acquire("k", ORDER) == 0.0  # would park (and hang) if it had to wait for a slot
    finally:
        gate.set()
        for caller in callers:
            caller.join(30)


# -- paced clients against the simulator's limits ----------------------------------------------------------


class RecordingPacer(Pacer):
    """Paces nothing; records which bucket each request asked for."""

    def __init__(self) -> None:
        super().__init__(rates=dict.fromkeys(EndpointClass, 0.0))
        self.asked: list[tuple[str, EndpointClass]] = []

    def acquire(self, api_key: str, cls: EndpointClass) -> float:
        self.asked.append((api_key, cls))
        return 0.0


def test_every_call_asks_the_bucket_of_its_api_key_and_class(
    unlimited: SimConfig, sim: SimServer, sim_kite: KiteConnect
) -> None:
    pacer = RecordingPacer()
    kite = client_of(sim, sim_kite)
    install_transport(kite, pacer=pacer)
    kite.ltp("NSE:INFY")
    kite.profile()
    kite.historical_data(408065, "2026-11-27", "2026-11-27", "day")
    with contextlib.suppress(KiteException):
        kite.place_order("regular", "NSE", "INFY", "BUY", 1, "CNC", "MARKET")
    stranger = KiteConnect(sim_kite.api_key, root=sim.url)  # no token yet: the key is in the login form
    install_transport(stranger, pacer=pacer)
    with contextlib.suppress(KiteException):
        stranger.generate_session("x" * 32, "wrong secret")
    with contextlib.suppress(KiteException):
        stranger.margins()  # neither a token nor an api_key parameter on the wire: still this key's bucket
    key = sim_kite.api_key
    assert pacer.asked == [(key, QUOTE), (key, OTHER), (key, HISTORICAL), (key, ORDER), (key, OTHER), (key, OTHER)]
    assert sim.sim.requests["POST /orders/regular"] == 1  # placement is never retried


def test_many_threads_through_one_paced_client_never_get_429(
    fast_quotes: dict[EndpointClass, float], sim: SimServer, sim_kite: KiteConnect, tmp_path: Path
) -> None:
    kite = client_of(sim, sim_kite)
    install_transport(kite, pacer=Pacer(tmp_path, rates=fast_quotes))
    failures: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(8):
                kite.ltp("NSE:INFY", "NSE:TCS")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert sim.sim.requests["GET /quote/ltp"] == 64
    assert sim.sim.limiter.rejected == 0


TWIN = """
import os, sys
from pathlib import Path
from kiteconnect import KiteConnect
from kitekit.rest.pacer import Pacer
from kitekit.rest.transport import install_transport
from kitekit.wire.routes import DEFAULT_RATES, EndpointClass

url, db, rate, calls = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
kite = KiteConnect(os.environ["SIM_KEY"], os.environ["SIM_TOKEN"], root=url)
install_transport(kite, pacer=Pacer(db, rates={**DEFAULT_RATES, EndpointClass.QUOTE: rate}))
print("ready", flush=True)
sys.stdin.readline()  # start together with the twin
for _ in range(calls):
    kite.ltp("NSE:INFY")
print("done", flush=True)
"""


def test_two_processes_on_one_key_never_get_429(
    fast_quotes: dict[EndpointClass, float], sim: SimServer, sim_kite: KiteConnect, tmp_path: Path
) -> None:
    env = {**os.environ, "SIM_KEY": sim_kite.api_key, "SIM_TOKEN": sim_kite.access_token}
    # 30 calls each: pacing each process alone at the limit would send 60 calls in 1.5 s, and the simulator
    # (bursts of 20, then 20/s) would refuse about ten of them.
    argv = [sys.executable, "-c", TWIN, sim.url, str(tmp_path / "shared.sqlite3"), str(FAST_QUOTES), "30"]
    twins = [
        subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    try:
        for twin in twins:
            assert twin.stdout is not None and twin.stdout.readline().strip() == "ready"
        for twin in twins:
            assert twin.stdin is not None
            twin.stdin.write("go\n")
            twin.stdin.flush()
        outputs = [twin.communicate(timeout=60)[0] for twin in twins]
    finally:
        for twin in twins:
            if twin.poll() is None:
                twin.kill()
                twin.wait()
    assert [twin.returncode for twin in twins] == [0, 0]
    assert [out.strip() for out in outputs] == ["done", "done"]
    assert sim.sim.requests["GET /quote/ltp"] == 60
    assert sim.sim.limiter.rejected == 0


def test_a_429_that_gets_through_cools_the_class_down_instead_of_hammering(
    sim: SimServer, sim_kite: KiteConnect, tmp_path: Path
) -> None:
    # This pacer believes in 5 quote calls a second while Kite allows one: without the cooldown its retries
    # would come every 0.2 s and collect a 429 each.
    pacer = Pacer(tmp_path, rates={QUOTE: 5.0}, cooldown=1.0)
    kite = client_of(sim, sim_kite)
    install_transport(kite, pacer=pacer, policy=RetryPolicy(attempts=6, base=0.0))
    client_of(sim, sim_kite).ltp("NSE:INFY")  # another app on the key spends this second's budget
    assert kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"] > 0
    assert sim.sim.limiter.rejected == 1
    assert sim.sim.requests["GET /quote/ltp"] == 3


# -- damaged state never stalls or stops a client ------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000, b""],
    ids=["garbage", "truncated", "empty"],
)
def test_a_damaged_database_is_rebuilt_with_a_warning(
    tmp_path: Path, t: FakeTime, caplog: pytest.LogCaptureFixture, garbage: bytes
) -> None:
    db = tmp_path / "pacing.sqlite3"
    db.write_bytes(garbage)
    pacer = Pacer(db, clock=t.clock, sleep=t.sleep)
    first = pacer.reserve("k", QUOTE)
    assert pacer.reserve("k", QUOTE) - first == pytest.approx(pacer.interval(QUOTE))
    assert pacer.path == db  # still shared through the file, now a real database
    assert ("damaged" in caplog.text) == bool(garbage)


def test_a_database_damaged_while_in_use_is_rebuilt(tmp_path: Path, t: FakeTime) -> None:
    pacer = Pacer(tmp_path / "p.sqlite3", clock=t.clock, sleep=t.sleep)
    pacer.reserve("k", QUOTE)
    with sqlite3.connect(tmp_path / "p.sqlite3") as con:
        con.execute("DROP TABLE buckets")
    pacer.reserve("k", QUOTE)
    assert pacer.path is not None


def test_an_unusable_data_directory_falls_back_to_pacing_in_process(
    tmp_path: Path, t: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "data").write_text("a file where the data directory should be")
    pacer = Pacer(tmp_path / "data" / "pacing.sqlite3", clock=t.clock, sleep=t.sleep)
    first = pacer.reserve("k", QUOTE)
    assert pacer.reserve("k", QUOTE) - first == pytest.approx(pacer.interval(QUOTE))
    assert pacer.path is None
    assert "Pacing within this process only" in caplog.text


def test_a_slot_far_in_the_future_is_reset_instead_of_stalling_the_bucket(
    make_pacer: Callable[..., Pacer], t: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    stale = make_pacer()
    stale.cool_down("k", QUOTE, seconds=7200)  # a database written under a clock two hours ahead
    assert stale.reserve("k", QUOTE) == t.now
    assert "Resetting it" in caplog.text
    busy = make_pacer()
    for _ in range(100):
        busy.reserve("b", QUOTE)  # a real queue of a hundred calls is kept
    assert busy.reserve("b", QUOTE) == pytest.approx(t.now + 100 * busy.interval(QUOTE))


def test_the_database_and_its_folder_are_private_even_under_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        pacer = Pacer(tmp_path / "new" / "deeper" / "pacing.sqlite3")
        pacer.reserve("k", QUOTE)
    finally:
        os.umask(old)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new" / "deeper").stat().st_mode & 0o777 == 0o700
    for name in ("pacing.sqlite3", "pacing.sqlite3-wal", "pacing.sqlite3-shm"):
        assert (tmp_path / "new" / "deeper" / name).stat().st_mode & 0o777 == 0o600, name


@pytest.mark.parametrize("held", ["soon", b"\x00\xff"], ids=["text", "blob"])
def test_a_row_holding_text_counts_as_a_fresh_bucket_with_a_warning(
    tmp_path: Path, t: FakeTime, caplog: pytest.LogCaptureFixture, held: str | bytes
) -> None:
    db = tmp_path / "pacing.sqlite3"
    Pacer(db, clock=t.clock, sleep=t.sleep).reserve("k", QUOTE)
    with sqlite3.connect(db) as con:  # what a stray tool or a foreign kitekit may have written
        con.execute("UPDATE buckets SET tat = ?", (held,))
    pacer = Pacer(db, clock=t.clock, sleep=t.sleep)
    assert pacer.reserve("k", QUOTE) == t.now
    assert pacer.reserve("k", QUOTE) == pytest.approx(t.now + pacer.interval(QUOTE))
    assert "not a time; starting it afresh" in caplog.text and pacer.path == db


def test_a_database_another_process_keeps_locked_is_left_alone_for_a_minute_not_waited_on(
    tmp_path: Path, t: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "pacing.sqlite3"
    pacer = Pacer(db, clock=t.clock, sleep=t.sleep)
    pacer.reserve("k", QUOTE)
    holder = sqlite3.connect(db, isolation_level=None)  # a stuck process holding the write lock
    holder.execute("BEGIN EXCLUSIVE")
    slots: list[float] = []
    worker = threading.Thread(target=lambda: slots.extend(pacer.reserve("k", QUOTE) for _ in range(2)), daemon=True)
    worker.start()
    eventually(lambda: len(slots) == 2, timeout=15)  # SQLite's old busy timeout alone was 30 s
    assert "stayed locked by another process" in caplog.text and caplog.text.count("stayed locked") == 1
    assert slots[1] - slots[0] == pytest.approx(pacer.interval(QUOTE))  # still paced, in this process
    holder.execute("ROLLBACK")
    holder.close()
    t.now += 61  # the pause is over: back to the shared database
    pacer.reserve("k", QUOTE)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT tat FROM buckets").fetchone()[0] == pytest.approx(t.now + pacer.interval(QUOTE))


def test_a_wait_is_capped_and_explained(
    make_pacer: Callable[..., Pacer], t: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="kitekit.rest.pacer")
    stale = make_pacer()
    stale.cool_down("k", QUOTE, seconds=500)  # within the old horizon of 600 intervals: ten silent minutes
    assert stale.acquire("k", QUOTE) == 0.0
    assert "was 500s ahead of now" in caplog.text and "Resetting it instead of waiting" in caplog.text
    stale.cool_down("k", QUOTE, seconds=5)
    assert stale.acquire("k", QUOTE) == pytest.approx(5)
    assert "Waiting 5.0s for the next quote slot of api_key k" in caplog.text
