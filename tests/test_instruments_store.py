"""The instrument store against the simulator: refresh timing, atomic cache, lookups, chains, bad input."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.clock import IST, ManualClock
from kitekit.errors import AmbiguousInstrumentError, InstrumentCacheError, UnknownInstrumentError
from kitekit.instruments import InstrumentStore, fetch_dump
from kitekit.sim.server import SimServer
from kitekit.wire.instruments_csv import HEADER

pytestmark = pytest.mark.usefixtures("unlimited")

FRIDAY_1100 = datetime(2026, 11, 27, 11, 0, tzinfo=IST)


@pytest.fixture
def clock() -> ManualClock:
    """The store's own clock (the simulator keeps its own)."""
    return ManualClock(FRIDAY_1100)


@pytest.fixture
def store(sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock) -> InstrumentStore:
    return InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock)


def downloads(sim: SimServer) -> int:
    return sum(n for k, n in sim.sim.requests.items() if k.startswith("GET /instruments") and "historical" not in k)


# -- refresh timing ------------------------------------------------------------------------------------------


def test_the_first_load_downloads_and_later_loads_reuse_the_cache(
    store: InstrumentStore, sim: SimServer, sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock
) -> None:
    store.load()
    assert downloads(sim) == 1
    again = InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock).load()
    assert again.token("NSE:RELIANCE") == 738561
    assert downloads(sim) == 1


@pytest.mark.parametrize(
    ("later", "downloads_again"),
    [
        (datetime(2026, 11, 27, 15, 0, tzinfo=IST), False),  # same day
        (datetime(2026, 11, 28, 12, 0, tzinfo=IST), False),  # Saturday: Friday's dump is still the latest
        (datetime(2026, 11, 29, 23, 0, tzinfo=IST), False),  # Sunday night
        (datetime(2026, 11, 30, 8, 29, tzinfo=IST), False),  # Monday before the 08:30 regeneration
        (datetime(2026, 11, 30, 8, 30, tzinfo=IST), True),  # Monday after it
        (datetime(2026, 12, 2, 9, 0, tzinfo=IST), True),  # days skipped
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


def test_the_refresh_time_is_configurable(sim: SimServer, sim_kite: KiteConnect, tmp_path: Path) -> None:
    from datetime import time

    clock = ManualClock(datetime(2026, 11, 30, 8, 0, tzinfo=IST))
    store = InstrumentStore(tmp_path / "c", sim_kite, clock=clock, refresh_at=time(7, 45))
    assert store.dump_day() == date(2026, 11, 30)


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


# -- atomic replacement and damage ---------------------------------------------------------------------------


def test_a_crash_mid_write_leaves_the_previous_cache_usable(
    store: InstrumentStore, sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.load()
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=IST))
    real_write = Path.write_bytes

    def crash_half_way(self: Path, data: bytes) -> int:
        if self.name == "dump.csv":
            real_write(self, data[: len(data) // 2])
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", crash_half_way)
    with pytest.raises(OSError, match="No space left"):
        InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock).load()
    monkeypatch.undo()
    survivor = InstrumentStore(tmp_path / "instruments", None, clock=clock).load()
    assert survivor.token("NSE:RELIANCE") == 738561
    assert survivor.cached_days() == [date(2026, 11, 27)]
    assert not [p for p in (tmp_path / "instruments").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("damage", ["flip", "truncate", "index"])
def test_a_damaged_cache_is_detected_and_downloaded_again(
    store: InstrumentStore, sim: SimServer, sim_kite: KiteConnect, tmp_path: Path, clock: ManualClock, damage: str
) -> None:
    store.load()
    folder = tmp_path / "instruments" / "2026-11-27"
    if damage == "flip":
        data = bytearray((folder / "dump.csv").read_bytes())
        data[5000] ^= 0x20
        (folder / "dump.csv").write_bytes(bytes(data))
    elif damage == "truncate":
        whole = (folder / "dump.csv").read_bytes()
        (folder / "dump.csv").write_bytes(whole[: len(whole) - 100])
    else:
        (folder / "index.bin").write_bytes(b"KKIDX1\n" + b"\0" * 64)
    fresh = InstrumentStore(tmp_path / "instruments", sim_kite, clock=clock)
    assert fresh.instrument("NSE:RELIANCE").name == "RELIANCE INDUSTRIES"  # right data after all
    assert downloads(sim) == 2


def test_a_damaged_cache_without_a_downloader_is_never_trusted(
    store: InstrumentStore, tmp_path: Path, clock: ManualClock
) -> None:
    store.load()
    dump = tmp_path / "instruments" / "2026-11-27" / "dump.csv"
    data = bytearray(dump.read_bytes())
    data[-50] ^= 0x01
    dump.write_bytes(bytes(data))
    offline = InstrumentStore(tmp_path / "instruments", None, clock=clock).load()
    with pytest.raises(InstrumentCacheError, match="kitekit instruments sync"):
        offline.instrument("NSE:RELIANCE")


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
    assert store.cached_days() == []


def test_only_two_days_are_kept_and_yesterdays_tokens_still_resolve(sim_kite: KiteConnect, tmp_path: Path) -> None:
    full = fetch_dump(sim_kite)
    header, first, rest = full.split(b"\n", 2)
    dropped = int(first.split(b",")[0])
    dumps = {date(2026, 11, 26): full, date(2026, 11, 27): full, date(2026, 11, 30): header + b"\n" + rest}
    clock = ManualClock(datetime(2026, 11, 26, 10, 0, tzinfo=IST))
    rolling = InstrumentStore(tmp_path / "c", lambda e, p: dumps[rolling.dump_day()], clock=clock)
    for day in (26, 27, 30):
        clock.set(datetime(2026, 11, day, 10, tzinfo=IST))
        rolling.load()
    assert rolling.cached_days() == [date(2026, 11, 30), date(2026, 11, 27)]
    assert rolling.instrument(dropped).instrument_token == dropped  # found in the previous day's dump


# -- lookups -----------------------------------------------------------------------------------------------------


def test_lookups_by_key_token_and_the_names_traders_type(store: InstrumentStore) -> None:
    assert store.token("NSE:RELIANCE") == 738561
    assert store.token("nse:reliance") == 738561
    assert store.token("RELIANCE") == 738561  # NSE preferred over BSE
    assert store.token("NIFTY 50") == store.token("NIFTY") == store.token("nifty 50") == 256265
    assert store.token("NIFTY BANK") == store.token("BANKNIFTY") == 260105
    assert store.token("SENSEX") == 265
    assert store.instrument(738561).key == "NSE:RELIANCE"
    assert store.instrument("408065").tradingsymbol == "INFY"
    assert store.key("BSE:RELIANCE") == "BSE:RELIANCE"
    rel = store.instrument("NSE:RELIANCE")
    assert (rel.segment, rel.instrument_type, rel.lot_size, rel.expiry) == ("NSE", "EQ", 1, None)


def test_unknown_symbols_list_the_closest_matches(store: InstrumentStore) -> None:
    with pytest.raises(UnknownInstrumentError) as err:
        store.token("RELIANC")
    assert err.value.suggestions[0] == "NSE:RELIANCE"
    with pytest.raises(UnknownInstrumentError, match="NSE:INFY"):
        store.token("NSE:INFOSYS")
    with pytest.raises(UnknownInstrumentError):
        store.instrument(123)


def test_futures_are_listed_nearest_first(store: InstrumentStore) -> None:
    futures = store.futures("NIFTY")
    assert [f.expiry for f in futures] == sorted(f.expiry for f in futures if f.expiry)
    assert store.nearest_future("NIFTY").tradingsymbol == "NIFTY26DECFUT"
    assert store.nearest_future("NIFTY 50", 1).expiry > store.nearest_future("NIFTY").expiry  # type: ignore[operator]
    assert store.nearest_future("RELIANCE").name == "RELIANCE"
    with pytest.raises(IndexError):
        store.nearest_future("NIFTY", 10)
    with pytest.raises(UnknownInstrumentError):
        store.futures("NOSUCHTHING")


def test_option_chain_pairs_calls_and_puts_by_strike(store: InstrumentStore) -> None:
    chain = store.option_chain("NIFTY")
    assert list(chain.columns) == ["strike", "ce_token", "ce_symbol", "pe_token", "pe_symbol", "lot_size", "expiry"]
    assert chain["strike"].is_monotonic_increasing and len(chain) == 201
    assert set(chain["expiry"]) == {store.expiries("NIFTY")[0]}
    row = chain.iloc[100]
    assert store.token(f"NFO:{row['ce_symbol']}") == row["ce_token"]
    assert store.instrument(int(row["pe_token"])).instrument_type == "PE"
    assert (chain["lot_size"] == 65).all()
    later = store.option_chain("BANKNIFTY", store.expiries("BANKNIFTY")[1])
    assert later["expiry"].iloc[0] == store.expiries("BANKNIFTY")[1]


def test_option_chain_with_a_wrong_expiry_lists_the_real_ones(store: InstrumentStore) -> None:
    with pytest.raises(ValueError, match="expiries: 2026-12-01"):
        store.option_chain("NIFTY", "2026-12-02")
    with pytest.raises(ValueError, match="not a date"):
        store.option_chain("NIFTY", "next week")


def test_search_ranks_exact_and_prefix_matches_first(store: InstrumentStore) -> None:
    found = [i.key for i in store.search("relian")]
    assert found[:2] == ["NSE:RELIANCE", "BSE:RELIANCE"]
    assert all("RELIANCE" in k for k in found)
    assert store.search("") == []


def test_frame_filters_by_any_column(store: InstrumentStore) -> None:
    futs = store.frame(exchange="NFO", name="NIFTY", instrument_type="FUT")
    assert len(futs) == 3 and set(futs["segment"]) == {"NFO-FUT"}
    both = store.frame(tradingsymbol="RELIANCE", exchange=["NSE", "BSE"])
    assert sorted(both["exchange"]) == ["BSE", "NSE"]
    with pytest.raises(ValueError, match="unknown column"):
        store.frame(colour="red")


def test_token_cache_holds_the_defaults_and_the_extras(store: InstrumentStore, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    mapping = store.build_token_cache(path, ["NSE:INFY", "SENSEX"])
    saved = json.loads(path.read_text())
    assert saved == mapping
    assert saved["NIFTY 50"] == 256265 and saved["NIFTY BANK"] == 260105 and saved["RELIANCE"] == 738561
    assert saved["TCS"] == 2953217 and saved["HDFCBANK"] == 341249 and saved["INFY"] == 408065
    assert saved["NIFTY26DECFUT"] == store.nearest_future("NIFTY").instrument_token
    assert "BANKNIFTY26DECFUT" in saved
    with pytest.raises(UnknownInstrumentError):
        store.build_token_cache(tmp_path / "bad.json", ["NSE:NOPE"])
    assert not (tmp_path / "bad.json").exists()


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


# -- odd dumps -------------------------------------------------------------------------------------------------


def odd_dump() -> bytes:
    rows = [
        HEADER,
        "256265,1001,NIFTY 50,NIFTY 50,0,,,,,EQ,INDICES,NSE",  # empty numeric cells
        "738561,2885,RELIANCE,RELIANCE INDUSTRIES,1500.5,,0.0,0.05,1,EQ,NSE,NSE",
        "1234567,4822,XYZ,XYZ,1.0,,0.0,0.01,1.0,EQ,NCO-XYZ,NCO",  # unknown segment, lot written as 1.0
        "1234823,4823,XYZ,XYZ,1.0,,0.0,0.01,1,EQ,MYSTERY,MYSTERY",
        '2000001,7812,"ODD,NAME",ODD,1.0,2026-13-45,abc,0.05,5,FUT,NFO-FUT,NFO',  # quoted comma, bad date
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


def test_a_symbol_on_two_unranked_exchanges_is_ambiguous() -> None:
    store = InstrumentStore.from_bytes(odd_dump())
    with pytest.raises(AmbiguousInstrumentError) as err:
        store.token("XYZ")
    assert err.value.candidates == ["MYSTERY:XYZ", "NCO:XYZ"]
    assert store.token("NCO:XYZ") == 1234567


def test_store_resolves_names_for_the_quotes_layer(store: InstrumentStore, sim_kite: KiteConnect) -> None:
    from kitekit.quotes import MarketData

    quotes = MarketData(sim_kite, resolve=store.key).ltp("NIFTY 50", "BANKNIFTY", "RELIANCE", 408065)
    assert quotes["NIFTY 50"]["instrument_token"] == 256265
    assert quotes["BANKNIFTY"]["instrument_token"] == 260105
    assert quotes["RELIANCE"]["instrument_token"] == 738561
