"""The batched quotes layer against the simulator: exact batching, caller keys kept, gaps explained."""

from __future__ import annotations

import pytest
import requests
from kiteconnect import KiteConnect

from kitekit.clock import ManualClock
from kitekit.errors import PartialDataError
from kitekit.quotes import NO_DATA, MarketData
from kitekit.sim.server import SimServer
from kitekit.wire.routes import QuoteEndpoint

pytestmark = pytest.mark.usefixtures("unlimited")


def keys_of(sim: SimServer, clock: ManualClock, count: int) -> list[str]:
    uni = sim.sim.market.universe(clock.now())
    return [f"{uni.exchange[i]}:{uni.symbol[i]}" for i in range(count)]


@pytest.mark.parametrize(
    ("kind", "path", "size", "calls"),
    [
        (QuoteEndpoint.QUOTE, "/quote", 500, 1),
        (QuoteEndpoint.QUOTE, "/quote", 501, 2),
        (QuoteEndpoint.LTP, "/quote/ltp", 1000, 1),
        (QuoteEndpoint.LTP, "/quote/ltp", 1001, 2),
        (QuoteEndpoint.OHLC, "/quote/ohlc", 1000, 1),
        (QuoteEndpoint.OHLC, "/quote/ohlc", 1001, 2),
    ],
)
def test_batches_split_exactly_at_the_kite_limits(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, kind: QuoteEndpoint, path: str, size: int, calls: int
) -> None:
    keys = keys_of(sim, sim_clock, size)
    result = MarketData(sim_kite).fetch(kind, keys)
    assert len(result) == size and not result.missing
    assert sim.sim.requests[f"GET {path}"] == calls


def test_results_come_back_under_the_callers_own_keys(sim_kite: KiteConnect) -> None:
    result = MarketData(sim_kite).ltp("NSE:INFY", 408065, "408065", "nse:INFY")
    # An int token comes back under the int the caller gave, not under its string.
    assert set(result) == {"NSE:INFY", 408065, "408065", "nse:INFY"}
    prices = {result[k]["last_price"] for k in ("NSE:INFY", 408065, "408065", "nse:INFY")}
    assert len(prices) == 1


def test_names_without_an_exchange_go_through_the_resolver(sim_kite: KiteConnect) -> None:
    names = {"NIFTY 50": "NSE:NIFTY 50", "RELIANCE": "NSE:RELIANCE"}
    result = MarketData(sim_kite, resolve=names.__getitem__).ltp("NIFTY 50", "RELIANCE")
    assert result["NIFTY 50"]["instrument_token"] == 256265
    assert result["RELIANCE"]["instrument_token"] == 738561


def test_unknown_instruments_are_listed_with_the_reason(sim_kite: KiteConnect) -> None:
    with pytest.raises(PartialDataError) as err:
        MarketData(sim_kite).ltp("NSE:INFY", "NSE:NO-SUCH-THING", "NOPREFIX")
    assert set(err.value.data) == {"NSE:INFY"}
    assert err.value.missing["NSE:NO-SUCH-THING"] == NO_DATA
    assert "EXCHANGE:SYMBOL" in err.value.missing["NOPREFIX"]
    lenient = MarketData(sim_kite).ltp("NSE:INFY", "NSE:NO-SUCH-THING", strict=False)
    assert set(lenient) == {"NSE:INFY"} and set(lenient.missing) == {"NSE:NO-SUCH-THING"}


def test_a_data_exception_reports_the_whole_batch_missing_not_dropped(sim: SimServer, sim_kite: KiteConnect) -> None:
    requests.put(f"{sim.url}/__sim/faults", json={"data_error_rate": 1.0, "paths": ["/quote"]}, timeout=5)
    result = MarketData(sim_kite).ohlc("NSE:INFY", "NSE:TCS", strict=False)
    assert not result
    assert all(reason.startswith("DataException (HTTP 502)") for reason in result.missing.values())
    assert set(result.missing) == {"NSE:INFY", "NSE:TCS"}
