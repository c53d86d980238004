"""The instrument store against the simulator: refresh timing, atomic cache, lookups, chains, bad input."""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex
from requests.adapters import HTTPAdapter

from kitekit.clock import IST, ManualClock
from kitekit.errors import AmbiguousInstrumentError, InstrumentCacheError, UnknownInstrumentError
from kitekit.instruments import Instrument, InstrumentStore, fetch_dump
from kitekit.instruments.model import typed_table
from kitekit.markethours import NSE_HOLIDAYS, TradingCalendar
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.server import SimServer
from kitekit.wire.dump_columns import DumpColumns
from kitekit.wire.instruments_csv import HEADER

pytestmark = pytest.mark.usefixtures("unlimited")

FRIDAY_1100 = datetime(2026, 11, 27, 11, 0, tzinfo=IST)
FRIDAY_FILE = "2026-11-27.kkdump"


@pytest.fixture
def clock() -> ManualClock:
    """The store's own clock (the simulator keeps its own)."""
    return ManualClock(FRIDAY_1100)


@pytest.fixture
def store(sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock) -> InstrumentStore:
    return InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock)


@pytest.fixture(scope="module")
def dump_bytes(sim_market: Market) -> bytes:
    """The simulator's full dump for the test Friday, as it serves it."""
    raw, _ = sim_market.universe(SIM_NOW).dump()
    return raw


def cached_files(folder: Path) -> list[str]:
    """Return the names in the cache folder but the sync lock, sorted."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".sync.lock")


def downloads(sim: SimServer) -> int:
    """Count the dump downloads the simulator served."""
    return sum(
        n for k, n in dict(sim.sim.requests).items() if k.startswith("GET /instruments") and "historical" not in k
    )


def sections(path: Path) -> tuple[int, int]:
    """Return where the index and the CSV of a day file start."""
    data = path.read_bytes()
    size = int.from_bytes(data[16:20], "little")  # after the 16-byte magic: header length, header CRC
    header = json.loads(data[24 : 24 + size])
    index_at = 24 + size
    return index_at, index_at + header["index"]["length"]


# -- refresh timing ------------------------------------------------------------------------------------------


def test_the_first_load_downloads_and_later_loads_reuse_the_cache(
    store: InstrumentStore, sim: SimServer, sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock
) -> None:
    store.load()
    assert downloads(sim) == 1
    again = InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock).load()
    assert again.token("NSE:RELIANCE") == 738561
    assert again.sync() is False
    assert downloads(sim) == 1
    assert store.is_fresh()


@pytest.mark.parametrize(
    ("later", "downloads_again"),
    [
        (datetime(2026, 11, 27, 15, 0, tzinfo=IST), False),  # same day
        (datetime(2026, 11, 28, 12, 0, tzinfo=IST), False),  # Saturday: Friday's dump is still the latest
        (datetime(2026, 11, 29, 23, 0, tzinfo=IST), False),  # Sunday night
        (datetime(2026, 11, 30, 8, 29, tzinfo=IST), False),  # Monday before the 08:30 regeneration
        (datetime(2026, 11, 30, 8, 30, tzinfo=IST), True),  # Monday from 08:30
        (datetime(2026, 12, 2, 9, 0, tzinfo=IST), True),  # days skipped: Wednesday
    ],
)
def test_refresh_happens_once_a_trading_day_after_half_past_eight(
    sim: SimServer, sim_kite: KiteConnect, tmp_path: Path, later: datetime, downloads_again: bool
) -> None:
    clock = ManualClock(FRIDAY_1100)
    InstrumentStore(tmp_path / "c", sim_kite, clock=clock).load()
    clock.set(later)
    InstrumentStore(tmp_path / "c", sim_kite, clock=clock).load()
    assert downloads(sim) == (2 if downloads_again else 1)


def test_a_cache_from_wednesday_seen_on_friday_morning_is_refreshed(
    sim: SimServer, sim_kite: KiteConnect, tmp_path: Path
) -> None:
    clock = ManualClock(datetime(2026, 11, 25, 9, 0, tzinfo=IST))
    store = InstrumentStore(tmp_path / "c", sim_kite, clock=clock).load()
    clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=IST))
    assert store.dump_day() == date(2026, 11, 27) and not store.is_fresh()
    store.load()
    assert downloads(sim) == 2
    assert store.cached_days() == [date(2026, 11, 27), date(2026, 11, 25)]


def test_a_holiday_monday_keeps_fridays_dump_fresh(sim: SimServer, sim_kite: KiteConnect, tmp_path: Path) -> None:
    calendar = TradingCalendar([*NSE_HOLIDAYS, date(2026, 11, 30)])
    clock = ManualClock(FRIDAY_1100)
    InstrumentStore(tmp_path / "c", sim_kite, clock=clock, calendar=calendar).load()
    clock.set(datetime(2026, 11, 30, 10, 0, tzinfo=IST))
    store = InstrumentStore(tmp_path / "c", sim_kite, clock=clock, calendar=calendar).load()
    assert store.dump_day() == date(2026, 11, 27)
    assert downloads(sim) == 1


def test_the_refresh_time_is_configurable(sim: SimServer, sim_kite: KiteConnect, tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 8, 0, tzinfo=IST))
    early = InstrumentStore(tmp_path / "c", sim_kite, clock=clock, refresh_at=time(7, 45))
    assert early.dump_day() == date(2026, 11, 30)
    assert InstrumentStore(tmp_path / "c", sim_kite, clock=clock).dump_day() == date(2026, 11, 27)
    with pytest.raises(ValueError, match="naive"):
        early.dump_day(datetime(2026, 11, 30, 8, 0))  # noqa: DTZ001 - the point of the test


def test_a_long_running_process_picks_up_the_next_day_by_calling_load_again(
    store: InstrumentStore, sim: SimServer, clock: ManualClock
) -> None:
    store.load()
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=IST))
    assert store.token("NIFTY 50") == 256265  # lookups never download
    assert downloads(sim) == 1
    store.load()
    assert downloads(sim) == 2
    store.load()
    assert downloads(sim) == 2
    assert store.token("NIFTY 50") == 256265


def test_a_store_without_a_downloader_uses_the_newest_cache_and_says_so(
    store: InstrumentStore, tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    store.load()
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=IST))
    offline = InstrumentStore(tmp_path / "instruments", None, clock=clock).load()
    assert offline.token("NSE:INFY") == 408065
    assert "not downloaded yet" in caplog.text


def test_with_nothing_cached_and_no_downloader_the_error_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(InstrumentCacheError, match="kitekit instruments sync"):
        InstrumentStore(tmp_path / "empty").load()
    with pytest.raises(InstrumentCacheError, match="no way to download"):
        InstrumentStore(tmp_path / "empty").sync()


# -- atomic replacement and damage ---------------------------------------------------------------------------


def test_a_crash_mid_write_leaves_the_previous_cache_usable(
    store: InstrumentStore, sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.load()
    before = (tmp_path / "instruments" / FRIDAY_FILE).read_bytes()
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=IST))

    def power_cut(src: str, dst: str) -> None:
        raise OSError(5, "Input/output error")  # the new file is written and fsynced, never renamed

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", power_cut)
        with pytest.raises(OSError, match="Input/output"):
            InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock).load()
    assert cached_files(tmp_path / "instruments") == [FRIDAY_FILE]  # no half file, no temp
    assert (tmp_path / "instruments" / FRIDAY_FILE).read_bytes() == before
    survivor = InstrumentStore(tmp_path / "instruments", None, clock=clock).load()
    assert survivor.instrument("NSE:RELIANCE").instrument_token == 738561


def test_a_same_day_replace_under_an_open_store_is_read_from_the_new_file(
    store: InstrumentStore,
    sim: SimServer,
    sim_kite: KiteConnect,
    tmp_path: Path,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kitekit.instruments")
    reader = InstrumentStore(tmp_path / "instruments", None, clock=clock)
    store.load()
    reader.load()  # opened: index read, the CSV not yet
    clock.advance(60)
    assert InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock).sync(force=True)  # another process
    assert reader.instrument("NSE:TCS").instrument_token == 2953217
    assert "changed under us" in caplog.text and "damaged" not in caplog.text
    assert downloads(sim) == 2


def test_a_leftover_temporary_file_of_a_killed_writer_is_ignored_and_cleaned_up(
    store: InstrumentStore, tmp_path: Path, clock: ManualClock
) -> None:
    folder = tmp_path / "instruments"
    folder.mkdir()
    leftover = folder / ".2026-11-27.kkdump.abc123.tmp"
    leftover.write_bytes(b"half a file")  # however young: under the sync lock no other writer is alive
    legacy = folder / "2026-11-20"  # a folder of the first cache layout
    legacy.mkdir()
    (legacy / "meta.json").write_text("{}")
    store.load()
    assert cached_files(folder) == [FRIDAY_FILE]


@pytest.mark.parametrize("damage", ["csv-bit", "index-bit", "header-bit", "truncated", "padded", "empty"])
def test_a_damaged_cache_is_detected_and_downloaded_again(
    store: InstrumentStore, sim: SimServer, sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock, damage: str
) -> None:
    store.load()
    path = tmp_path / "instruments" / FRIDAY_FILE
    data = bytearray(path.read_bytes())
    index_at, csv_at = sections(path)
    if damage == "csv-bit":
        data[csv_at + 5000] ^= 0x20
    elif damage == "index-bit":
        data[index_at + 100] ^= 0x01
    elif damage == "header-bit":
        data[30] ^= 0x01
    elif damage == "truncated":
        del data[-100:]
    elif damage == "padded":
        data += b"\n"
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    fresh = InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock)
    assert fresh.instrument("NSE:RELIANCE").name == "RELIANCE INDUSTRIES"  # right data after all
    assert downloads(sim) == 2


@pytest.mark.parametrize(
    "header",
    [
        b"[]",
        b'{"index": "big", "csv": {}}',
        b'{"index": {"length": -1, "crc32": 0}, "csv": {"length": 1, "crc32": 0}}',
        b"",
    ],
    ids=["a list", "a string section", "a negative length", "a number for the exchange list"],
)
def test_a_header_of_the_wrong_shape_counts_as_damage_and_is_downloaded_again(
    store: InstrumentStore, sim: SimServer, sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock, header: bytes
) -> None:
    store.load()
    path = tmp_path / "instruments" / FRIDAY_FILE
    data = path.read_bytes()
    size = int.from_bytes(data[16:20], "little")
    if not header:  # the real header, every length and checksum right, but "selection" a number
        header = json.dumps({**json.loads(data[24 : 24 + size]), "selection": 5}).encode()
        header += b" " * (size - len(header))
    # Valid JSON with a valid checksum, only not of the shape kitekit writes.
    forged = data[:16] + len(header).to_bytes(4, "little") + zlib.crc32(header).to_bytes(4, "little") + header
    path.write_bytes(forged + data[24 + size :])
    fresh = InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock)
    assert fresh.token("NSE:RELIANCE") == 738561
    assert downloads(sim) == 2


def test_two_overlapping_syncs_never_crash_and_download_once(
    sim: SimServer, sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock
) -> None:
    stores = [InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock) for _ in range(2)]
    results: list[bool] = []
    errors: list[BaseException] = []

    def sync(store: InstrumentStore) -> None:
        try:
            results.append(store.sync())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sync, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted(results) == [False, True]  # the second waited for the first, then found its file
    assert downloads(sim) == 1
    assert all(store.token("NSE:INFY") == 408065 for store in stores)
    assert cached_files(tmp_path / "instruments") == [FRIDAY_FILE]


def test_a_damaged_cache_without_a_downloader_is_never_trusted(
    store: InstrumentStore, tmp_path: Path, clock: ManualClock
) -> None:
    store.load()
    path = tmp_path / "instruments" / FRIDAY_FILE
    data = bytearray(path.read_bytes())
    data[-50] ^= 0x01  # in the CSV: found when a record is first read
    path.write_bytes(bytes(data))
    offline = InstrumentStore(tmp_path / "instruments", None, clock=clock).load()
    assert offline.token("NSE:RELIANCE") == 738561  # the index is intact and checked on its own
    with pytest.raises(InstrumentCacheError, match="kitekit instruments sync"):
        offline.instrument("NSE:RELIANCE")
    assert not path.exists()  # so the next sync downloads it again


def test_sync_checks_the_whole_file_before_calling_it_cached(
    store: InstrumentStore, sim: SimServer, tmp_path: Path
) -> None:
    store.load()
    path = tmp_path / "instruments" / FRIDAY_FILE
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))
    assert store.sync() is True
    assert downloads(sim) == 2


def test_an_error_answer_leaves_the_cache_untouched(
    store: InstrumentStore, sim: SimServer, sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock
) -> None:
    store.load()
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=IST))
    requests.put(f"{sim.url}/__sim/faults", json={"html_502_rate": 1.0, "paths": ["/instruments"]}, timeout=5)
    with pytest.raises(kex.DataException, match="Unknown Content-Type"):
        InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock).sync()
    requests.put(f"{sim.url}/__sim/faults", json={"html_502_rate": 0, "data_error_rate": 1.0}, timeout=5)
    with pytest.raises(kex.DataException):
        InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock).sync()
    assert InstrumentStore(tmp_path / "instruments", None, clock=clock).cached_days() == [date(2026, 11, 27)]


def test_garbage_that_is_not_a_dump_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    store = InstrumentStore(tmp_path / "c", lambda exchange, progress: b"<html>oops</html>", clock=clock)
    with pytest.raises(ValueError, match="not a Kite instruments dump"):
        store.load()
    empty = InstrumentStore(tmp_path / "c", lambda exchange, progress: HEADER.encode() + b"\n", clock=clock)
    with pytest.raises(InstrumentCacheError, match="no rows"):
        empty.load()
    assert store.cached_days() == []


def test_only_two_days_are_kept_and_yesterdays_tokens_still_resolve(
    sim_kite: KiteConnect, tmp_path: Path, dump_bytes: bytes
) -> None:
    header, first, rest = dump_bytes.split(b"\n", 2)
    dropped = int(first.split(b",")[0])  # a token that "expires overnight"
    dumps = {date(2026, 11, 26): dump_bytes, date(2026, 11, 27): dump_bytes, date(2026, 11, 30): header + b"\n" + rest}
    clock = ManualClock(datetime(2026, 11, 26, 10, 0, tzinfo=IST))
    rolling = InstrumentStore(tmp_path / "c", lambda e, p: dumps[rolling.dump_day()], clock=clock)
    for day in (26, 27, 30):
        clock.set(datetime(2026, 11, day, 10, tzinfo=IST))
        rolling.load()
    assert rolling.cached_days() == [date(2026, 11, 30), date(2026, 11, 27)]
    assert rolling.instrument(dropped).instrument_token == dropped  # found in the previous day's dump
    assert rolling.key(dropped) == "NSE:NIFTY 50"


def test_a_store_made_from_bytes_never_touches_the_disk(dump_bytes: bytes) -> None:
    store = InstrumentStore.from_bytes(dump_bytes)
    assert store.cache_dir is None and store.cached_days() == []
    assert store.load() is store
    with pytest.raises(InstrumentCacheError, match="in memory"):
        store.sync()
    assert store.token("RELIANCE") == 738561


# -- the download ----------------------------------------------------------------------------------------------


def test_kite_errors_raise_the_same_sdk_exceptions_as_instruments(sim: SimServer, sim_kite: KiteConnect) -> None:
    def both(exchange: str | None) -> tuple[Any, Any]:
        with pytest.raises(kex.KiteException) as ours:
            fetch_dump(sim_kite, exchange)
        with pytest.raises(kex.KiteException) as sdk:
            sim_kite.instruments(exchange)
        return ours.value, sdk.value

    ours, sdk = both("NOPE")
    assert type(ours) is type(sdk) is kex.InputException and ours.code == sdk.code == 400
    requests.put(f"{sim.url}/__sim/faults", json={"network_error_rate": 1.0, "paths": ["/instruments"]}, timeout=5)
    ours, sdk = both(None)
    assert type(ours) is type(sdk) is kex.NetworkException and ours.code == sdk.code == 503
    requests.delete(f"{sim.url}/__sim/faults", timeout=5)
    expired: list[bool] = []
    sim_kite.set_session_expiry_hook(lambda: expired.append(True))
    requests.post(f"{sim.url}/__sim/expire-tokens", timeout=5)
    ours, sdk = both("NSE")
    assert type(ours) is type(sdk) is kex.TokenException and ours.code == sdk.code == 403
    assert expired == [True, True]


def test_download_progress_reaches_the_size_on_the_wire(sim_kite: KiteConnect) -> None:
    seen: list[tuple[int, int | None]] = []
    raw = fetch_dump(sim_kite, "NSE", lambda done, total: seen.append((done, total)))
    assert raw.startswith(HEADER.encode())
    done, total = seen[-1]
    assert total is not None and done == total < len(raw)  # gzip: Content-Length counts compressed bytes
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_the_download_goes_through_the_clients_session_and_its_adapters(sim: SimServer, sim_kite: KiteConnect) -> None:
    sent: list[str] = []

    class Counting(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append(request.headers["Authorization"].split(":")[0])
            return super().send(request, *args, **kwargs)

    sim_kite.reqsession.mount(sim.url, Counting())
    fetch_dump(sim_kite, "BSE")
    assert sent == [f"token {sim_kite.api_key}"]


def test_chosen_exchanges_are_downloaded_one_by_one_and_merged(
    sim: SimServer, sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock
) -> None:
    seen: list[int] = []
    store = InstrumentStore(tmp_path / "c", sim_kite, clock=clock, exchanges=["nse", "NFO"])
    store.sync(progress=lambda done, total: seen.append(done))
    store.load()
    assert sim.sim.requests["GET /instruments/NSE"] == 1 and sim.sim.requests["GET /instruments/NFO"] == 1
    assert store.token("RELIANCE") == 738561
    assert store.nearest_future("NIFTY").exchange == "NFO"
    with pytest.raises(UnknownInstrumentError):
        store.token("BSE:RELIANCE")
    assert seen  # progress was reported while downloading
    everything = InstrumentStore(tmp_path / "c", sim_kite, clock=clock).load()  # wants all: not covered
    assert everything.token("BSE:RELIANCE") > 0
    assert sim.sim.requests["GET /instruments"] == 1
    InstrumentStore(tmp_path / "c", sim_kite, clock=clock, exchanges=["NSE"]).load()  # covered by the full one
    assert downloads(sim) == 3


# -- lookups -----------------------------------------------------------------------------------------------------


def test_lookups_by_key_token_and_the_names_traders_type(store: InstrumentStore) -> None:
    assert store.token("NSE:RELIANCE") == 738561
    assert store.token("nse:reliance") == store.token(" Reliance ") == 738561
    assert store.token("RELIANCE") == 738561  # NSE preferred over BSE
    assert store.token("NIFTY 50") == store.token("NIFTY") == store.token("nifty  50") == 256265
    assert store.token("NIFTY BANK") == store.token("BANKNIFTY") == store.token("NSE:BANKNIFTY") == 260105
    assert store.token("SENSEX") == 265 and store.key("BANKEX") == "BSE:BANKEX"
    assert store.key("FINNIFTY") == "NSE:NIFTY FIN SERVICE" and store.key("MIDCPNIFTY") == "NSE:NIFTY MID SELECT"
    assert store.key("NIFTY IT") == "NSE:NIFTY IT"
    assert store.instrument(738561).key == "NSE:RELIANCE"
    assert store.instrument("408065").tradingsymbol == "INFY"
    assert store.key("BSE:RELIANCE") == "BSE:RELIANCE"
    rel = store.instrument("NSE:RELIANCE")
    assert (rel.segment, rel.instrument_type, rel.lot_size, rel.expiry) == ("NSE", "EQ", 1, None)
    assert store.instrument("RELIANCE") is rel  # records are made once


def test_unknown_symbols_list_the_closest_matches(store: InstrumentStore) -> None:
    with pytest.raises(UnknownInstrumentError) as err:
        store.token("RELIANC")
    assert err.value.suggestions[0] == "NSE:RELIANCE"
    with pytest.raises(UnknownInstrumentError, match="NSE:INFY"):
        store.token("NSE:INFOSYS")  # the company's name
    with pytest.raises(UnknownInstrumentError, match="NSE:NIFTY BANK"):
        store.token("BANKNIFTTY")
    with pytest.raises(UnknownInstrumentError):
        store.instrument(123)
    with pytest.raises(UnknownInstrumentError):
        store.token("  ")
    with pytest.raises(TypeError):
        store.token(1.5)  # type: ignore[arg-type]


def test_futures_are_listed_nearest_first(store: InstrumentStore) -> None:
    futures = store.futures("NIFTY")
    assert len(futures) == 3 and all(f.exchange == "NFO" for f in futures)
    assert [f.expiry for f in futures] == sorted(f.expiry for f in futures if f.expiry)
    assert store.nearest_future("NIFTY").tradingsymbol == "NIFTY26DECFUT"
    assert store.nearest_future("NIFTY 50", 1).expiry > store.nearest_future("NIFTY").expiry  # type: ignore[operator]
    assert store.nearest_future("RELIANCE").name == "RELIANCE"
    assert store.nearest_future("SENSEX").exchange == "BFO"
    assert store.nearest_future("GOLD").exchange == "MCX"
    with pytest.raises(IndexError):
        store.nearest_future("NIFTY", 10)
    with pytest.raises(UnknownInstrumentError, match="BANKNIFTY"):
        store.futures("BANKNIFTTY")
    with pytest.raises(UnknownInstrumentError, match="on BFO"):
        store.futures("NIFTY", exchange="BFO")


def test_option_chain_pairs_calls_and_puts_by_strike(store: InstrumentStore) -> None:
    chain = store.option_chain("NIFTY")
    assert list(chain.columns) == ["strike", "ce_token", "ce_symbol", "pe_token", "pe_symbol", "lot_size", "expiry"]
    assert chain["strike"].is_monotonic_increasing and len(chain) == 201
    assert set(chain["expiry"]) == {store.expiries("NIFTY")[0]}
    row = chain.iloc[100]
    assert store.token(f"NFO:{row['ce_symbol']}") == row["ce_token"]
    assert store.instrument(int(row["pe_token"])).instrument_type == "PE"
    assert store.instrument(int(row["pe_token"])).strike == row["strike"]
    assert (chain["lot_size"] == 65).all()
    later = store.option_chain("BANKNIFTY", store.expiries("BANKNIFTY")[1])
    assert later["expiry"].iloc[0] == store.expiries("BANKNIFTY")[1]
    sensex = store.option_chain("SENSEX")
    assert store.instrument(int(sensex["ce_token"].iloc[0])).exchange == "BFO"


def test_option_chain_defaults_to_the_nearest_expiry_on_or_after_today(
    store: InstrumentStore, clock: ManualClock
) -> None:
    first, second = store.expiries("NIFTY")[:2]
    clock.set(datetime.combine(first, time(15, 0), tzinfo=IST))
    assert store.option_chain("NIFTY")["expiry"].iloc[0] == first  # expiry day itself
    clock.set(datetime.combine(first + timedelta(days=1), time(10, 0), tzinfo=IST))
    assert store.option_chain("NIFTY")["expiry"].iloc[0] == second
    assert store.expiries("NIFTY")[0] == second


def test_option_chain_with_a_wrong_expiry_lists_the_real_ones(store: InstrumentStore) -> None:
    with pytest.raises(ValueError, match="expiries: 2026-12-01"):
        store.option_chain("NIFTY", "2026-12-02")
    with pytest.raises(ValueError, match="not a date"):
        store.option_chain("NIFTY", "next week")
    with pytest.raises(UnknownInstrumentError, match="options"):
        store.option_chain("NOSUCHTHING")


def test_search_ranks_exact_and_prefix_matches_first(store: InstrumentStore) -> None:
    found = [i.key for i in store.search("relian")]
    assert found[:2] == ["NSE:RELIANCE", "BSE:RELIANCE"]
    assert all("RELIANCE" in k for k in found)
    assert [i.key for i in store.search("RELIANCE INDUSTRIES", limit=2)] == ["NSE:RELIANCE", "BSE:RELIANCE"]
    assert store.search("") == [] and store.search("zzzqqq") == []
    assert all(isinstance(i, Instrument) for i in store.search("nifty", limit=50))


def test_frame_filters_by_any_column_with_wire_types(store: InstrumentStore) -> None:
    futs = store.frame(exchange="NFO", name="NIFTY", instrument_type="FUT")
    assert len(futs) == 3 and set(futs["segment"]) == {"NFO-FUT"}
    assert all(isinstance(d, date) for d in futs["expiry"])
    both = store.frame(tradingsymbol="RELIANCE", exchange=["NSE", "BSE"])
    assert sorted(both["exchange"]) == ["BSE", "NSE"]
    assert both["instrument_token"].dtype == np.int64 and both["tick_size"].dtype == np.float64
    assert store.frame(expiry=futs["expiry"].iloc[0], name="NIFTY", instrument_type="FUT").shape[0] == 1
    everything = store.frame()
    assert len(everything) > 100_000 and everything["expiry"].iloc[0] is None
    with pytest.raises(ValueError, match="unknown column"):
        store.frame(colour="red")


def test_token_cache_holds_the_defaults_and_the_extras(store: InstrumentStore, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    mapping = store.build_token_cache(path, ["NSE:INFY", "SENSEX", 738561])
    saved = json.loads(path.read_text())
    assert saved == mapping
    assert saved["NIFTY 50"] == 256265 and saved["NIFTY BANK"] == 260105 and saved["RELIANCE"] == 738561
    assert saved["TCS"] == 2953217 and saved["HDFCBANK"] == 341249 and saved["INFY"] == 408065
    assert saved["SENSEX"] == 265
    assert saved["NIFTY26DECFUT"] == store.nearest_future("NIFTY").instrument_token
    assert saved["BANKNIFTY26DECFUT"] == store.nearest_future("BANKNIFTY").instrument_token
    with pytest.raises(UnknownInstrumentError):
        store.build_token_cache(tmp_path / "bad.json", ["NSE:NOPE"])
    assert not (tmp_path / "bad.json").exists()


def test_token_cache_lets_an_explicit_symbol_win_and_refuses_two_that_collide(
    store: InstrumentStore, tmp_path: Path
) -> None:
    bse = store.token("BSE:RELIANCE")
    assert store.build_token_cache(tmp_path / "t.json", ["BSE:RELIANCE"])["RELIANCE"] == bse
    with pytest.raises(ValueError, match="share the tradingsymbol 'RELIANCE'"):
        store.build_token_cache(tmp_path / "t2.json", ["NSE:RELIANCE", "BSE:RELIANCE"])
    assert not (tmp_path / "t2.json").exists()


def test_store_resolves_names_for_the_quotes_layer(store: InstrumentStore, sim_kite: KiteConnect) -> None:
    from kitekit.quotes import MarketData

    quotes = MarketData(sim_kite, resolve=store.key).ltp("NIFTY 50", "BANKNIFTY", "RELIANCE", 408065)
    assert quotes["NIFTY 50"]["instrument_token"] == 256265
    assert quotes["BANKNIFTY"]["instrument_token"] == 260105
    assert quotes["RELIANCE"]["instrument_token"] == 738561


# -- odd dumps and the decoder --------------------------------------------------------------------------------


def odd_dump() -> bytes:
    rows = [
        HEADER,
        "256265,1001,NIFTY 50,NIFTY 50,0,,,,,EQ,INDICES,NSE",  # empty numeric cells
        "738561,2885,RELIANCE,RELIANCE INDUSTRIES,1500.5,,0.0,0.05,1,EQ,NSE,NSE",
        "1234567,4822,XYZ,XYZ,1.0,,0.0,0.01,1.0,EQ,NCO-XYZ,NCO",  # unknown segment, lot written as 1.0
        "1234823,4823,XYZ,XYZ,1.0,,0.0,0.01,1,EQ,MYSTERY,MYSTERY",
        '2000001,7812,"ODD,NAME",ODD,1.0,2026-13-45,abc,0.05,5,FUT,NFO-FUT,NFO',  # quoted comma, bad date
        "2000257,7813,USDINR26DECFUT,USDINR,86.2,2026-12-29,0.0,0.0025,1,FUT,CDS-FUT,CDS",
        "2000258,7814,USDINR26DECFUT,USDINR,86.2,2026-12-29,0.0,0.0025,1,FUT,BCD-FUT,BCD",
    ]
    return ("\n".join(rows) + "\n").encode()


def test_odd_rows_are_read_not_fatal() -> None:
    store = InstrumentStore.from_bytes(odd_dump())
    nifty = store.instrument(256265)
    assert (nifty.strike, nifty.tick_size, nifty.lot_size) == (0.0, 0.0, 0)
    assert store.instrument(1234567).segment == "NCO-XYZ" and store.instrument(1234567).lot_size == 1
    odd = store.instrument("NFO:ODD,NAME")
    assert (odd.expiry, odd.strike, odd.lot_size) == (None, 0.0, 5)
    assert store.frame(exchange="NCO")["strike"].tolist() == [0.0]


def test_a_bare_symbol_on_two_exchanges_other_than_nse_and_bse_is_ambiguous() -> None:
    store = InstrumentStore.from_bytes(odd_dump())
    with pytest.raises(AmbiguousInstrumentError) as err:
        store.token("XYZ")
    assert err.value.candidates == ["MYSTERY:XYZ", "NCO:XYZ"]
    with pytest.raises(AmbiguousInstrumentError, match="BCD:USDINR26DECFUT, CDS:USDINR26DECFUT"):
        store.token("usdinr26decfut")
    assert store.token("NCO:XYZ") == 1234567 and store.token("CDS:USDINR26DECFUT") == 2000257


def test_the_decoder_reads_every_cell_as_the_official_sdk_does(dump_bytes: bytes) -> None:
    lines = dump_bytes.split(b"\n")
    sample = b"\n".join([lines[0], *lines[1:3001], *lines[-3001:]])  # cash, indices, options, MCX, CDS
    sdk = KiteConnect._parse_instruments(None, sample)
    store = InstrumentStore.from_bytes(sample)
    cols = DumpColumns(sample)
    assert len(cols) == len(sdk) == 6000
    tokens, strikes, expiries = cols.ints("instrument_token"), cols.floats("strike"), cols.dates("expiry")
    for i, row in enumerate(sdk):
        rec = store.instrument(row["instrument_token"])
        assert tokens[i] == row["instrument_token"] and strikes[i] == row["strike"]
        assert (expiries[i].astype(object) or "") == row["expiry"]
        for name in ("tradingsymbol", "name", "last_price", "strike", "tick_size", "lot_size", "segment", "exchange"):
            assert getattr(rec, name) == row[name]
        assert rec.exchange_token == int(row["exchange_token"]) and (rec.expiry or "") == row["expiry"]


def test_the_fast_typed_table_equals_the_lenient_one_cell_for_cell(dump_bytes: bytes) -> None:
    lines = dump_bytes.split(b"\n")
    head = b"\n".join([lines[0], *lines[1:3001], *lines[-3001:-1]]) + b"\n"  # cash, indices, F&O, MCX, CDS
    fast = typed_table(head)  # Arrow's reader takes Kite's own dump
    lenient = typed_table(head + b"9,9,ODD,ODD,,,,,1.0,EQ,NSE,NSE\n")  # an empty and a 1.0 cell: the fallback
    assert list(fast.dtypes.astype(str)) == list(lenient.dtypes.astype(str))
    pd.testing.assert_frame_equal(fast, lenient.iloc[:-1])
    assert lenient.iloc[-1][["last_price", "strike", "lot_size"]].tolist() == [0.0, 0.0, 1]
    assert isinstance(fast["expiry"].dropna().iloc[0], date)
