"""The simulated universe: a user's first symbol exists, at a price, lot and tick of its real order of magnitude."""

from __future__ import annotations

import csv
import io
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from kiteconnect import KiteConnect

from kitekit.sim.market import Market
from kitekit.sim.market.catalog import (
    BSE_INDICES,
    COMMODITIES,
    EQUITIES,
    EQUITIES_FILE,
    FIRST_EQUITIES,
    MORE_NSE_INDICES,
    NSE_INDICES,
    Listing,
)
from kitekit.sim.market.universe import ContractKind, Universe
from kitekit.sim.pytest_plugin import SIM_NOW

#: Names traders reach for first that the simulator once lacked (issue 23), with their real NSE tokens.
FIRST_SYMBOLS = {
    "BEL": 383,
    "ETERNAL": 5097,
    "JIOFIN": 18143,
    "TRENT": 1964,
    "MRF": 2277,
    "IDEA": 14366,
    "YESBANK": 11915,
    "IRCTC": 13611,
    "PAYTM": 6705,
    "NIFTYBEES": 10576,
    "GOLDBEES": 14428,
}


@pytest.fixture(scope="module")
def universe(sim_market: Market) -> Universe:
    return sim_market.universe(SIM_NOW)


def test_the_names_traders_try_first_are_listed_on_both_exchanges_with_their_real_tokens(universe: Universe) -> None:
    for symbol, token in FIRST_SYMBOLS.items():
        row = universe.by_key[f"NSE:{symbol}"]
        assert universe.token[row] == token * 256 + 1, symbol
        assert f"BSE:{symbol}" in universe.by_key, symbol
    etfs = {s.symbol for s in EQUITIES if s.listing is Listing.ETF}
    for symbol in set(FIRST_SYMBOLS) - etfs:
        assert f"NFO:{symbol}26DECFUT" in universe.by_key, symbol  # F&O stocks all
    assert not any(key.startswith(("NFO:NIFTYBEES", "NFO:GOLDBEES")) for key in universe.by_key)


def test_every_nifty_500_constituent_and_the_main_indices_are_listed(universe: Universe) -> None:
    companies = [s for s in EQUITIES if s.listing is not Listing.ETF]
    assert len(companies) == 500 and len({s.symbol for s in companies}) == 500
    for stock in EQUITIES:
        assert f"NSE:{stock.symbol}" in universe.by_key and f"BSE:{stock.symbol}" in universe.by_key, stock.symbol
    for index in ("NIFTY 50", "NIFTY BANK", "NIFTY 100", "NIFTY 500", "NIFTY MIDCAP 150", "INDIA VIX", "NIFTY IT"):
        assert universe.kind[universe.by_key[f"NSE:{index}"]] == ContractKind.INDEX, index
    assert "BSE:SENSEX" in universe.by_key
    assert len({i.exchange_token for i in NSE_INDICES}) == len(NSE_INDICES)


def test_prices_lots_and_ticks_have_their_real_order_of_magnitude(universe: Universe) -> None:
    by_symbol = {s.symbol: s for s in EQUITIES}
    assert by_symbol["MRF"].price > 50_000 and by_symbol["IDEA"].price < 30 and 100 < by_symbol["BEL"].price < 1000
    # The futures in one pass, not one a stock.
    nfo_futures = [k for k in universe.by_key if k.startswith("NFO:") and k.endswith("FUT")]
    for stock in EQUITIES:
        row = universe.by_key[f"NSE:{stock.symbol}"]
        tick = universe.tick[row]
        assert tick == (0.01 if stock.listing is Listing.ETF or stock.price < 250 else 0.05), stock.symbol
        future = [k for k in nfo_futures if k.startswith(f"NFO:{stock.symbol}26")]
        assert bool(future) == (stock.listing is Listing.FNO), stock.symbol
        if future:
            # Exchanges size a stock's lot to a contract worth some lakhs of rupees, whatever the share's price.
            value = universe.lot[universe.by_key[future[0]]] * stock.price
            assert 300_000 <= value <= 1_500_000, (stock.symbol, value)


def test_the_equities_file_ships_with_the_package_and_every_token_is_unique() -> None:
    text = resources.files("kitekit.sim.market").joinpath(EQUITIES_FILE).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO("\n".join(x for x in text.splitlines() if not x.startswith("#")))))
    assert len(rows) == len(EQUITIES)
    for column in ("symbol", "nse_token", "bse_code"):
        assert len({r[column] for r in rows}) == len(rows), column
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["setuptools"]["package-data"]["kitekit"]
    assert "sim/market/*.csv" in shipped
    # The 48 the simulator always listed keep their tokens and levels (the engine's tests and users' notes use them).
    assert [(s.symbol, s.nse_token, s.price) for s in EQUITIES[:2]] == [
        ("RELIANCE", 2885, 1540.0),
        ("INFY", 1594, 1600.0),
    ]


def test_the_official_sdk_quotes_them(sim_kite: KiteConnect) -> None:
    keys = [f"NSE:{symbol}" for symbol in FIRST_SYMBOLS] + ["NSE:NIFTY 500", "BSE:MRF"]
    quotes = sim_kite.ltp(keys)
    assert set(quotes) == set(keys)
    assert all(q["last_price"] > 0 for q in quotes.values())
    assert quotes["BSE:MRF"]["last_price"] > 50_000


def test_instruments_added_later_never_move_an_existing_price_path(sim_market: Market, universe: Universe) -> None:
    # A path is keyed by its underlying's place in the list: what came before the NIFTY 500 keeps its place.
    first = [u.symbol for u in sim_market.underlyings[: len(NSE_INDICES) + len(BSE_INDICES) + FIRST_EQUITIES]]
    assert first == [*(i.symbol for i in (*NSE_INDICES, *BSE_INDICES)), *(s.symbol for s in EQUITIES[:FIRST_EQUITIES])]
    added = len(MORE_NSE_INDICES) + len(EQUITIES) - FIRST_EQUITIES
    assert sim_market.underlyings[-added - 1].symbol == COMMODITIES[-1].symbol
    # So the prices the simulator showed at SIM_NOW before are the ones it shows now.
    assert universe.last_price[universe.by_key["NSE:INFY"]] == 2253.95
    assert universe.last_price[universe.by_key["NSE:RELIANCE"]] == 765.5
