"""The paper ledger: an append-only log of each call's changes and snapshots now and then, crash-safe.

An acknowledged order is never lost: not when the process is killed mid-write (a torn last line is ignored),
not between a snapshot and emptying the log, not across two processes taking turns. A version 1 ledger moves
over whole and is kept.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from kitekit.clock import ManualClock
from kitekit.errors import JournalError
from kitekit.instruments import InstrumentStore
from kitekit.orders import OrderRequest, OrderStatus, PaperBroker, Product
from tests import paper_child

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def instruments(sim_dump: bytes) -> InstrumentStore:
    return InstrumentStore.from_bytes(sim_dump, paper_child.NOW.date(), clock=ManualClock(paper_child.NOW))


def place(paper: PaperBroker, i: int, **terms: object) -> str:
    side = OrderRequest.buy if i % 2 else OrderRequest.sell
    return paper.place(side("NSE:INFY", 1, product=Product.MIS, **terms), f"o{i}").order_id


def book(paper: PaperBroker) -> list[tuple[str, str, int]]:
    return [(o.order_id, str(o.status), o.filled_quantity) for o in paper.orders()]


def test_a_torn_last_line_is_ignored_and_cut_before_the_next(instruments: InstrumentStore, tmp_path: Path) -> None:
    paper = paper_child.broker(tmp_path, instruments)
    ids = [place(paper, i) for i in range(3)]
    before = book(paper)
    whole = paper.ledger.log_path.read_bytes()
    with paper.ledger.log_path.open("ab") as log:
        log.write(b'{"g":1,"engine":{"set":{"now":"2026-11-27T11:0')  # the process died mid-write
    again = paper_child.broker(tmp_path, instruments)
    assert book(again) == before
    cut = again.ledger.log_path.read_bytes()  # cut back to its last whole line, then the read above logged
    assert cut.startswith(whole) and all(json.loads(line) for line in cut.splitlines())
    ids.append(place(again, 3))
    assert [o[0] for o in book(paper_child.broker(tmp_path, instruments))] == ids


def test_a_damaged_line_inside_the_log_is_reported_and_left_alone(instruments: InstrumentStore, tmp_path: Path) -> None:
    paper = paper_child.broker(tmp_path, instruments)
    for i in range(3):
        place(paper, i)
    lines = paper.ledger.log_path.read_bytes().splitlines(keepends=True)
    damaged = b"".join([lines[0], b"{nonsense\n", *lines[1:]])
    paper.ledger.log_path.write_bytes(damaged)
    with pytest.raises(JournalError, match="damaged at line 2"):
        paper_child.broker(tmp_path, instruments)
    assert paper.ledger.log_path.read_bytes() == damaged


def test_a_line_costs_what_the_call_changed_not_what_the_day_holds(
    instruments: InstrumentStore, tmp_path: Path
) -> None:
    paper = paper_child.broker(tmp_path, instruments)
    sizes = []
    for i in range(60):
        before = paper.ledger.log_path.stat().st_size
        place(paper, i)
        sizes.append(paper.ledger.log_path.stat().st_size - before)
    assert max(sizes[40:]) < 1.1 * max(sizes[5:10])  # the 60th order's line is no larger than the 6th's


def test_the_log_is_folded_into_a_new_snapshot_once_it_outgrows_the_last(
    instruments: InstrumentStore, tmp_path: Path
) -> None:
    paper = paper_child.broker(tmp_path, instruments)
    paper.ledger.min_compaction = 0
    for i in range(30):
        place(paper, i)
    assert paper.ledger.generation >= 3
    assert paper.ledger.log_path.stat().st_size <= paper.ledger.path.stat().st_size
    assert book(paper_child.broker(tmp_path, instruments)) == book(paper)


def test_lines_a_new_snapshot_already_holds_are_skipped_after_a_crash_between_the_two(
    instruments: InstrumentStore, tmp_path: Path
) -> None:
    paper = paper_child.broker(tmp_path, instruments)
    for i in range(4):
        place(paper, i)
    stale, generation = paper.ledger.log_path.read_bytes(), paper.ledger.generation
    paper.ledger.min_compaction = 0  # the log has outgrown the first snapshot: the next call folds it
    place(paper, 4)  # writes the next snapshot, then empties the log ...
    assert paper.ledger.generation == generation + 1
    paper.ledger.log_path.write_bytes(stale)  # ... but the process died before the log was emptied
    again = paper_child.broker(tmp_path, instruments)
    assert book(again) == book(paper) and len(again.trades()) == 5


def test_two_processes_taking_turns_see_each_others_orders_and_intents(
    instruments: InstrumentStore, tmp_path: Path
) -> None:
    one, two = paper_child.broker(tmp_path, instruments), paper_child.broker(tmp_path, instruments)
    ids = []
    for i in range(6):
        ids.append(place(one if i % 2 else two, i))
    assert [o[0] for o in book(one)] == [o[0] for o in book(two)] == ids
    again = two.place(OrderRequest.buy("NSE:INFY", 1, product=Product.MIS), "o1")  # one's intent
    assert again.replayed and again.order_id == ids[1]


def test_a_version_1_ledger_moves_over_whole_and_is_kept(instruments: InstrumentStore, tmp_path: Path) -> None:
    paper = paper_child.broker(tmp_path, instruments)
    ids = [place(paper, i) for i in range(3)]
    resting = place(paper, 3, price=90.0)
    with paper.ledger.lock:
        folded = paper.ledger.load()
    assert folded is not None
    v1 = {"account": "PAPER", "engine": folded["engine"], "intents": folded["intents"], "version": 1}
    raw = json.dumps(v1, separators=(",", ":")).encode()
    paper.ledger.path.write_bytes(raw)  # the ledger as the previous version wrote it: one file, no log
    paper.ledger.log_path.unlink()

    moved = paper_child.broker(tmp_path, instruments)
    assert [o[0] for o in book(moved)] == [*ids, resting]
    assert moved.order(resting).status == OrderStatus.OPEN
    assert moved.place(OrderRequest.buy("NSE:INFY", 1, product=Product.MIS), "o1").replayed
    assert json.loads(moved.ledger.path.read_bytes())["version"] == 2
    assert moved.ledger.v1_path.read_bytes() == raw


def test_every_acknowledged_order_survives_a_kill_at_any_moment(
    instruments: InstrumentStore, sim_dump: bytes, tmp_path: Path
) -> None:
    dump = tmp_path / "dump.csv"
    dump.write_bytes(sim_dump)
    folder = tmp_path / "paper"
    rng = random.Random(20261127)  # when to kill each child: the same moments every run
    acknowledged: dict[str, str] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for round_ in range(4):
        argv = [sys.executable, "-m", "tests.paper_child", str(folder), str(dump), str(round_ * 1000), "20000"]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, cwd=ROOT, env=env) as child:
            assert child.stdout is not None
            wanted = rng.randint(20, 120)
            for seen, line in enumerate(child.stdout, 1):
                _, intent, order_id = line.decode().split()
                acknowledged[intent] = order_id
                if seen >= wanted:
                    break
            child.send_signal(signal.SIGKILL)  # mid-placement, mid-write or mid-snapshot: wherever it is
            for rest in child.stdout.read().decode().splitlines():  # acknowledged before it died
                _, intent, order_id = rest.split()
                acknowledged[intent] = order_id
            child.wait(10)
        survivor = paper_child.broker(folder, instruments)
        on_book = {o.order_id for o in survivor.orders()}
        assert set(acknowledged.values()) <= on_book, f"round {round_}: acknowledged orders lost"
    assert len(acknowledged) >= 80


def test_intents_of_days_long_gone_leave_the_next_snapshot(instruments: InstrumentStore, tmp_path: Path) -> None:
    paper = paper_child.broker(tmp_path, instruments)
    first = [place(paper, i) for i in range(2)]
    assert isinstance(paper.clock, ManualClock)
    paper.clock.set(paper_child.NOW + timedelta(days=11))  # Tuesday 2026-12-08, the same hour
    paper.ledger.min_compaction = 0  # the next call writes a snapshot
    later = place(paper, 0)  # the same intent id on another day: another order
    snapshot = json.loads(paper.ledger.path.read_bytes())
    assert [key[:10] for key in snapshot["intents"]] == ["2026-12-08"] and later not in first
    again = paper_child.broker(tmp_path, instruments)
    again.clock.set(paper_child.NOW + timedelta(days=11))  # type: ignore[attr-defined]
    assert again.place(OrderRequest.sell("NSE:INFY", 1, product=Product.MIS), "o0").order_id == later
