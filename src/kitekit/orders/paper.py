"""``PaperBroker``: the simulator's own matching engine, fed real (or simulated) quotes, on a ledger that lasts.

Every call first brings the engine up to the clock with fresh quotes of the instruments it watches (one
``quote()`` call, paced like any other), then runs the engine's route, then saves the ledger. Orders are
checked by the same pre-trade rules as live ones, intents are idempotent the same way, and Kite's refusals
come out as the SDK's exceptions of the same names, so code written against :class:`LiveBroker` runs here
unchanged.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kitekit.clock import IST, Clock, clock_of
from kitekit.engine import Engine, EngineConfig, InstrumentSpec, MarketQuote
from kitekit.errors import (
    PAPER_REFUSAL_NOTE,
    IntentConflictError,
    OrderStateError,
    RejectionError,
    UnknownInstrumentError,
)
from kitekit.orders.gateway import Instruments, QuoteAtHand
from kitekit.orders.journal import derive_tag
from kitekit.orders.ledger import PaperLedger
from kitekit.orders.live import new_intent_id
from kitekit.orders.model import Charges, Order, OrderChange, OrderRequest, Placement, Trade
from kitekit.orders.portfolio import Funds, Gtt, GttRequest, Holding, Positions
from kitekit.orders.quotes import QuoteSource
from kitekit.orders.rules import PreTradeRules
from kitekit.orders.validator import Validator, day_of
from kitekit.wire.envelope import ErrorType, exception_class

if TYPE_CHECKING:
    from kiteconnect.exceptions import KiteException

__all__ = ["PaperBroker"]

T = TypeVar("T")


def _refusal(error_type: ErrorType, message: str, status: int) -> KiteException:
    """Return the SDK exception Kite would raise for this refusal, noted as the paper broker's own."""
    exc = exception_class(error_type)(message, code=status)
    exc.add_note(PAPER_REFUSAL_NOTE)
    return exc


class PaperBroker:
    """Orders filled locally by :class:`kitekit.engine.Engine`, priced by ``quotes``, kept in a ledger.

    Args:
        quotes: where prices come from: the ``KiteConnect`` from ``get_kite()`` (real quotes through the
            pacer), the simulator's client, or a :class:`~kitekit.orders.quotes.RecordedQuotes`.
        instruments: the instrument store (validation, and the engine's instrument specs).
        folder: where the ledger lives (``ledger-<account>.json``).
        account: the paper account's name.
        clock: the time the engine runs at (market hours, fills, expiries).
        rules: the pre-trade rules.
        funds: a new account's equity funds, in rupees.
        refresh: seconds a fetched quote stays fresh before the next call fetches it again.
        engine_config: the engine's settings (its ``user_id`` is replaced by ``account``, and its equity funds
            by ``funds``, for a new ledger).
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
    ) -> None:
        if folder is None:
            from kitekit.config import data_dir

            folder = data_dir() / "paper"
        self.source = quotes
        self.clock = clock or clock_of(quotes)
        self.account = account
        self.instruments = instruments
        self.validator = Validator(instruments.instrument, rules, day_of(self.clock.now))
        self.refresh = refresh
        self.ledger = PaperLedger(folder, account)
        base = engine_config or EngineConfig()
        self.config = EngineConfig(**{**base.__dict__, "user_id": account, "equity_funds": funds})
        self._engine: Engine | None = None
        self._intents: dict[str, dict[str, Any]] = {}
        self._fetched: dict[int, datetime] = {}
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
        """Hold the ledger's lock, reload it if another process changed it, and save it after a change."""
        with self.ledger.lock:
            if self._engine is None or self.ledger.changed():
                data = self.ledger.load()
                if data is None:
                    self._engine = Engine(self._resolve, self.clock.now(), self.config)
                    self._intents = {}
                else:
                    self._engine = Engine.from_state(data["engine"], self._resolve, self.config)
                    self._intents = dict(data.get("intents", {}))
                if data is None:
                    self._save()
            try:
                yield self._engine
            finally:
                # Saved even when the call was refused: the quotes it fed may have filled resting orders.
                if mutates:
                    self._save()

    def _save(self) -> None:
        assert self._engine is not None  # noqa: S101 - saved only once loaded
        self.ledger.save({"account": self.account, "engine": self._engine.to_state(), "intents": self._intents})

    def _run(self, action: Callable[[Engine, datetime], T], keys: tuple[str, ...] = (), mutates: bool = True) -> T:
        """Run an engine route at the clock's time, after feeding it fresh quotes; raise refusals as Kite would."""
        with self._session(mutates) as engine:
            now = self.clock.now()
            self._feed(engine, now, keys)
            try:
                return action(engine, now)
            except RejectionError as exc:
                raise _refusal(exc.error_type, exc.message, exc.status) from exc

    def _feed(self, engine: Engine, now: datetime, keys: tuple[str, ...] = ()) -> dict[str, Mapping[str, Any]]:
        """Fetch and push quotes of the watched instruments (and ``keys``) not fetched within ``refresh``.

        Route: the source's ``quote()`` (``GET /quote``), one call for all of them.
        """
        due = [str(t) for t in engine.watched_tokens() if not self._fresh(t, now)]
        wanted = list(dict.fromkeys([*due, *keys]))
        if not wanted:
            return {}
        answer = {str(k): v for k, v in self.source.quote(*wanted).items()}
        quotes = []
        for item in answer.values():
            quote = MarketQuote.from_kite(item)
            self._fetched[quote.instrument_token] = now
            quotes.append(quote)
        engine.on_quotes(quotes, now)
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

        Route: the quote source's ``quote()`` for the instrument (circuit limits, the fill).

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
            fetched = self._feed(engine, now, (request.key,))
            checked = self.validator.check(request, quote if quote is not None else fetched.get(request.key))
            params = checked.to_kite(tag)
            key = f"{day.isoformat()}/{intent_id}"
            known = self._intents.get(key)
            if known is not None:
                return self._replay(intent_id, known, params)
            if any(k.startswith(f"{day.isoformat()}/") and v["tag"] == tag for k, v in self._intents.items()):
                raise IntentConflictError(f"tag {tag!r} already belongs to another intent today; give another")
            try:
                order_id = str(engine.place_order(checked.variety, params, now)["order_id"])
            except RejectionError as exc:
                self._intents[key] = {"tag": tag, "request": params, "error_type": str(exc.error_type),
                                      "status": exc.status, "message": exc.message}  # fmt: skip
                raise _refusal(exc.error_type, exc.message, exc.status) from exc
            self._intents[key] = {"tag": tag, "request": params, "order_id": order_id}
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
        variety = str(order.variety)
        self._run(lambda e, now: e.modify_order(variety, order_id, change.to_kite(), now), (order.key,))
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
        return int(self._run(lambda e, now: e.place_gtt(request.form(), now), (key,))["trigger_id"])

    def modify_gtt(self, trigger_id: int, request: GttRequest) -> int:
        """Change an active paper GTT trigger; return its id."""
        return int(self._run(lambda e, now: e.modify_gtt(trigger_id, request.form(), now))["trigger_id"])

    def delete_gtt(self, trigger_id: int) -> int:
        """Delete a paper GTT trigger; return its id."""
        return int(self._run(lambda e, now: e.delete_gtt(trigger_id, now))["trigger_id"])

    # -- the account --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Return the engine's whole state (``Engine.to_state``), e.g. to compare two runs."""
        with self._session(mutates=False) as engine:
            return engine.to_state()
