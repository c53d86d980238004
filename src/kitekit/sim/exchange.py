"""Accounts and order flow on the matching engine: one engine per user, fed the market model, persisted.

Every call for a user runs under one lock: the exchange brings the user's engine up to the clock (the
market model's quotes for the instruments it watches, plus those the call names), runs the call, then
publishes the order updates the engine produced to :class:`~kitekit.sim.updates.OrderUpdates` and records new
orders in its own log (``GET /__sim/orders``). A background pump does the same catch-up every
``config.exchange_pump_s`` seconds for every account in memory (the simulator's own user's is loaded at start
if it was saved), so resting orders, stops, GTTs, expiries and alerts happen without a request. Each account
keeps its alerts (:mod:`kitekit.sim.alerts`), judged every market second of a session and along the market's
path across a gap; an ``ato`` alert's basket is placed through the engine when it fires.

Each account is saved to ``exchange-<user_id>.json`` next to ``config.state_file`` (atomically); a damaged file
is set aside with a warning and the user starts afresh. Several processes may keep one simulated world (every
``--sim`` command embeds a simulator on the same folder): each call and each catch-up holds a file lock on the
folder's accounts, reads an account again if another process saved it since, and saves a changed account
before letting go, so no process ever works on, or writes back, a stale copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from filelock import FileLock

from kitekit.clock import Clock
from kitekit.engine import Engine, EngineConfig, Liquidity
from kitekit.engine.catchup import MinuteOf, feed_minute
from kitekit.engine.path import MINUTE, Candle, PathPoint
from kitekit.files import atomic_write
from kitekit.sim.alerts import AlertBook, SimAlert, quote_item
from kitekit.sim.config import SimConfig
from kitekit.sim.instruments import SpecBook, market_quotes
from kitekit.sim.market import Market, Universe
from kitekit.sim.mf import MfBook
from kitekit.wire.alerts import AlertType, RhsType, attribute_value, basket_orders
from kitekit.wire.envelope import RejectionError
from kitekit.wire.history import Interval
from kitekit.wire.postbacks import postback_payload

__all__ = ["STARTING_HOLDINGS", "STATE_VERSION", "SimExchange", "UserAccount"]

log = logging.getLogger("kitekit.sim")
T = TypeVar("T")

#: A gap in market seconds past which an account catches up along the market's path, not from the quote now.
GAP_S = 2.0

#: Bumped whenever the account file's shape changes incompatibly.
STATE_VERSION = 1

#: A new account's demat holdings: NSE symbol, quantity, and average cost as a share of the last close.
STARTING_HOLDINGS: tuple[tuple[str, int, float], ...] = (
    ("RELIANCE", 10, 0.92),
    ("INFY", 25, 1.06),
    ("HDFCBANK", 30, 0.9),
    ("ITC", 200, 0.97),
    ("TATASTEEL", 150, 0.82),
)

# The order fields the exchange's own log keeps (``GET /__sim/orders``).
_LOGGED = (
    "order_id",
    "parent_order_id",
    "variety",
    "exchange",
    "tradingsymbol",
    "transaction_type",
    "order_type",
    "product",
    "quantity",
    "price",
    "tag",
    "order_timestamp",
    "status",
)


@dataclass
class UserAccount:
    """One user's engine, mutual funds and the exchange's log of the orders it accepted."""

    user_id: str
    engine: Engine
    mf: MfBook
    generation: int = 0
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The market moment each instrument's quote was last fed at (a quote is fed once per moment).
    fed: dict[int, datetime] = field(default_factory=dict)
    dirty: bool = False
    #: The (session, phase) the account was last saved in: a boundary crossed is a change worth saving.
    period: tuple[datetime, str] | None = None
    #: The account file's (mtime_ns, size) when this process last read or wrote it.
    seen: tuple[int, int] | None = None
    #: The user's alerts (saved with the account).
    alerts: AlertBook = field(default_factory=lambda: AlertBook(""))
    #: The market moment the alerts were last judged at (once per market second).
    alerts_judged: datetime | None = None

    def __post_init__(self) -> None:
        self.alerts.user_id = self.user_id


class SimExchange:
    """Every user's account on the simulated exchange; thread-safe."""

    def __init__(
        self,
        config: SimConfig,
        clock: Clock,
        market: Market,
        publish: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.config = config
        self.clock = clock
        self.market = market
        self.publish = publish
        self.specs = SpecBook(market)
        #: One book of consumed depth for all users: accounts compete for the same quotes.
        self.liquidity = Liquidity()
        self._lock = threading.RLock()
        self._accounts: dict[str, UserAccount] = {}
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None
        self._last_tick: datetime | None = None
        folder = config.state_file.parent if config.state_file is not None else None
        #: Held by one process at a time around every call on the accounts in the folder (see the docstring).
        self._shared = FileLock(str(folder / ".exchange.lock"), mode=0o600) if folder is not None else None
        #: Kite's postbacks carry the app's numeric id; the simulator derives one from its api_key.
        self.app_id = int(hashlib.sha256(config.api_key.encode()).hexdigest()[:8], 16) % 100_000

    # -- calls ---------------------------------------------------------------------------------------
    def run(
        self,
        user_id: str,
        action: Callable[[Engine, datetime], T],
        instruments: Iterable[tuple[str, str]] = (),
        mutates: bool = True,
    ) -> T:
        """Run ``action(engine, now)`` on the user's account, brought up to the clock first.

        It blocks (one lock for every account, and the market model's numbers): call it off an event loop.

        Args:
            user_id: whose account.
            action: the engine call; RejectionError from it propagates.
            instruments: ``(exchange, tradingsymbol)`` pairs the call needs a fresh quote of (an order's
                instrument, say); unlisted ones are ignored, the engine refuses them itself.
            mutates: whether the call changes the account (to be saved).
        """
        with self._held():
            now = self.clock.now()
            acct = self.account(user_id, now)
            self.specs.moment = now
            tokens = [t for e, s in instruments if (t := self.specs.token_of(e, s)) is not None]
            self._catch_up(acct, now, tokens)
            try:
                return action(acct.engine, now)
            finally:
                acct.dirty |= mutates
                self._settle(acct, now)

    def run_mf(self, user_id: str, action: Callable[[MfBook, datetime], T], mutates: bool = True) -> T:
        """Run ``action(book, now)`` on the user's mutual funds, after the book catches up with the clock."""
        with self._held():
            now = self.clock.now()
            acct = self.account(user_id, now)
            acct.mf.advance(now)
            try:
                return action(acct.mf, now)
            finally:
                acct.dirty |= mutates
                self._settle(acct, now)

    def run_alerts(self, user_id: str, action: Callable[[AlertBook, datetime], T], mutates: bool = True) -> T:
        """Run ``action(book, now)`` on the user's alerts, after the account catches up with the clock.

        Alerts due by now have fired before the call sees them. It blocks like :meth:`run`.
        """
        with self._held():
            now = self.clock.now()
            acct = self.account(user_id, now)
            self._catch_up(acct, now)
            # What the call adds or changes is judged from the next market second on, as Kite's next tick would.
            acct.alerts_judged = self.market.point(now).moment
            try:
                return action(acct.alerts, now)
            finally:
                acct.dirty |= mutates
                self._settle(acct, now)

    def listed(self, exchange: str, tradingsymbol: str) -> bool:
        """Return True if an alert may name ``exchange:tradingsymbol`` now (indices on ``INDICES`` too).

        Call it inside :meth:`run_alerts` (the listing is the one at the exchange's current moment).
        """
        return _alert_row(self.specs.universe(), exchange, tradingsymbol) is not None

    def accepted_orders(self) -> list[dict[str, Any]]:
        """Return every order the exchange accepted, all users, oldest first (``GET /__sim/orders``)."""
        with self._lock:
            return [dict(entry) for acct in self._accounts.values() for entry in acct.accepted.values()]

    # -- accounts ------------------------------------------------------------------------------------
    def account(self, user_id: str, now: datetime | None = None) -> UserAccount:
        """Return the user's account: in memory, else restored from its file, else a new one."""
        with self._held():
            acct = self._accounts.get(user_id)
            if acct is not None and acct.seen != self._stamp(user_id):
                acct = None  # another process saved it since: work on what it saved
            if acct is None:
                now = now or self.clock.now()
                self.specs.moment = now
                acct = self._load(user_id) or self._fresh(user_id, now, 0)
                self._accounts[user_id] = acct
            return acct

    def reset(self, user_id: str) -> UserAccount:
        """Replace the user's account with a fresh one (new order ids, starting holdings) and save it."""
        with self._held():
            now = self.clock.now()
            self.specs.moment = now
            old = self._accounts.get(user_id)
            generation = old.generation + 1 if old else (self._generation_on_disk(user_id) + 1)
            acct = self._fresh(user_id, now, generation)
            self._accounts[user_id] = acct
            acct.dirty = True
            self._save(acct)
            return acct

    def _engine_config(self, user_id: str, generation: int) -> EngineConfig:
        # The seed only separates order ids: a reset account never reuses the ids its predecessor handed out.
        seed = (self.config.seed * 1009 + zlib.crc32(user_id.encode()) + generation * 7919) % 10_000
        return EngineConfig(user_id=user_id, seed=seed, calendar=self.market.calendar)

    def _fresh(self, user_id: str, now: datetime, generation: int) -> UserAccount:
        config = self._engine_config(user_id, generation)
        engine = Engine(self.specs.resolve, now, config, liquidity=self.liquidity)
        if self.config.seed_holdings:
            uni = self.specs.universe()
            for symbol, quantity, share in STARTING_HOLDINGS:
                row = uni.by_key.get(f"NSE:{symbol}")
                if row is None:
                    continue
                tick = float(uni.tick[row]) or 0.05
                cost = round(round(float(uni.last_price[row]) * share / tick) * tick, 2)
                engine.add_holding("NSE", symbol, quantity, cost, now)
        mf = MfBook(user_id, self.market.calendar, config.seed)
        return UserAccount(user_id, engine, mf, generation, dirty=True)

    # -- catching up with the clock ----------------------------------------------------------------
    def _catch_up(self, acct: UserAccount, now: datetime, tokens: Iterable[int] = ()) -> None:
        """Bring the account to ``now``: the market's path since its last moment, then a quote of every instrument
        it watches (and ``tokens``) not yet fed at this moment."""
        self.specs.moment = now
        self._walk_the_gap(acct, now)
        wanted = set(acct.engine.watched_tokens())
        wanted.update(tokens)
        if not self._feed(acct, wanted, now):
            acct.engine.advance(now)
        self._judge_alerts(acct, now)

    def _feed(self, acct: UserAccount, tokens: Iterable[int], now: datetime) -> bool:
        """Feed the engine the quote at ``now`` of each of ``tokens`` not yet fed at this moment; return if any was."""
        moment = self.market.point(now).moment
        stale = [t for t in tokens if acct.fed.get(t) != moment]
        if not stale:
            return False
        quotes = market_quotes(self.market, self.specs.universe(), stale, now)
        for quote in quotes:
            acct.fed[quote.instrument_token] = moment
        acct.engine.on_quotes(quotes, now)
        return True

    def _walk_the_gap(self, acct: UserAccount, now: datetime) -> None:
        """Feed the minute candles since the account's last moment, as paths through what rests (a world that went
        on while no simulator ran, or a pump that fell behind): a limit fills at its price when the market
        reached it, not at whatever the price is now. See :mod:`kitekit.engine.catchup`."""
        since = acct.engine.now
        if (now - since).total_seconds() < GAP_S:
            return
        levels = acct.engine.resting_levels()
        uni = self.specs.universe()
        # Alerts on a last price against a number are judged on the path too: the price may have crossed and
        # come back while nothing ran. Other conditions are judged at the moment caught up to.
        on_path = {
            a.uuid: row
            for a in acct.alerts.enabled()
            if a.terms.lhs_attribute == "LastTradedPrice" and a.terms.rhs_type is RhsType.CONSTANT
            if (row := _alert_row(uni, a.terms.lhs_exchange, a.terms.lhs_tradingsymbol)) is not None
        }
        if not levels and not on_path:
            return
        first = since.replace(second=0, microsecond=0)
        by_minute: dict[datetime, list[MinuteOf]] = {}
        # In the order of what rests first: at one moment, instruments are fed in the order given.
        watched = list(levels) + [
            t for t in dict.fromkeys(int(uni.token[r]) for r in on_path.values()) if t not in levels
        ]
        for token in watched:
            row = uni.by_token.get(token)
            if row is None:
                continue  # expired since: its last day was settled by the engine's own day cycle
            start = PathPoint(since, float(self.market.last_prices(uni, np.array([row]), since)[0]))
            for values in self.market.candles(uni, row, Interval.MINUTE, first, now, now):
                candle = Candle.from_kite(values)
                inside = candle.start <= since < candle.start + MINUTE
                if candle.start + MINUTE > since:
                    by_minute.setdefault(candle.start, []).append(MinuteOf(token, candle, start if inside else None))
        for minute in sorted(by_minute):
            feed_minute(acct.engine, by_minute[minute])
            if on_path:
                self._alerts_on_path(acct, by_minute[minute], since, now)
        acct.fed.clear()

    # -- alerts --------------------------------------------------------------------------------------
    def _judge_alerts(self, acct: UserAccount, now: datetime) -> None:
        """Fire the enabled alerts whose condition holds at ``now`` (judged once per market second, in a session)."""
        alerts = acct.alerts.enabled()
        if not alerts:
            return
        point = self.market.point(now)
        if not point.live or acct.alerts_judged == point.moment:
            return
        acct.alerts_judged = point.moment
        uni = self.specs.universe()
        items = self._items(uni, {k for a in alerts for k in a.keys}, now)
        for alert in alerts:
            t = alert.terms
            lhs_item = items.get(t.lhs_key)
            rhs_item = items.get(t.rhs_key) if t.rhs_key is not None else None
            if lhs_item is None or (t.rhs_key is not None and rhs_item is None):
                continue  # an instrument no longer listed (an expired contract): nothing to judge it on
            lhs = attribute_value(t.lhs_attribute, lhs_item)
            rhs = t.rhs_constant if rhs_item is None else attribute_value(t.rhs_attribute, rhs_item)
            if lhs is not None and rhs is not None and t.operator.holds(lhs, rhs):
                self._fire(acct, alert, now, [lhs_item] if rhs_item is None else [lhs_item, rhs_item])

    def _alerts_on_path(self, acct: UserAccount, minute: list[MinuteOf], since: datetime, now: datetime) -> None:
        """Fire the last-price alerts a minute's candle reached (in the minute of ``since``, from that point on)."""
        uni = self.specs.universe()
        candles = {m.instrument_token: m for m in minute}
        for alert in acct.alerts.enabled():
            t = alert.terms
            if t.lhs_attribute != "LastTradedPrice" or t.rhs_type is not RhsType.CONSTANT:
                continue
            row = _alert_row(uni, t.lhs_exchange, t.lhs_tradingsymbol)
            got = candles.get(int(uni.token[row])) if row is not None else None
            if got is None:
                continue
            candle = got.candle
            if got.start is not None:  # the minute the gap began in: only its rest is new
                low, high = sorted((got.start.price, candle.close))
            else:
                low, high = candle.low, candle.high
            if not t.operator.reached_within(low, high, t.rhs_constant):
                continue
            at = max(acct.engine.now, min(candle.start + MINUTE - timedelta(seconds=1), now), since)
            item = self._items(uni, [t.lhs_key], at).get(t.lhs_key)
            if item is not None:
                item["last_price"] = t.rhs_constant  # the price the path reached, where the minute's end may not be
                self._fire(acct, alert, at, [item])

    def _items(self, uni: Universe, keys: Iterable[str], at: datetime) -> dict[str, dict[str, Any]]:
        """Return the market of each listed key at ``at`` as quote items (:func:`~kitekit.sim.alerts.quote_item`)."""
        found = [(k, row) for k in keys if (row := _alert_row(uni, *k.split(":", 1))) is not None]
        if not found:
            return {}
        snap = self.market.snapshot(uni, np.array([row for _, row in found], dtype=np.int64), at)
        return {k: quote_item(snap, i, *k.split(":", 1)) for i, (k, _) in enumerate(found)}

    def _fire(self, acct: UserAccount, alert: SimAlert, at: datetime, meta: list[dict[str, Any]]) -> None:
        """Fire ``alert`` at ``at``: place an ato alert's basket through the engine, then record the firing."""
        results: list[dict[str, Any]] | None = None
        if alert.terms.type is AlertType.ATO and alert.terms.basket is not None:
            results = []
            orders = basket_orders(alert.terms.basket)
            # The basket's instruments are quoted at the firing moment first: a market order fills on the
            # market of that moment, not on whatever quote the engine last had.
            tokens = [t for _, f in orders if (t := self.specs.token_of(f["exchange"], f["tradingsymbol"])) is not None]
            self._feed(acct, tokens, at)
            for variety, form in orders:
                outcome: dict[str, Any] = {"exchange": form["exchange"], "tradingsymbol": form["tradingsymbol"]}
                try:
                    placed = acct.engine.place_order(variety, form, at)
                    outcome.update(status="success", order_id=placed["order_id"])
                except RejectionError as exc:
                    outcome.update(status="failed", error=exc.as_kite())
                results.append(outcome)
        acct.alerts.fired(alert, at, meta, results)
        acct.dirty = True

    def tick(self) -> None:
        """Catch every loaded account up with the clock (the pump calls this; tests may too)."""
        with self._held():
            now = self.clock.now()
            if now != self._last_tick:
                saved = self._path(self.config.user_id)
                # A saved account goes on trading after a restart, before any request: resting orders, stops
                # and GTTs. A new one waits for its first request (and the day's universe with it).
                if self._last_tick is None and saved is not None and saved.exists():
                    self.account(self.config.user_id, now)
                self._last_tick = now
                for user_id in list(self._accounts):
                    acct = self.account(user_id, now)
                    self._catch_up(acct, now)
                    acct.mf.advance(now)
                    self._settle(acct, now)

    def _settle(self, acct: UserAccount, now: datetime) -> None:
        """Publish the engine's order updates, log new orders, and note a session boundary as a change."""
        for update in acct.engine.drain_updates():
            acct.dirty = True
            order_id = update["order_id"]
            entry = acct.accepted.get(order_id)
            if entry is None:
                entry = {"user_id": acct.user_id, **{k: update.get(k) for k in _LOGGED}}
                entry["tags"] = list(update.get("tags", []))
                acct.accepted[order_id] = entry
            elif update["status"] != "UPDATE":
                entry["status"] = update["status"]
            self.publish(acct.user_id, self._postback(acct.user_id, update))
        cal = self.market.calendar
        period = (cal.last_session_start(now), str(cal.phase(now)))
        if period != acct.period:
            acct.period, acct.dirty = period, True
        self._save(acct)  # before the lock is let go: another process may read it next

    def _postback(self, user_id: str, update: dict[str, Any]) -> dict[str, Any]:
        """Return an order update as Kite pushes it: the order plus the postback fields (docs/protocol.md §15.8)."""
        return postback_payload(update, user_id, self.app_id, self.config.api_secret)

    # -- the pump ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background pump (idempotent)."""
        if self._pump is not None:
            return
        self._stop.clear()
        self._pump = threading.Thread(target=self._pump_loop, name="kitekit-sim-exchange", daemon=True)
        self._pump.start()

    def stop(self) -> None:
        """Stop the pump and write every changed account."""
        pump, self._pump = self._pump, None
        if pump is not None:
            self._stop.set()
            pump.join(10)
        with self._held():
            for acct in self._accounts.values():
                self._save(acct)

    def _pump_loop(self) -> None:
        while not self._stop.wait(self.config.exchange_pump_s):
            try:
                self.tick()
            except Exception:  # the pump must outlive any one bad moment; the error is logged, not lost
                log.exception("the simulated exchange failed to catch up with the clock")

    # -- persistence ---------------------------------------------------------------------------------
    def _path(self, user_id: str) -> Path | None:
        if self.config.state_file is None:
            return None
        return self.config.state_file.with_name(f"exchange-{re.sub(r'[^A-Za-z0-9_-]', '_', user_id)}.json")

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        """Hold this process's lock and, for a world on disk, the folder's lock shared with other processes."""
        with self._lock, self._shared or contextlib.nullcontext():
            yield

    def _stamp(self, user_id: str) -> tuple[int, int] | None:
        path = self._path(user_id)
        try:
            st = path.stat() if path is not None else None
        except OSError:
            return None
        return None if st is None else (st.st_mtime_ns, st.st_size)

    def _save(self, acct: UserAccount) -> None:
        path = self._path(acct.user_id)
        if path is None or not acct.dirty:
            return
        state = {
            "version": STATE_VERSION,
            "user_id": acct.user_id,
            "generation": acct.generation,
            "engine": acct.engine.to_state(),
            "mf": acct.mf.to_state(),
            "accepted": list(acct.accepted.values()),
            "alerts": acct.alerts.to_state(),
        }
        try:
            atomic_write(path, json.dumps(state, separators=(",", ":")).encode(), mode=0o600)
        except OSError as exc:
            log.warning("could not save the simulated account of %s to %s: %s", acct.user_id, path, exc)
            return
        acct.dirty = False
        acct.seen = self._stamp(acct.user_id)

    def _generation_on_disk(self, user_id: str) -> int:
        path = self._path(user_id)
        try:
            raw = json.loads(path.read_bytes()) if path is not None else {}
            return int(raw.get("generation", 0)) if isinstance(raw, dict) else 0
        except (OSError, ValueError, TypeError):
            return 0

    def _load(self, user_id: str) -> UserAccount | None:
        path = self._path(user_id)
        if path is None or not path.exists():
            return None
        try:
            raw = json.loads(path.read_bytes())
            if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION or raw.get("user_id") != user_id:
                raise ValueError("not an account file of this simulator version and user")
            generation = int(raw["generation"])
            config = self._engine_config(user_id, generation)
            engine = Engine.from_state(raw["engine"], self.specs.resolve, config, liquidity=self.liquidity)
            mf = MfBook(user_id, self.market.calendar, config.seed, raw["mf"])
            accepted = {e["order_id"]: dict(e) for e in raw["accepted"]}
            alerts = AlertBook(user_id, raw.get("alerts", ()))  # absent from files saved before alerts existed
        except Exception as exc:  # anything in a damaged file: set it aside, never stop the simulator
            aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                path.replace(aside)
            except OSError:
                aside = path
            log.warning("the simulated account file %s is damaged (%s); set aside as %s", path, exc, aside.name)
            return None
        return UserAccount(user_id, engine, mf, generation, accepted, seen=self._stamp(user_id), alerts=alerts)


def _alert_row(uni: Universe, exchange: str, tradingsymbol: str) -> int | None:
    """Return the universe row of an alert's ``exchange:tradingsymbol``: an ``INDICES`` one is NSE's or BSE's."""
    if exchange != "INDICES":
        return uni.by_key.get(f"{exchange}:{tradingsymbol}")
    for listing in ("NSE", "BSE"):
        row = uni.by_key.get(f"{listing}:{tradingsymbol}")
        if row is not None and uni.segment[row] == "INDICES":
            return row
    return None
