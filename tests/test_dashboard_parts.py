"""The dashboard's parts without a browser: the tick board, positions marked with the engine's formula, the token."""

from __future__ import annotations

import pytest
from starlette.datastructures import URL

from kitekit.cli import run
from kitekit.dashboard import Access, TickBoard
from kitekit.dashboard.views import money, pnl_totals, position_rows
from kitekit.engine.positions import Position as EnginePosition
from kitekit.orders.portfolio import Positions
from kitekit.wire.orders import Product


def _tick(token: int, price: float) -> dict[str, object]:
    return {"instrument_token": token, "last_price": price, "oi": 0, "volume_traded": 1}


def test_the_board_keeps_only_the_newest_tick_of_each_instrument() -> None:
    board = TickBoard()
    board.on_ticks([_tick(1, 10.0), _tick(2, 20.0)])
    board.on_ticks([_tick(1, 10.5)])
    board.on_ticks([_tick(1, 11.0), _tick(3, 30.0)])
    news = board.since(0, [1, 2])
    assert {t: tick.last_price for t, tick in news.items()} == {1: 11.0, 2: 20.0}
    seq = board.seq
    assert board.since(seq, [1, 2, 3]) == {}
    board.on_ticks([_tick(2, 21.0)])
    assert list(board.since(seq, [1, 2, 3])) == [2]
    assert board.health()["ticks"] == 6


def _engine_position(last: float) -> EnginePosition:
    """A position that bought 75 and sold 25 of a lot-multiplied contract, and carried 10 short overnight."""
    p = EnginePosition(123, "NFO", "NIFTY26DECFUT", Product.NRML, multiplier=1.0, overnight_quantity=-10,
                       overnight_price=25_010.0, close_price=25_005.5)  # fmt: skip
    p.net.apply(-10, 25_010.0, 1.0)
    p.apply_fill(True, 75, 25_012.35)
    p.apply_fill(False, 25, 25_020.05)
    p.last_price = last
    return p


def test_a_position_marked_at_a_tick_equals_the_engines_own_at_that_price() -> None:
    from kitekit.dashboard.feed import LatestTick

    before = Positions.from_kite({"net": [_engine_position(25_000.0).as_kite()], "day": []})
    ticks = {123: LatestTick(seq=5, last_price=25_031.45, oi=0, volume=0, exchange_ts=0.0)}
    row = position_rows(before, ticks, as_of=4)[0]
    engine = _engine_position(25_031.45).as_kite()
    for name in ("pnl", "m2m", "realised", "unrealised", "last_price"):
        assert row[name]["text"] == money(engine[name]), name
        assert row[name]["value"] == pytest.approx(engine[name], abs=1e-9)
    # A tick older than the positions themselves does not mark them.
    assert position_rows(before, ticks, as_of=5)[0]["last_price"]["value"] == 25_000.0
    assert pnl_totals([row, row])["pnl"]["text"] == money(2 * engine["pnl"])


def test_the_token_leaves_the_address_and_only_the_pages_own_origin_may_act() -> None:
    access = Access.of("secret-token", origins=["https://trading.example.com/kite"])
    assert access.matches("secret-token") and not access.matches("secret-tokeN") and not access.matches(None)
    assert access.without_token(URL("http://127.0.0.1:5056/?token=secret-token")) == "/"
    assert access.without_token(URL("http://127.0.0.1:5056/x?a=1&token=t")) == "/x?a=1"
    assert "trading.example.com" in next(iter(access.origins))


def test_a_wrong_ticker_mode_is_a_usage_error() -> None:
    assert run(["--sim", "dashboard", "--no-open", "--mode", "fast"]) == 2
