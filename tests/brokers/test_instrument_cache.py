"""Each broker's parsed instruments cached per dump day: the same lookups from the cache as from the parse,
a damaged cache rebuilt, a new day's (or a re-downloaded) dump replacing it."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kitekit.brokers.angel.instruments import AngelInstruments
from kitekit.brokers.upstox.instruments import UpstoxInstruments, records_of
from kitekit.clock import ManualClock
from kitekit.instruments import cache
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.wire.upstox.instruments import decode_dump


def _counting(raw: bytes) -> tuple[Callable[[], bytes], list[int]]:
    calls: list[int] = []

    def download() -> bytes:
        calls.append(1)
        return raw

    return download, calls


def _upstox_lookups(store: UpstoxInstruments, queries: list[str]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for query in queries:
        inst = store.instrument(query)
        by_key = store.instrument(inst.broker_key)
        out.append((inst, store.broker_key(query), store.key(inst.broker_key), by_key))
    out.append(tuple(store.search("NIFTY", 5)))
    out.append(tuple(store.futures("NIFTY")))
    out.append(tuple(store.expiries("NIFTY")))
    return out


@pytest.fixture
def upstox_queries(upstox_dump: bytes) -> list[str]:
    records, _ = records_of(decode_dump(upstox_dump))
    return ["NSE:RELIANCE", "NSE:NIFTY 50", *(r.key for r in records[::997])]


def _kkdump(folder: Path) -> list[Path]:
    return sorted(folder.glob("upstox-*.kkdump"))


def test_upstox_answers_the_same_lookups_from_its_cache_as_from_the_parse(
    upstox_dump: bytes, upstox_queries: list[str], tmp_path: Path
) -> None:
    clock = ManualClock(SIM_NOW)
    download, calls = _counting(upstox_dump)
    parsed = UpstoxInstruments(tmp_path, download, clock)
    expected = _upstox_lookups(parsed, upstox_queries)
    (cached_file,) = _kkdump(tmp_path)
    # The dump is spoilt, keeping its size and time: only the cache can answer now.
    dump = parsed._file(parsed._today())
    stat = dump.stat()
    dump.write_bytes(b"\0" * stat.st_size)
    os.utime(dump, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    fresh = UpstoxInstruments(tmp_path, download, clock)
    assert _upstox_lookups(fresh, upstox_queries) == expected
    assert calls == [1] and _kkdump(tmp_path) == [cached_file]


def test_a_damaged_upstox_cache_is_read_again_from_the_dump_and_rewritten(
    upstox_dump: bytes, upstox_queries: list[str], tmp_path: Path
) -> None:
    clock = ManualClock(SIM_NOW)
    download, calls = _counting(upstox_dump)
    expected = _upstox_lookups(UpstoxInstruments(tmp_path, download, clock), upstox_queries)
    (cached_file,) = _kkdump(tmp_path)
    data = bytearray(cached_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the CSV
    cached_file.write_bytes(bytes(data))

    assert _upstox_lookups(UpstoxInstruments(tmp_path, download, clock), upstox_queries) == expected
    day = UpstoxInstruments(tmp_path, download, clock)._today()
    cache.open_day(cached_file, day).read_csv()  # whole again
    cached_file.write_bytes(b"not a cache")
    assert _upstox_lookups(UpstoxInstruments(tmp_path, download, clock), upstox_queries) == expected
    assert calls == [1]


def test_a_new_days_upstox_dump_replaces_the_cache_and_so_does_a_forced_download(
    upstox_dump: bytes, upstox_queries: list[str], tmp_path: Path
) -> None:
    clock = ManualClock(SIM_NOW)
    download, calls = _counting(upstox_dump)
    store = UpstoxInstruments(tmp_path, download, clock)
    expected = _upstox_lookups(store, upstox_queries)
    (first,) = _kkdump(tmp_path)

    clock.advance(timedelta(days=3))  # Friday 27 Nov 2026 to Monday 30 Nov: the next trading day's dump
    assert _upstox_lookups(UpstoxInstruments(tmp_path, download, clock), upstox_queries) == expected
    (second,) = _kkdump(tmp_path)
    assert second != first and second.name == f"upstox-{store._today().isoformat()}.kkdump"
    assert len(calls) == 2

    # A dump downloaded again the same day makes the cache stale: it is read from the new dump.
    stamp = second.stat().st_mtime_ns
    assert store.sync(force=True)
    assert _upstox_lookups(UpstoxInstruments(tmp_path, download, clock), upstox_queries) == expected
    assert _kkdump(tmp_path) == [second] and second.stat().st_mtime_ns != stamp


@pytest.fixture(scope="module")
def angel_master(sim_market: Any) -> bytes:
    from kitekit.sim.angel.catalog import angel_catalog

    return angel_catalog(sim_market, sim_market.universe(SIM_NOW)).master()


def _angel_lookups(store: AngelInstruments) -> list[object]:
    everything = store._ix.all
    queries: list[str | int] = ["RELIANCE", "NSE:RELIANCE", "NSE:RELIANCE-EQ", "NIFTY 50", "NSE:NIFTY 50"]
    for inst in everything[::997]:
        queries += [inst.key, inst.broker_key, inst.token or 0, store.angel_symbol(inst)]
    out: list[object] = [store.instrument(q) for q in queries]
    out += [store.angel_symbol(i) for i in everything[::997]]
    out += [store.search("NIFTY", 5), store.futures("NIFTY"), store.expiries("NIFTY"), len(everything)]
    return out


def test_angel_answers_the_same_lookups_from_its_cache_as_from_the_parse(angel_master: bytes, tmp_path: Path) -> None:
    clock = ManualClock(SIM_NOW)
    download, calls = _counting(angel_master)
    parsed = AngelInstruments(download, tmp_path, clock).load()
    expected = _angel_lookups(parsed)
    (cached_file,) = sorted(tmp_path.glob("angel-*.kkdump"))
    # The master is spoilt, keeping its size and time: only the cache can answer now (the process's own
    # parse is keyed by the file's path, so another folder's name for it is used).
    master = parsed._path(SIM_NOW.date())
    stat = master.stat()
    other = tmp_path / "again"
    other.mkdir()
    for source in (master, cached_file):
        (other / source.name).write_bytes(source.read_bytes())
        os.utime(other / source.name, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (other / master.name).write_bytes(b"\0" * stat.st_size)
    os.utime(other / master.name, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    assert _angel_lookups(AngelInstruments(download, other, clock).load()) == expected
    assert calls == [1]


def test_a_damaged_angel_cache_is_read_again_and_a_new_day_replaces_it(angel_master: bytes, tmp_path: Path) -> None:
    clock = ManualClock(SIM_NOW)
    download, calls = _counting(angel_master)
    first = tmp_path / "first"
    expected = _angel_lookups(AngelInstruments(download, first, clock).load())
    (cached_file,) = sorted(first.glob("angel-*.kkdump"))
    second = tmp_path / "second"  # another folder: the process's own parse of the first is not reused
    second.mkdir()
    for source in first.iterdir():
        data = bytearray(source.read_bytes())
        if source == cached_file:
            data[len(data) // 2] ^= 0xFF
        (second / source.name).write_bytes(bytes(data))
        os.utime(second / source.name, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns))

    assert _angel_lookups(AngelInstruments(download, second, clock).load()) == expected
    cache.open_day(second / cached_file.name, SIM_NOW.date()).read_csv()  # whole again

    clock.advance(timedelta(days=3))
    assert _angel_lookups(AngelInstruments(download, second, clock).load()) == expected
    assert [p.name for p in sorted(second.glob("angel-*.kkdump"))] == [f"angel-{clock.now().date().isoformat()}.kkdump"]
    assert len(calls) == 2
