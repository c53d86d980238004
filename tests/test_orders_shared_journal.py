"""One journal shared by processes: an intent is claimed by one of them, sent once, and no order id is forgotten."""

from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bench.reliability_shared import run_shared
from kiteconnect import KiteConnect

from kitekit.clock import IST, ManualClock
from kitekit.errors import JournalError
from kitekit.instruments import InstrumentStore
from kitekit.orders import Intent, IntentJournal, IntentState, LiveBroker, LookupPolicy, OrderRequest, Step
from kitekit.orders.journal import derive_tag
from kitekit.orders.rules import nearest_tick
from kitekit.sim.server import SimServer
from tests.orders_helpers import accepted, advancing, client, sent

ACCOUNT = "KK1234"
#: The journal-only tests run on the simulator's Friday; their intents are dated by it.
NOW = datetime(2026, 11, 27, 11, 0, tzinfo=IST)
PARAMS = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1,
          "order_type": "MARKET", "product": "MIS", "variety": "regular"}  # fmt: skip


def opened(journal: IntentJournal, intent_id: str = "x1") -> Intent:
    return journal.open(ACCOUNT, NOW.date(), intent_id, derive_tag(intent_id, ACCOUNT, NOW.date()), PARAMS, NOW)


def test_of_two_journals_that_both_read_an_intent_as_new_only_one_claims_it(tmp_path: Path) -> None:
    first, second = IntentJournal(tmp_path), IntentJournal(tmp_path)
    mine, theirs = opened(first), opened(second)  # both processes read it "new"
    won = first.claim(mine, NOW, 400, 5000)
    lost = second.claim(theirs, NOW, 400, 5000)
    assert won.won and won.intent.owner == first.owner
    assert (lost.won, lost.wait, lost.intent.state, lost.intent.owner) == (False, 0.0, IntentState.SENDING, first.owner)
    assert second.held(lost.intent) and second.sends_since(ACCOUNT, NOW - timedelta(minutes=1)) == 1
    first.close()  # the claimant is gone: nobody waits for it any more
    assert not second.held(lost.intent)


def test_a_step_taken_on_a_stale_copy_of_an_intent_changes_nothing(tmp_path: Path) -> None:
    first, second = IntentJournal(tmp_path), IntentJournal(tmp_path)
    stale = opened(second)
    first.claim(opened(first), NOW, 400, 5000)
    assert second.absent(stale, NOW).state is IntentState.SENDING  # still the other process's claim
    assert second.failed(stale, "given up", NOW).state is IntentState.SENDING


def test_an_order_id_is_never_overwritten_and_a_second_order_is_kept_as_extra(tmp_path: Path) -> None:
    journal = IntentJournal(tmp_path)
    sending = journal.claim(opened(journal), NOW, 400, 5000).intent
    assert journal.placed(sending, "111", NOW).order_id == "111"
    again = journal.placed(sending, "222", NOW + timedelta(seconds=1), how="lookup")
    assert (again.state, again.order_id) == (IntentState.PLACED, "111")
    [extra] = journal.extra_orders(ACCOUNT, NOW.date())
    assert (extra.intent_id, extra.order_id, extra.first_order_id, extra.how) == ("x1", "222", "111", "lookup")
    assert journal.order_ids(ACCOUNT, NOW.date()) == {"111": "x1", "222": "x1"}


def test_journals_opened_at_the_same_moment_all_open(tmp_path: Path) -> None:
    # Two connections switching a new file to WAL at once get "database is locked" without SQLite waiting;
    # it happens in a few percent of such races, so many are run (each thread opens its own connection).
    failures: list[BaseException] = []
    for round_ in range(200):
        folder = tmp_path / str(round_)
        start = threading.Barrier(8)

        def open_it(folder: Path = folder, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                IntentJournal(folder).close()
            except JournalError as exc:
                failures.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []


def test_a_journal_locked_past_its_bound_says_so_and_changes_nothing(tmp_path: Path) -> None:
    journal = IntentJournal(tmp_path, lock_timeout=0.2)
    holder = sqlite3.connect(journal.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    with pytest.raises(JournalError, match=r"stayed locked by another process for 0\.2 s \(database is locked\)"):
        opened(journal)
    holder.execute("ROLLBACK")
    assert journal.intents(ACCOUNT) == []
    assert opened(journal).state is IntentState.NEW  # the lock came: it works again


def test_a_journal_from_before_claims_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE intents (account TEXT NOT NULL, day TEXT NOT NULL, intent_id TEXT NOT NULL, tag TEXT NOT NULL,"
        " request TEXT NOT NULL, state TEXT NOT NULL, order_id TEXT, sends INTEGER NOT NULL DEFAULT 0,"
        " error_type TEXT, status INTEGER, message TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
        " PRIMARY KEY (account, day, intent_id), UNIQUE (account, day, tag));"
        "CREATE TABLE sends (account TEXT NOT NULL, day TEXT NOT NULL, at REAL NOT NULL);"
    )
    rows = [("a", "TAGA", "placed", "9"), ("b", "TAGB", "sending", None)]  # one placed, one left in doubt
    old.executemany(
        "INSERT INTO intents VALUES (?, '2026-11-27', ?, ?, '{}', ?, ?, 1, NULL, NULL, NULL, ?, ?)",
        [(ACCOUNT, i, tag, state, order, NOW.isoformat(), NOW.isoformat()) for i, tag, state, order in rows],
    )
    old.commit()
    old.close()
    journal = IntentJournal(path)
    assert journal.order_ids(ACCOUNT, NOW.date()) == {"9": "a"}
    doubt = journal.get(ACCOUNT, NOW.date(), "b")
    assert doubt is not None and doubt.owner is None and not journal.held(doubt)  # in doubt, nobody sending it


# -- placing through brokers ------------------------------------------------------------------------------
def broker(
    sim: SimServer, store: InstrumentStore, clock: ManualClock, folder: Path, kite: KiteConnect | None = None,
    **options: Any,
) -> LiveBroker:  # fmt: skip
    """A broker with a journal of its own on the file in ``folder`` (as another process would have)."""
    return LiveBroker(kite or client(sim), store, journal=IntentJournal(folder), clock=clock, sleep=advancing(clock),
                      lookup=LookupPolicy(settle=2.0, looks=3), **options)  # fmt: skip


def resting(live: LiveBroker) -> OrderRequest:
    last = float(live.kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"])
    return OrderRequest.buy("NSE:INFY", 1, price=nearest_tick(last * 0.96, 0.05))


def test_a_placement_finding_the_intent_claimed_by_a_live_process_waits_and_returns_its_order(
    sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    claimed, waiting, recorded = threading.Event(), threading.Event(), threading.Event()

    def first_steps(step: Step, intent: Intent) -> None:
        if step is Step.CLAIMED:
            claimed.set()
            waiting.wait(5)  # the request leaves once the other waits for it (a placer that never waits: 5 s)
        elif step is Step.RECORDED:
            recorded.set()

    def second_steps(step: Step, intent: Intent) -> None:
        if step is Step.WAITING:
            waiting.set()
            assert recorded.wait(10)

    # One login for both (a second login ends the first's session); each broker has its own journal and owner.
    first = broker(sim, sim_instruments, sim_clock, tmp_path / "orders", on_step=first_steps)
    second = broker(sim, sim_instruments, sim_clock, tmp_path / "orders", first.kite, on_step=second_steps)
    request = resting(first)
    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(first.place, request, "race")
        assert claimed.wait(10)
        theirs = second.place(request, "race")
        mine = sending.result(10)
    assert (theirs.order_id, theirs.replayed, mine.replayed) == (mine.order_id, True, False)
    assert sent(sim) == 1 and [o["order_id"] for o in accepted(sim) if o["tag"] == mine.tag] == [mine.order_id]


def test_a_claim_whose_process_is_gone_is_looked_up_by_tag_and_its_order_found(
    sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    live = broker(sim, sim_instruments, sim_clock, tmp_path / "orders", reconcile=False)
    request = resting(live)
    params = live.check(request).to_kite()
    tag = derive_tag("gone", ACCOUNT, sim_clock.now().date())
    dead = IntentJournal(tmp_path / "orders")
    dead.claim(
        dead.open(ACCOUNT, sim_clock.now().date(), "gone", tag, params, sim_clock.now()), sim_clock.now(), 400, 5000
    )
    order_id = live.kite.place_order(**params, tag=tag)  # its request got out, then it was killed
    dead.close()
    placed = live.place(request, "gone")
    assert (placed.order_id, placed.recovered, sent(sim)) == (order_id, True, 1)


def test_a_second_exchange_order_of_an_intent_is_recorded_and_reported_at_reconciliation(
    sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    live = broker(sim, sim_instruments, sim_clock, tmp_path / "orders")
    request = resting(live)
    first = live.place(request, "twice")
    second = live.kite.place_order(**live.check(request).to_kite(), tag=first.tag)  # however it arose
    with caplog.at_level(logging.ERROR, logger="kitekit.orders"):
        restarted = broker(sim, sim_instruments, sim_clock, tmp_path / "orders")
    [extra] = restarted.last_reconciliation.extra
    assert (extra.intent_id, extra.order_id, extra.first_order_id, extra.how) == (
        "twice",
        second,
        first.order_id,
        "audit",
    )
    assert f"has a second exchange order today, {second}, besides {first.order_id}" in caplog.text
    assert restarted.place(request, "twice").order_id == first.order_id
    assert set(restarted.journal.order_ids(ACCOUNT, sim_clock.now().date())) == {first.order_id, second}


@pytest.mark.slow
def test_processes_placing_the_same_intents_on_one_journal_send_each_exactly_once(tmp_path: Path) -> None:
    # Four processes, the same 16 intents, stalls at a third of the steps, SIGKILLs (by the test and by the
    # workers themselves at random steps) and order faults; the full run is `./dev bench reliability`.
    out = run_shared(orders=16, workers=4, kills=2, seed=11, folder=tmp_path, quiet=True, stall_rate=0.3,
                     kill_rate=0.01)  # fmt: skip
    assert (out.duplicated, out.unknown, out.extra, out.lost, out.strays) == (0, 0, 0, 0, 0)
    assert out.intents == 16 and out.placed + out.refused == 16 and out.exchange_orders == out.placed
    assert out.kills >= 2 and {"claiming", "claimed"} <= set(out.stalls_at_steps)
