"""Time is read in one place: kitekit's code and tests never ask the machine for "now" behind the clock's back.

The calendar matrix (``./dev matrix``) runs the tests that read the wall clock at many instants; it finds them
by watching :class:`kitekit.clock.SystemClock`. A read that goes around it would hide a test that breaks on
another date, so this file keeps the only ones there are to places where the date cannot matter.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from kitekit.clock import IST, SystemClock, wall_shift

ROOT = Path(__file__).resolve().parents[1]
WALL_READS = re.compile(
    r"datetime\.now\(|date\.today\(|\butcnow\(|time\.time(_ns)?\(\)|time\.(strftime|localtime|gmtime)\("
)

#: file -> why its read of the wall clock cannot depend on the date.
ALLOWED = {
    "src/kitekit/clock.py": "SystemClock itself",
    "src/kitekit/ticker/recorder.py": "a unique id for one recorder's part files, never shown as a time",
    "src/kitekit/history/duckfile.py": "the name a damaged store is set aside under",
    "src/kitekit/sim/exchange.py": "the name a damaged account file is set aside under",
    "src/kitekit/instruments/cache.py": "the age of a temporary file, against the file system's own clock",
    "src/kitekit/orders/owners.py": "the age of a lock file, against the file system's own clock",
    "scripts/calendar_instants.py": "the matrix counts its instants from today, on purpose",
    "src/kitekit/dashboard/push.py": "when a batch leaves, for the browser's clock to age it by; never shown as a time",
    "tests/test_wall_clock.py": "this file's pattern",
    "tests/pacer_child.py": "send times and a skewed client clock, compared between the processes of one run",
    "tests/test_bus_pacer.py": "send times and skewed client clocks, compared between the processes of one run",
    "bench/scale_child.py": "send times and a skewed client clock, compared between the processes of one run",
    "bench/bench_scale.py": "send times and the outage's span, compared between the processes of one run",
    "bench/reliability_brokers.py": "the run's start, handed to its workers so their clocks tell the simulator's",
}


def wall_reads() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for folder in ("src", "tests", "bench", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if WALL_READS.search(line)]
            if lines:
                found[str(path.relative_to(ROOT))] = lines
    return found


def test_only_the_clock_and_date_free_uses_read_the_wall_clock_directly() -> None:
    assert {k: v for k, v in wall_reads().items() if k not in ALLOWED} == {}


def test_the_pattern_finds_each_way_of_asking_for_now() -> None:
    for line in ("datetime.now(IST)", "date.today()", "time.time()", "time.time_ns()", "time.strftime('%Y')"):
        assert WALL_READS.search(line), line
    assert not WALL_READS.search("clock.now()") and not WALL_READS.search("time.monotonic()")


def test_kitekit_now_moves_the_wall_clock_alike_in_this_process_and_the_ones_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KITEKIT_NOW", "2027-01-26T10:00:00+05:30")
    monkeypatch.delenv("KITEKIT_NOW_AT", raising=False)
    here = SystemClock().now()
    assert abs((here - datetime(2027, 1, 26, 10, 0, tzinfo=IST)).total_seconds()) < 5
    child = subprocess.run(
        [sys.executable, "-c", "from kitekit.clock import SystemClock; print(SystemClock().now().isoformat())"],
        capture_output=True,
        text=True,
        check=True,
    )
    there = datetime.fromisoformat(child.stdout.strip())
    # The child started later but from the same origin (KITEKIT_NOW_AT): its clock ran on, never started again.
    assert timedelta(0) <= there - here < timedelta(seconds=30)
    monkeypatch.setenv("KITEKIT_NOW", "2027-01-26 10:00")
    with pytest.raises(ValueError, match="no UTC offset"):
        SystemClock().now()
    monkeypatch.delenv("KITEKIT_NOW")
    assert wall_shift() == 0.0
