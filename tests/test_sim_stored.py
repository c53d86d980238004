"""The simulator's day builds kept on disk: read back equal in another process, remade when damaged, or not kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kitekit.sim.angel.catalog import angel_catalog
from kitekit.sim.market import Market, Universe, stored
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.upstox.catalog import UpstoxCatalog

DAY = SIM_NOW.date()
COLUMNS = (*stored._ARRAYS, *stored._TEXTS)

# Another process builds the day's universe and both dumps into the folder the environment names.
BUILD = """
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.upstox.catalog import UpstoxCatalog
from kitekit.sim.angel.catalog import angel_catalog
market = Market()
market.universe(SIM_NOW).dump()
UpstoxCatalog(market).dump(SIM_NOW)
angel_catalog(market, market.universe(SIM_NOW)).master()
"""


def never(*_: object) -> bytes:
    raise AssertionError("made again: the kept build was not read")


def assert_same(a: Universe, b: Universe) -> None:
    assert a.as_of == b.as_of
    for name in COLUMNS:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype, name
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            assert x == y, name
    assert a.by_key == b.by_key and a.by_token == b.by_token


def test_a_day_kept_by_one_process_is_read_by_another_exactly_as_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim_market: Market
) -> None:
    monkeypatch.setenv(stored.ENV, str(tmp_path))
    subprocess.run([sys.executable, "-c", BUILD], check=True, timeout=300)
    kept = sorted(p.name.rsplit("-", 1)[0] for p in tmp_path.iterdir())
    assert kept == [
        "angel-master-7-2026-11-27",
        "kite-dump-all-7-2026-11-27",
        "universe-7-2026-11-27",
        "upstox-dump-7-2026-11-27",
    ]
    assert all(p.name.endswith(stored.fingerprint()) and p.stat().st_mode & 0o077 == 0 for p in tmp_path.iterdir())

    read = stored.universe(7, DAY, build=never)  # type: ignore[arg-type]
    built = sim_market._build_new(DAY)  # made here, without the folder
    assert_same(read, built)
    assert read.keep("kite-dump-all", never) == built.dump()[1]
    market = Market()  # whose dumps are made here from the universe built here: equal to the kept ones
    monkeypatch.setattr(market, "_universe_of", lambda day: built)
    assert UpstoxCatalog(market).dump(SIM_NOW) == read.keep("upstox-dump", never)
    assert angel_catalog(market, built).master() == read.keep("angel-master", never)


def test_a_damaged_build_is_made_again_and_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim_market: Market
) -> None:
    monkeypatch.setenv(stored.ENV, str(tmp_path))
    uni = sim_market.universe(SIM_NOW)
    path = tmp_path / f"universe-7-{DAY}-{stored.fingerprint()}"
    path.write_bytes(b"PK\x03\x04 half a file")
    made: list[int] = []

    def build() -> Universe:
        made.append(1)
        return uni

    assert_same(stored.universe(7, DAY, build), uni)
    assert made == [1]
    assert_same(stored.universe(7, DAY, build=never), uni)  # type: ignore[arg-type]  # replaced: read now


def test_off_keeps_nothing_and_an_unwritable_folder_still_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(stored.ENV, "off")
    calls: list[int] = []

    def make() -> bytes:
        calls.append(1)
        return b"built"

    assert stored.read_or_make("thing", make) == stored.read_or_make("thing", make) == b"built"
    assert calls == [1, 1]
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"")
    monkeypatch.setenv(stored.ENV, str(blocked / "below"))  # a folder under a file cannot be made
    assert stored.read_or_make("thing", make) == b"built"
    assert calls == [1, 1, 1]
