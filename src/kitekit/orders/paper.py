"""``PaperBroker``: the simulator's own matching engine, fed real (or simulated) quotes, on a ledger that lasts.

Every call first brings the engine up to the clock: resting orders are judged on the market's path since the
last call (minute candles, when the quote source serves them: :mod:`kitekit.orders.catchup`), then the fresh
quotes of the instruments it watches are fed (one ``quote()`` call, paced like any other). Then the engine's
route runs and what it changed is appended to the ledger. Orders are checked by the same pre-trade rules as
live ones, intents are idempotent the same way, and Kite's refusals come out as the SDK's exceptions of the
same names, so code written against :class:`LiveBroker` runs here unchanged.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kitekit.clock import IST, Clock, clock_of
from kitekit.engine import Engine, EngineConfig, InstrumentSpec, MarketQuote
from kitekit.errors import (
    PAPER_REFUSAL_NOTE,
    IntentConflictError,
    OrderStateError,
    UnknownInstrumentError,
)
from kitekit.orders.catchup import MarketPath
from kitekit.orders.gateway import Instruments, QuoteAtHand
from kitekit.orders.journal import derive_tag, new_intent_id
from kitekit.orders.ledger import PaperLedger
from kitekit.orders.model import Charges, Order, OrderChange, OrderRequest, Placement, Trade
from kitekit.orders.portfolio import Funds, Gtt, GttRequest, Holding, Positions
from kitekit.orders.quotes import QuoteSource, candle_source
from kitekit.orders.rules import PreTradeRules
from kitekit.orders.validator import Validator, day_of
from kitekit.wire.envelope import ErrorType, RejectionError, exception_class

if TYPE_CHECKING:
    from kiteconnect.exceptions import KiteException

__all__ = ["INTENT_MEMORY", "PaperBroker"]

T = TypeVar("T")

#: How long placed intents are kept after their day (placing one again the same day returns its order).
INTENT_MEMORY = timedelta(days=7)


def _refusal(error_type: ErrorType, message: str, status: int) -> KiteException:
    """Return the SDK exception Kite would raise for this refusal, noted as the paper broker's own."""
    exc = exception_class(error_type)(message, code=status)
    exc.add_note(PAPER_REFUSAL_NOTE)
    return exc


class PaperBroker:
    """Orders filled locally by :class:`kitekit.engine.Engine`, priced by ``quotes``, kept in a ledger.

    Resting orders fill as they would have on the exchange, judged on the market's path since they were
    placed (see the README's "How paper orders fill"): the minute candles since the last call when ``quotes``
    serves them (``historical_data()``), the ticks given to :meth:`on_ticks` while a feed runs, and the quote
    of the moment.

    Args:
        quotes: where prices come from: the ``KiteConnect`` from ``get_kite()`` (real quotes and candles
            through the pacer), the simulator's client, or a :class:`~kitekit.orders.quotes.RecordedQuotes`.
        instruments: the instrument store (validation, and the engine's instrument specs).
        folder: where the ledger lives (``ledger-<account>.json`` and ``.log``).
        account: the paper account's name.
        clock: the time the engine runs at (market hours, fills, expiries).
        rules: the pre-trade rules.
        funds: a new account's equity funds, in rupees.
        refresh: seconds a fetched quote stays fresh before the next call fetches it again.
        engine_config: the engine's settings (its ``user_id`` is replaced by ``account``, and its equity funds
            by ``funds``, for a new ledger).
        paths: judge resting orders on the market's path between calls (False: only on the quote or tick of
            each moment the broker is called or fed, with nothing in between).
        candles: follow the path on minute candles when ``quotes`` serves them (False: quotes and ticks).
        durable: fsync each ledger line (turn off only to measure what it costs).
    """

    paper = True

    def __init__(
        self,
        quotes: QuoteSource,
        instruments: Instruments,
        *,
        folder: Path | None = None,
        account: str = "PAPER",
        clock: Clock | None = None,
        rules: PreTradeRules | None = None,
        funds: float = 1_000_000.0,
        refresh: float = 1.0,
        engine_config: EngineConfig | None = None,
        paths: bool = True,
        candles: bool = True,
        durable: bool = True,
    ) -> None:
        if folder is None:
            from kitekit.paths import data_dir

            folder = data_dir() / "paper"
        self.source = quotes
        self.clock = clock or clock_of(quotes)
        self.account = account
        self.instruments = instruments
        self.validator = Validator(instruments.instrument, rules, day_of(self.clock.now))
        self.refresh = refresh
        self.ledger = PaperLedger(folder, account, durable=durable)
        base = engine_config or EngineConfig()
        self.config = EngineConfig(**{**base.__dict__, "user_id": account, "equity_funds": funds})
        self.path = MarketPath(candle_source(quotes) if candles else None, self.config.calendar, enabled=paths)
        self._engine: Engine | None = None
        self._intents: dict[str, dict[str, Any]] = {}
        self._tags: set[str] = set()  # "<day>/<tag>" of every intent: one lookup, however many orders the day holds
        self._new_intents: dict[str, dict[str, Any]] = {}
        self._fetched: dict[int, datetime] = {}
        self._tokens: dict[str, int] = {}
        with self._session(mutates=False):
            pass

    # -- the ledger ---------------------------------------------------------------------------------
    def _resolve(self, exchange: str, tradingsymbol: str) -> InstrumentSpec | None:
        try:
            return self.validator.spec(f"{exchange}:{tradingsymbol}")
        except UnknownInstrumentError:
            return None

    @contextlib.contextmanager
    def _session(self, mutates: bool = True) -> Iterator[Engine]:
        """Hold the ledger's lock, reload it if another process changed it, and log what a call changed."""
        with self.ledger.lock:
            if self._engine is None or self.ledger.changed():
                self._load()
            assert self._engine is not None  # noqa: S101 - just loaded
            try:
                yield self._engine
            finally:
                # Logged even when the call was refused: the market it was fed may have filled resting orders.
                if mutates:
                    self._save()

    def _load(self) -> None:
        self._engine = None  # until loaded whole: a failure below leaves nothing half-read behind
        data = self.ledger.load()
        if data is None:
            engine = Engine(self._resolve, self.clock.now(), self.config)
            self._intents, marks = {}, {}
        else:
            engine = Engine.from_state(data["engine"], self._resolve, self.config)
            self._intents, marks = dict(data["intents"]), data["paths"]
        self.path.load(marks)
        self._tags = {f"{key.split('/', 1)[0]}/{entry['tag']}" for key, entry in self._intents.items()}
        self._new_intents = {}
        if data is None:
            self.ledger.snapshot({"engine": engine.to_state(), "intents": {}, "paths": {}})
        self._engine = engine

    def _save(self) -> None:
        """Append what the call changed to the ledger (and fold the log into a new snapshot when it is due)."""
        assert self._engine is not None  # noqa: S101 - saved only once loaded
        try:
            changes = self._engine.changes()
            self.ledger.append({"engine": changes, "intents": self._new_intents, "paths": self.path.dump()})
            self._new_intents = {}
            if self.ledger.compaction_due():
                self._forget_old_intents()
                self.ledger.snapshot(
                    {"engine": self._engine.to_state(), "intents": self._intents, "paths": self.path.dump()}
                )
        except BaseException:
            self._engine = None  # memory is ahead of the disk: the next call starts again from the disk
            raise

    def _forget_old_intents(self) -> None:
        """Drop intents of days long gone (an intent id is unique per day only), so snapshots stay a day's size."""
        cutoff = (self.clock.now().astimezone(IST).date() - INTENT_MEMORY).isoformat()
        kept = {key: entry for key, entry in self._intents.items() if key[:10] >= cutoff}
        if len(kept) < len(self._intents):
            self._intents = kept
            self._tags = {f"{key.split('/', 1)[0]}/{entry['tag']}" for key, entry in kept.items()}

    def _remember(self, key: str, entry: dict[str, Any]) -> None:
        self._intents[key] = entry
        self._new_intents[key] = entry
        self._tags.add(f"{key.split('/', 1)[0]}/{entry['tag']}")

    def _token(self, key: str) -> int:
        token = self._tokens.get(key)
        if token is None:
            token = self._tokens[key] = self.instruments.instrument(key).instrument_token
        return token

    def _restarting(self, engine: Engine, now: datetime, token: int, result: T) -> T:
        """Return ``result`` of a change to what rests on ``token``, after restarting its path at ``now``."""
        self.path.restart(engine, token, now)
        return result

    def _run(self, action: Callable[[Engine, datetime], T], keys: tuple[str, ...] = (), mutates: bool = True) -> T:
        """Run an engine route at the clock's time, after feeding it the market; raise refusals as Kite would."""
        with self._session(mutates) as engine:
            now = self.clock.now()
            self._feed(engine, now, keys)
            try:
                return action(engine, now)
            except RejectionError as exc:
                raise _refusal(exc.error_type, exc.message, exc.status) from exc

    def _feed(
        self, engine: Engine, now: datetime, keys: tuple[str, ...] = (), *, reuse: bool = False
    ) -> dict[str, Mapping[str, Any]]:
        """Fetch quotes, catch the engine up on the market's path since the last call, then push the quotes.

        Quoted: the watched instruments not fetched within ``refresh``, those whose path is due, and ``keys``
        (with ``reuse``, not those fetched within ``refresh`` either). Routes: the source's ``quote()``
        (``GET /quote``, one call for all of them), then its ``historical_data()`` per instrument with a
        minute not yet judged (``GET /instruments/historical/{token}/minute``).
        """
        due = [str(t) for t in engine.watched_tokens() if not self._fresh(t, now)]
        # An instrument whose path is about to be fed is quoted too: its quote must follow the path, and the
        # day's range it carries may spare the candles.
        pending = [str(t) for t in self.path.pending(engine, now)]
        keys = tuple(k for k in keys if not (reuse and self._fresh(self._token(k), now)))
        wanted = list(dict.fromkeys([*due, *pending, *keys]))
        answer = {str(k): v for k, v in self.source.quote(*wanted).items()} if wanted else {}
        quotes = [MarketQuote.from_kite(item) for item in answer.values()]
        ranges = {}
        for quote, item in zip(quotes, answer.values(), strict=True):
            ohlc = item.get("ohlc") or {}
            if ohlc.get("low") and ohlc.get("high"):
                ranges[quote.instrument_token] = (float(ohlc["low"]), float(ohlc["high"]))
        for token in self.path.catch_up(engine, now, ranges):
            self._fetched.pop(token, None)  # its quote is now a point of the path: fetch the market's again
        for quote in quotes:
            self._fetched[quote.instrument_token] = now
        self.path.observe(engine, quotes, now)
        engine.advance(now)
        return answer

    def _fresh(self, token: int, now: datetime) -> bool:
        fetched = self._fetched.get(token)
        return fetched is not None and (now - fetched).total_seconds() < self.refresh

    # -- placing ------------------------------------------------------------------------------------
    def check(self, request: OrderRequest, quote: QuoteAtHand = None) -> OrderRequest:
        """Return ``request`` as it would be sent: checked by the pre-trade rules and completed.

        Raises:
            OrderValidationError: a rule is broken (the rule and the nearest valid value are named).
        """
        return self.validator.check(request, quote)

    def place(
        self, request: OrderRequest, intent_id: str | None = None, *, tag: str | None = None, quote: QuoteAtHand = None
    ) -> Placement:
        """Validate ``request`` and place it on paper once for ``intent_id``; the same intent again returns it.

        Route: the quote source's ``quote()`` for the instrument (circuit limits, the fill), unless one was
        fetched within ``refresh`` seconds.

        Raises:
            OrderValidationError: a pre-trade rule is broken.
            IntentConflictError: the id or tag was used today for a different order.
            kiteconnect.exceptions.KiteException: the engine refused it as Kite would (market closed, …).
        """
        if tag is not None:
            tag = self.validator.check_tag(tag)
        intent_id = intent_id or tag or new_intent_id()
        with self._session() as engine:
            now = self.clock.now()
            day = now.astimezone(IST).date()
            tag = tag or derive_tag(intent_id, self.account, day)
            # A quote of the instrument fetched within ``refresh`` is used again: over Kite, quotes are paced
            # at one request a second, and paper orders must not wait for them.
            token = self._token(request.key)
            fetched = self._feed(engine, now, (request.key,), reuse=True)
            at_hand = quote if quote is not None else fetched.get(request.key) or engine.last_quote(token)
            checked = self.validator.check(request, at_hand)
            params = checked.to_kite(tag)
            key = f"{day.isoformat()}/{intent_id}"
            known = self._intents.get(key)
            if known is not None:
                return self._replay(intent_id, known, params)
            if f"{day.isoformat()}/{tag}" in self._tags:
                raise IntentConflictError(f"tag {tag!r} already belongs to another intent today; give another")
            try:
                order_id = str(engine.place_order(checked.variety, params, now)["order_id"])
            except RejectionError as exc:
                self._remember(key, {"tag": tag, "request": params, "error_type": str(exc.error_type),
                                     "status": exc.status, "message": exc.message})  # fmt: skip
                raise _refusal(exc.error_type, exc.message, exc.status) from exc
            self._remember(key, {"tag": tag, "request": params, "order_id": order_id})
            self.path.restart(engine, token, now)
            return Placement(intent_id, tag, order_id)

    def _replay(self, intent_id: str, known: Mapping[str, Any], params: Mapping[str, Any]) -> Placement:
        if json.dumps(known["request"], sort_keys=True) != json.dumps(dict(params), sort_keys=True):
            raise IntentConflictError(
                f"intent {intent_id!r} was already used today for another order; use a new intent id"
            )
        if "order_id" not in known:
            error = ErrorType(known["error_type"])
            raise _refusal(error, known["message"], known["status"])
        return Placement(intent_id, known["tag"], known["order_id"], replayed=True)

    def place_sliced(self, request: OrderRequest, intent_id: str | None = None) -> list[Placement]:
        """Place ``request`` in slices within the freeze quantity, each its own intent (``<id>-s1``, …)."""
        intent_id = intent_id or new_intent_id()
        parts = self.validator.slices(request)
        if len(parts) == 1:
            return [self.place(parts[0], intent_id)]
        return [self.place(part, f"{intent_id}-s{i}") for i, part in enumerate(parts, 1)]

    # -- changing orders ----------------------------------------------------------------------------
    def modify(self, order_id: str, change: OrderChange) -> str:
        """Change a live paper order; one already carrying the change is left alone.

        Raises:
            OrderValidationError: the new terms break a pre-trade rule.
            OrderStateError: the order is no longer live.
            kiteconnect.exceptions.KiteException: the engine refused the change.
        """
        order = self.order(order_id)
        if change.applied_to(order):
            return order_id
        if not order.is_live:
            raise OrderStateError(f"order {order_id} is {order.status}; it cannot be modified")
        self.validator.check_change(order, change)
        variety, token = str(order.variety), order.instrument_token
        self._run(
            lambda e, now: self._restarting(e, now, token, e.modify_order(variety, order_id, change.to_kite(), now)),
            (order.key,),
        )
        return order_id

    def cancel(self, order_id: str) -> str:
        """Cancel a paper order; one already cancelled succeeds.

        Raises:
            OrderStateError: the order filled or was rejected.
        """
        order = self.order(order_id)
        if order.is_cancelled:
            return order_id
        if not order.is_live:
            raise OrderStateError(f"order {order_id} is {order.status}; it cannot be cancelled")
        variety = str(order.variety)
        self._run(lambda e, now: e.cancel_order(variety, order_id, now, order.parent_order_id))
        return order_id

    def exit(self, order_id: str) -> str:
        """Exit a cover order (its stop-loss leg at market); other orders are cancelled.

        Raises:
            OrderStateError: nothing is left to exit.
        """
        order = self.order(order_id)
        if str(order.variety) != "co":
            return self.cancel(order_id)
        self._run(lambda e, now: e.exit_order("co", order_id, now, order.parent_order_id))
        return order_id

    # -- reading ------------------------------------------------------------------------------------
    def orders(self) -> list[Order]:
        """Return today's paper orders."""
        return [Order.from_kite(o) for o in self._run(lambda e, now: e.orders(now))]

    def order_history(self, order_id: str) -> list[Order]:
        """Return every state of a paper order, oldest first.

        Raises:
            kiteconnect.exceptions.KiteException: no such order today.
        """
        return [Order.from_kite(o) for o in self._run(lambda e, now: e.order_history(order_id, now))]

    def order(self, order_id: str) -> Order:
        """Return a paper order's current state."""
        return self.order_history(order_id)[-1]

    def trades(self) -> list[Trade]:
        """Return today's paper fills."""
        return [Trade.from_kite(t) for t in self._run(lambda e, now: e.trades(now))]

    def positions(self) -> Positions:
        """Return net and day paper positions, priced at the latest quotes."""
        return Positions.from_kite(self._run(lambda e, now: e.positions(now)))

    def holdings(self) -> list[Holding]:
        """Return the paper holdings."""
        return [Holding.from_kite(h) for h in self._run(lambda e, now: e.holdings(now))]

    def margins(self) -> Funds:
        """Return the paper account's funds and margins."""
        return Funds.from_kite(self._run(lambda e, now: e.margins(now)))

    def margin_required(self, request: OrderRequest) -> float:
        """Return the margin ``request`` needs if placed alone, by the engine's calculator (``/margins/orders``)."""
        item = request.margin_item()
        blocks = self._run(lambda e, now: e.order_margins([item], now), (request.key,), mutates=False)
        return float(blocks[0]["total"])

    def charges(self, orders: Sequence[Order]) -> list[Charges]:
        """Return what each paper order's fills cost, as Kite's contract note would (``/charges/orders``)."""
        items = [o.contract_note_item() for o in orders]
        if not items:
            return []
        notes = self._run(lambda e, now: e.order_charges(items, now), mutates=False)
        return [Charges.from_kite(note["charges"]) for note in notes]

    # -- GTT ----------------------------------------------------------------------------------------
    def gtts(self) -> list[Gtt]:
        """Return the paper GTT triggers."""
        return [Gtt.from_kite(g) for g in self._run(lambda e, now: e.gtts(now))]

    def place_gtt(self, request: GttRequest) -> int:
        """Place a paper GTT trigger; return its id."""
        key = f"{request.exchange}:{request.tradingsymbol}"
        token = self._token(key)
        placed = self._run(lambda e, now: self._restarting(e, now, token, e.place_gtt(request.form(), now)), (key,))
        return int(placed["trigger_id"])

    def modify_gtt(self, trigger_id: int, request: GttRequest) -> int:
        """Change an active paper GTT trigger; return its id."""
        token = self._token(f"{request.exchange}:{request.tradingsymbol}")
        changed = self._run(
            lambda e, now: self._restarting(e, now, token, e.modify_gtt(trigger_id, request.form(), now))
        )
        return int(changed["trigger_id"])

    def delete_gtt(self, trigger_id: int) -> int:
        """Delete a paper GTT trigger; return its id."""
        return int(self._run(lambda e, now: e.delete_gtt(trigger_id, now))["trigger_id"])

    # -- live market data ---------------------------------------------------------------------------
    def on_ticks(self, ticks: Iterable[Mapping[str, Any]]) -> None:
        """Judge resting orders on live ticks as they arrive (a running feed's ``on_ticks``, SDK-shaped dicts).

        Ticks of instruments the account does not watch are ignored. A tick with depth (``full`` mode) also
        stands for a fresh quote, so calls made meanwhile need not fetch one.
        """
        with self._session() as engine:
            now = self.clock.now()
            for token in self.path.catch_up(engine, now):
                self._fetched.pop(token, None)
            for token in self.path.on_ticks(engine, ticks, now):
                self._fetched[token] = now

    # -- the account --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Return the engine's whole state (``Engine.to_state``), e.g. to compare two runs."""
        with self._session(mutates=False) as engine:
            return engine.to_state()
