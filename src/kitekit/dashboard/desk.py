"""The :class:`Desk`: everything the dashboard reads and does, through kitekit's own client APIs.

It holds the order broker (paper or live, any broker's :class:`~kitekit.orders.gateway.BrokerOrders`), the market
data source (:mod:`kitekit.dashboard.source`: Kite's client, or any broker's neutral feed and candles), the clock,
the feed writing into a :class:`~kitekit.dashboard.feed.TickBoard`, and a refresher thread that keeps the
positions and the order book fresh (every ``refresh`` seconds, at once after an order update or a control). It
works the same on Kite, Upstox and Angel One, on their simulators and on paper: it never reaches into a
simulator's insides. A dead session (Kite's ``TokenException``, kitekit's ``SessionExpiredError``) is remembered
and shown as the re-login banner.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.clock import IST, Clock
from kitekit.dashboard.feed import TickBoard
from kitekit.dashboard.oi import PreviousOi
from kitekit.dashboard.source import FeedHooks, KiteSource, MarketSource
from kitekit.dashboard.views import funds_view, order_rows, pnl_totals, position_rows, trade_rows
from kitekit.errors import BrokerFeatureError
from kitekit.orders.model import OrderChange, OrderRequest
from kitekit.orders.portfolio import Position, Positions
from kitekit.wire.orders import OrderType, Product, TransactionType
from kitekit.wire.ticks import Mode

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

    from kitekit.instruments import InstrumentStore
    from kitekit.orders.gateway import BrokerOrders

__all__ = ["ControlError", "Desk", "SessionState"]

log = logging.getLogger("kitekit.dashboard")


class ControlError(Exception):
    """A control the dashboard refused before sending anything (the message says why); HTTP 409 to the page."""


@dataclass
class SessionState:
    """Whether the session works, and when it ends."""

    expired: bool = False
    message: str = ""
    expires_at: datetime | None = None


def _session_dead(exc: BaseException) -> bool:
    from kiteconnect.exceptions import TokenException

    from kitekit.errors import SessionExpiredError

    return isinstance(exc, TokenException | SessionExpiredError)


@dataclass
class Desk:
    """What the dashboard shows and controls.

    Args:
        kite: the logged-in Kite client (``get_kite()``, or the SDK logged in to a simulator); None when the
            market data comes from another broker (``source``).
        gateway: the broker whose orders and positions are shown (paper or live), Kite's or another's.
        store: Kite's instrument store (loaded); None with ``kite``.
        clock: the market's clock (a simulator's market time on one).
        mode: what the numbers are: ``"paper"``, ``"live"``; ``simulated`` says the prices are a simulator's.
        simulated: True on a simulator (the page says so in a banner).
        login_hint: the command that logs in again (shown in the expiry banner).
        expires_at: when the session ends (Kite: 06:00 IST next day), for the countdown.
        watch: instruments kept subscribed besides the positions' (``kitekit dashboard --watch``).
        watch_mode: their ticker mode.
        candles: a candle store path for the chart (None: fetched each time, kept nowhere).
        refresh: seconds between refreshes of positions and orders.
        source: where the market data comes from (default: Kite's, on ``kite`` and ``store``).
    """

    kite: KiteConnect | None
    gateway: BrokerOrders
    store: InstrumentStore | None
    clock: Clock
    mode: str = "paper"
    simulated: bool = False
    login_hint: str = "kitekit login"
    expires_at: datetime | None = None
    watch: list[int] = field(default_factory=list)
    watch_mode: Mode = Mode.QUOTE
    candles: Path | None = None
    refresh: float = 2.0
    board: TickBoard = field(default_factory=TickBoard)
    session: SessionState = field(default_factory=SessionState)
    source: MarketSource | None = None
    #: Bumped whenever the order book changed (the page fetches it again).
    orders_version: int = 0
    #: The option chain's base for the change in OI: each contract's previous close, fetched once a day.
    previous_oi: PreviousOi = field(default_factory=PreviousOi)

    def __post_init__(self) -> None:
        if self.source is None:
            if self.kite is None or self.store is None:
                raise ValueError("a Desk needs Kite's client and instrument store, or a market data source")
            self.source = KiteSource(self.kite, self.store, self.clock, self.login_hint, self.candles)
        self.market: MarketSource = self.source
        self.session.expires_at = self.expires_at
        self.board.clock = self.clock
        self._lock = threading.RLock()  # one broker call at a time: the paper broker's engine is not thread-safe
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set when the server stops: the live streams end themselves (an open one would be cut mid-answer).
        self.closing = threading.Event()
        #: Live streams open now.
        self.streams = 0
        self._positions: tuple[Positions, int] | None = None
        self._order_digest: tuple[Any, ...] = ()

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self, ticker: bool = True) -> Desk:
        """Start the refresher thread and, with ``ticker``, the feed (its own thread)."""
        if ticker and not self.market.started:
            hooks = FeedHooks(self.board.on_ticks, lambda _order: self.poke(), self._ticker_error)
            self.market.start(hooks, self.watch, self.watch_mode)
        self._thread = threading.Thread(target=self._run, name="kitekit-dashboard-refresh", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the refresher and the ticker."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        self.market.stop()

    def poke(self) -> None:
        """Refresh positions and orders now (after an order update or a control)."""
        self._wake.set()

    def _ticker_error(self, error: Exception) -> None:
        from kitekit.errors import SessionExpiredError

        if isinstance(error, SessionExpiredError):
            self._expired(error)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.refresh)
            self._wake.clear()
            if self._stop.is_set():
                return
            with contextlib.suppress(Exception):  # reported by the calls themselves; the loop must go on
                self.refresh_now()

    def refresh_now(self) -> None:
        """Read positions and orders again; bump :attr:`orders_version` when the order book changed."""
        if self.session.expired:
            return
        self.positions()
        orders = self.call(self.gateway.orders)
        digest = tuple((o.order_id, str(o.status), o.filled_quantity, o.price, o.quantity) for o in orders)
        if digest != self._order_digest:
            self._order_digest = digest
            self.orders_version += 1

    # -- calls ---------------------------------------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one broker or client call, noting a dead session (the error still propagates)."""
        try:
            with self._lock:
                return fn(*args)
        except Exception as exc:
            if _session_dead(exc):
                self._expired(exc)
            raise

    def _expired(self, exc: BaseException) -> None:
        if not self.session.expired:
            log.warning("the session ended: %s", type(exc).__name__)
        self.session.expired = True
        self.session.message = (
            f"The session has expired or was ended. Run `{self.login_hint}`, then restart the dashboard."
        )

    # -- what the pages read -------------------------------------------------------------------------
    def positions(self) -> Positions:
        """Read the positions now, noting the board's sequence they are as fresh as."""
        seq = self.board.seq
        positions: Positions = self.call(self.gateway.positions)
        if not self.market.native_tokens:
            positions = self._tokened(positions)
        self._positions = (positions, seq)
        self._subscribe(p.instrument_token for p in positions.net)
        return positions

    def _tokened(self, positions: Positions) -> Positions:
        # Another broker's positions carry its own token (a string, a per-exchange number): the board's and the
        # page's is the source's number for the position's key.
        def one(p: Position) -> Position:
            return replace(p, instrument_token=self.market.token(p.key))

        return Positions([one(p) for p in positions.net], [one(p) for p in positions.day])

    def position_view(self, fresh: bool = False) -> dict[str, Any]:
        """Return the positions page's rows and totals, marked at the newest ticks (no call unless ``fresh``)."""
        if fresh or self._positions is None:
            self.positions()
        assert self._positions is not None  # noqa: S101 - set by positions()
        positions, seq = self._positions
        ticks = self.board.since(seq, [p.instrument_token for p in positions.net])
        rows = position_rows(positions, ticks, seq)
        return {"rows": rows, "totals": pnl_totals(rows)}

    def overview(self) -> dict[str, Any]:
        """Return the overview: funds, the day's P&L, the session and its countdown, the feed, the banner."""
        funds = funds_view(self.call(self.gateway.margins))
        positions = self.position_view(fresh=True)
        return {
            "funds": funds,
            "pnl": positions["totals"],
            "positions": len([r for r in positions["rows"] if r["quantity"]]),
            "session": self.session_view(),
            "feed": self.feed_view(),
        }

    def session_view(self) -> dict[str, Any]:
        """Return the session's state and the seconds it has left."""
        expires = self.session.expires_at
        left = (expires - self.clock.now()).total_seconds() if expires is not None else None
        return {
            "expired": self.session.expired,
            "message": self.session.message,
            "expires_at": expires.astimezone(IST).strftime("%Y-%m-%d %H:%M IST") if expires else None,
            "seconds_left": left,
            "login": self.login_hint,
        }

    def feed_view(self) -> dict[str, Any]:
        """Return the feed's health: connections, ticks/s, age of the last tick, reconnects, stalls."""
        health = self.board.health()
        health["connections"], health["reconnects"] = self.market.connections()
        health["subscribed"] = len(self.market.subscriptions())
        health["source"] = self.market.label
        return health

    def orders_view(self) -> dict[str, Any]:
        """Return the order book and the day's trades with each order's charges."""
        orders = self.call(self.gateway.orders)
        trades = self.call(self.gateway.trades)
        filled = [o for o in orders if o.filled_quantity]
        try:
            costs = self.call(self.gateway.charges, filled)
        except BrokerFeatureError:  # a broker with no charges estimate (Upstox): the column says "—", not an error
            costs = []
        charges = dict(zip((o.order_id for o in filled), costs, strict=False))
        return {"orders": order_rows(orders), "trades": trade_rows(trades, charges), "version": self.orders_version}

    # -- controls ------------------------------------------------------------------------------------
    def cancel(self, order_id: str) -> dict[str, Any]:
        """Cancel an order (``DELETE /orders/{variety}/{order_id}``) and return its new state."""
        self.call(self.gateway.cancel, order_id)
        return self._after(order_id)

    def modify(self, order_id: str, quantity: int | None, price: float | None, trigger: float | None) -> dict[str, Any]:
        """Change an open order (``PUT /orders/{variety}/{order_id}``) and return its new state.

        Raises:
            ControlError: nothing to change.
        """
        change = OrderChange(quantity=quantity, price=price, trigger_price=trigger)
        if change.is_empty():
            raise ControlError("nothing to change: give a quantity, a price or a trigger price")
        self.call(self.gateway.modify, order_id, change)
        return self._after(order_id)

    def square_off(self, key: str, product: str, quantity: int) -> dict[str, Any]:
        """Close a position with a MARKET order (``POST /orders/regular``), if it still is what the page showed.

        Args:
            key: ``EXCHANGE:TRADINGSYMBOL``.
            product: the position's product.
            quantity: the signed quantity the confirmation showed; refused when the position is no longer that.

        Raises:
            ControlError: the position changed since the page showed it, or is already flat.
        """
        positions = self.positions()
        match = [p for p in positions.net if p.key == key and str(p.product) == product]
        now = match[0].quantity if match else 0
        if now != quantity:
            raise ControlError(f"{key} {product} is now {now}, not {quantity}: look again before squaring off")
        if now == 0:
            raise ControlError(f"{key} {product} is already flat")
        side = TransactionType.SELL if now > 0 else TransactionType.BUY
        request = OrderRequest.of(key, side, abs(now), order_type=OrderType.MARKET, product=Product(product))
        placed = self.call(self.gateway.place, request)
        return self._after(placed.order_id)

    def square_off_all(self, expected: Iterable[tuple[str, str, int]]) -> list[dict[str, Any]]:
        """Square off every open position; refused unless the open positions are exactly ``expected``.

        Raises:
            ControlError: the positions changed since the page showed them.
        """
        wanted = sorted((k, p, q) for k, p, q in expected if q)
        actual = sorted((p.key, str(p.product), p.quantity) for p in self.positions().net if p.quantity)
        if wanted != actual:
            raise ControlError("the positions changed since the page showed them: look again before squaring off")
        return [self.square_off(k, p, q) for k, p, q in actual]

    def _after(self, order_id: str) -> dict[str, Any]:
        self.poke()
        order = self.call(self.gateway.order, order_id)
        return order_rows([order])[0]

    # -- subscriptions -------------------------------------------------------------------------------
    def _subscribe(self, tokens: Iterable[int], mode: Mode = Mode.QUOTE) -> None:
        if not self.market.started:
            return
        have = self.market.subscriptions()
        new = [tok for tok in set(tokens) if tok and tok not in have]
        if new:
            self.market.subscribe(new, mode)

    def follow(self, tokens: Iterable[int]) -> None:
        """Subscribe the instruments a page shows (a chart, a chain), unless already subscribed."""
        self._subscribe(tokens)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the broker lock (a sequence of calls nobody else interleaves with)."""
        with self._lock:
            yield


def session_expiry(now: datetime) -> datetime:
    """Return when a session that is alive at ``now`` ends: 06:00 IST after it (Kite's daily flush)."""
    from kitekit.session.record import next_token_expiry

    return next_token_expiry(now)
