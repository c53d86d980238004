"""Orders and trades as the engine keeps them, their Kite wire shapes (docs/protocol.md §8.2, §8.6), and their ids.

An order goes through half a dozen states in a millisecond and Kite shows the full order object at each one
(``GET /orders/{id}``, the update stream). Building those dicts as the states pass was most of what an order
cost, so each state is kept as a :data:`Snapshot` (a tuple of the fields that can change) and becomes Kite's
dict only when something reads it: :class:`StateLog`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, overload

from kitekit.clock import IST
from kitekit.wire.formats import format_timestamp
from kitekit.wire.orders import OrderStatus, OrderType, Product, TransactionType, Validity, Variety

__all__ = ["TERMINAL_ID", "Ids", "Order", "Snapshot", "StateLog", "Trade", "guid_of", "json_number", "round6"]

#: What the simulator puts in an order's ``terminal_id`` (unconfirmed: Kite's value for API orders is not public).
TERMINAL_ID = "API"

#: The fields of an order that change over its life, as one state found them (see :meth:`Order.snapshot`).
Snapshot = tuple[Any, ...]

# Members bound once: reading ``OrderType.SL`` off an enum class costs as much as a dict lookup, every time.
_TERMINAL = frozenset({OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.LAPSED})
_STOPS = frozenset({OrderType.SL, OrderType.SL_M})
_BUY = TransactionType.BUY
_TTL_TEXT = Validity.TTL.value
# The guid's multiplier (odd, so one-to-one modulo 2**40) and the 40 bits it shows.
_GUID_ODD, _GUID_MASK = 0x9E3779B97F4A7C15, (1 << 40) - 1


@dataclass(slots=True)
class Ids:
    """Deterministic id sequences of one account; ``seed`` keeps accounts of one simulator apart."""

    seed: int = 0
    orders: int = 0
    trades: int = 0
    exchange: int = 0
    gtts: int = 0

    def order_id(self, now: datetime) -> str:
        """Return the next order id: ``yymmdd`` + 4 seed digits + 9-digit sequence (Kite's 19-digit form)."""
        self.orders += 1
        global _last_prefix  # one tuple swapped whole: threads never see half of one
        last = _last_prefix
        # Orders placed at one moment (a burst, a backtest's bar) share its prefix: known by identity, the
        # moment is not even hashed (hashing an aware datetime asks it for its offset).
        if last[0] is not now or last[1] != self.seed:
            last = _last_prefix = (now, self.seed, _prefix(now, self.seed))
        # Zero-padded by zfill here and below: the same text as the format spec ``09d`` (never negative), at
        # half its cost or less; ids are made for every order and fill.
        return last[2] + str(self.orders).zfill(9)

    def exchange_order_id(self) -> str:
        """Return the next exchange order id (16 digits, as NSE's)."""
        self.exchange += 1
        return "1" + str(self.seed % 1000).zfill(3) + str(self.exchange).zfill(12)

    def trade_id(self) -> str:
        """Return the next trade id (8 digits or more)."""
        self.trades += 1
        return str(self.seed % 100).zfill(2) + str(self.trades).zfill(6)

    def gtt_id(self) -> int:
        """Return the next GTT trigger id (an integer on the wire)."""
        self.gtts += 1
        return (self.seed % 1000 + 1) * 1_000_000 + self.gtts

    def guid(self, order_id: str) -> str:
        """Return a stable ``guid`` for an order (Kite's look like ``78288X5zHhm5FGkv``), distinct for every
        order id of the account.

        Kite's guid is opaque, so any stable value unique per order will do: the order's sequence number
        (the id's last 9 digits, never reused by an account) times an odd number modulo 2**40 is a one-to-one
        map of it, shown as 10 hex digits after 5 digits mixed from the seed. A sha256 of the id served before
        at several times the cost, and was unique only by chance.
        """
        return guid_of(self.seed, order_id)


def guid_of(seed: int, order_id: str) -> str:
    """Return :meth:`Ids.guid` of ``order_id`` for the account of ``seed``."""
    tail = order_id[-9:]
    # An id not of Ids.order_id's making (none today) still gets a stable guid, unique by chance only.
    number = int(tail) if tail.isdigit() else zlib.crc32(order_id.encode()) + 10**9
    mixed = number * _GUID_ODD
    return f"{((mixed >> 40) + seed * 7919) % 100000:05d}X{(mixed ^ seed) & _GUID_MASK:010x}"


@dataclass(slots=True)
class Order:
    """One order: its spec, its fills, its state and every state it has been in (``history``).

    Who placed it, its ids, variety, instrument, side, tags and meta are fixed when it is made; the history
    reads them once, then, for every state (:meth:`snapshot` holds the rest).
    """

    order_id: str
    variety: Variety
    exchange: str
    tradingsymbol: str
    instrument_token: int
    transaction_type: TransactionType
    order_type: OrderType
    product: Product
    validity: Validity
    quantity: int
    price: float
    trigger_price: float
    placed_at: datetime
    validity_ttl: int | None = None
    disclosed_quantity: int = 0
    market_protection: float = 0.0
    tag: str | None = None
    tags: tuple[str, ...] = ()
    status: OrderStatus = OrderStatus.PUT_ORDER_REQ_RECEIVED
    status_message: str | None = None
    status_message_raw: str | None = None
    exchange_order_id: str | None = None
    exchange_timestamp: datetime | None = None
    exchange_update_timestamp: datetime | None = None
    parent_order_id: str | None = None
    auction_number: str | None = None
    filled_quantity: int = 0
    average_price: float = 0.0
    cancelled_quantity: int = 0
    modified: bool = False
    modifications: int = 0
    guid: str = ""
    placed_by: str = ""
    #: The account the order is for (the user's own, for orders placed through the API).
    account_id: str = ""
    #: The exchange-approved algorithm's id the order was placed with (``algo_id``), if any.
    algo_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Engine side, never on the wire: the protected market order's worst price, whether a stop has fired,
    # the TTL deadline, margin still blocked for the pending quantity, and charges debited so far.
    cap_price: float = 0.0
    triggered: bool = False
    expires_at: datetime | None = None
    blocked: float = 0.0
    charged: float = 0.0
    #: Every state the order has been in, oldest first, each read as Kite's full order object (a
    #: :class:`StateLog` over the order's own states: see the note after the class). Given Kite's dicts when
    #: loaded from a saved state.
    history: Sequence[dict[str, Any]] = ()
    #: The account's set of changed order ids (derived, never saved), told of every change: see :meth:`touch`.
    _changed: set[str] | None = field(default=None, repr=False, compare=False)
    # The states behind ``history``, oldest first: built dicts, then snapshots, or a status's text alone standing
    # for the snapshot before it with that status (:meth:`pass_to`). A tuple of plain values, kept by the order
    # itself: the collector stops tracking it at its first pass, where a StateLog and a list of each order's
    # own stayed on its books for good, walked at every full pass. Set by ``history`` (first in __init__).
    _states: tuple[dict[str, Any] | Snapshot | str, ...] = field(init=False, repr=False, compare=False)
    # What never changes after an order is made (:meth:`identity`), once something read a state.
    _fixed: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)
    # ``guid`` as given or made (set by ``guid``, first in __init__); and for a new order the account's seed
    # its guid is made from when first read (see the note after the class): None for one given its guid.
    _guid: str = field(init=False, repr=False, compare=False)
    _guid_seed: int | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        # A copy or a pickle takes every slot but the two that properties stand in front of (history, guid,
        # see the notes after the class): their values are in _states and _guid, which must be set first.
        return {name: getattr(self, name) for name in _KEPT_SLOTS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def identity(self) -> tuple[Any, ...]:
        """Return what never changes after an order is made, for every state the history builds.

        Built when a state is first read, then kept (a backtest's orders are seldom read as Kite's dicts).
        """
        fixed = self._fixed
        if fixed is None:
            fixed = self._fixed = self._identity()
        return fixed

    def _identity(self) -> tuple[Any, ...]:
        # Plain values only (meta None unless set): the collector then stops tracking the tuple.
        return (
            self.placed_by,
            self.order_id,
            self.parent_order_id,
            self.variety._value_,
            self.exchange,
            self.tradingsymbol,
            self.instrument_token,
            self.transaction_type._value_,
            self.meta or None,  # any dict, even an empty one, keeps a tuple on the collector's books
            self.tag,
            self.guid,
            self.auction_number,
            tuple(self.tags),
            self.account_id or self.placed_by,
            self.algo_id,
        )

    def retag(self, tags: Sequence[str]) -> None:
        """Replace the order's tags (the one field fixed at making that may change: a protected market order
        booked at the first quote it meets says so in its tags). The states recorded before keep theirs."""
        StateLog(self).build_all()  # states already recorded are read with the tags they had
        self.tags = tuple(tags)
        self._fixed = None
        self.touch()

    def report_changes_to(self, changed: set[str] | None) -> None:
        """Tell ``changed`` this order's id whenever it changes (the account's incremental writes read it)."""
        self._changed = changed

    def touch(self) -> None:
        """Note that the order changed. Every change goes through a new state or a fill, but for one: a
        protected market order's band (``cap_price``), set from the first quote it meets."""
        if self._changed is not None:
            self._changed.add(self.order_id)

    @property
    def is_buy(self) -> bool:
        """Return True for a BUY."""
        return self.transaction_type is _BUY

    @property
    def pending_quantity(self) -> int:
        """Return what is still to fill; 0 once the order is terminal (as Kite reports it)."""
        if self.status in _TERMINAL:
            return 0
        return self.quantity - self.filled_quantity - self.cancelled_quantity

    @property
    def is_stop(self) -> bool:
        """Return True for SL and SL-M orders, which wait for their trigger."""
        return self.order_type in _STOPS

    def enter(self, status: OrderStatus, now: datetime, message: str | None = None) -> Snapshot:
        """Move to ``status`` at ``now``, record the order as it stands in the history, and return that state."""
        self.status = status
        if message is not None:
            self.status_message = message
        if self.exchange_order_id is not None:
            self.exchange_update_timestamp = now
        snap = self.snapshot()
        self._states += (snap,)
        if self._changed is not None:  # touch(), inlined: every state of every order passes here
            self._changed.add(self.order_id)
        return snap

    def pass_to(self, status: OrderStatus) -> None:
        """Move on to a transient ``status`` at the moment of the last state, nothing of the order changed since
        (a new order: request received, validation pending, open pending).

        The history notes the status alone and reads it as the last state with this status: three states an
        order passes in one call cost one snapshot. ``status`` must not be terminal (a snapshot's pending
        quantity depends on that); the state is not queued as an update (transient states never are).
        """
        self.status = status
        self._states += (status._value_,)
        if self._changed is not None:
            self._changed.add(self.order_id)

    def add_fill(self, price: float, quantity: int) -> None:
        """Fold one fill into ``filled_quantity`` and ``average_price``."""
        total = self.average_price * self.filled_quantity + price * quantity
        self.filled_quantity += quantity
        self.average_price = round6(total / self.filled_quantity)
        if self._changed is not None:  # touch(), inlined: every fill passes here
            self._changed.add(self.order_id)

    def snapshot(self) -> Snapshot:
        """Return the fields that can change over the order's life, as they are now (see :meth:`kite_of`).

        Enums are kept as their wire text: a tuple of plain values leaves the garbage collector's books at its
        first pass, and an order leaves half a dozen of them behind.
        """
        status = self.status
        return (
            status._value_,
            self.status_message,
            self.status_message_raw,
            self.exchange_order_id,
            self.placed_at,
            self.exchange_update_timestamp,
            self.exchange_timestamp,
            self.modified,
            self.order_type._value_,
            self.validity._value_,
            self.product._value_,
            self.quantity,
            self.disclosed_quantity,
            self.price,
            self.trigger_price,
            self.average_price,
            self.filled_quantity,
            0 if status in _TERMINAL else self.quantity - self.filled_quantity - self.cancelled_quantity,
            self.cancelled_quantity,
            self.market_protection,
            self.validity_ttl,
        )

    def as_kite(self, status: OrderStatus | None = None) -> dict[str, Any]:
        """Return the order object in Kite's shape (optionally reporting another status, e.g. UPDATE)."""
        return _kite(self.identity(), self.snapshot(), None if status is None else status._value_)

    def kite_of(self, snap: Snapshot, status: OrderStatus | None = None) -> dict[str, Any]:
        """Return the order object in Kite's shape as it was when ``snap`` was taken."""
        return _kite(self.identity(), snap, None if status is None else status._value_)


def _kite(identity: tuple[Any, ...], snap: Snapshot, status: str | None = None) -> dict[str, Any]:
    """Return Kite's order object from what an order was made with and one of its snapshots (reporting the
    status ``status``, if given, instead of the snapshot's)."""
    (
        placed_by,
        order_id,
        parent_order_id,
        variety,
        exchange,
        tradingsymbol,
        instrument_token,
        transaction_type,
        meta,
        tag,
        guid,
        auction_number,
        tags,
        account_id,
        algo_id,
    ) = identity
    (
        current,
        status_message,
        status_message_raw,
        exchange_order_id,
        placed_at,
        update_stamp,
        exchange_stamp,
        modified,
        order_type,
        validity,
        product,
        quantity,
        disclosed_quantity,
        price,
        trigger_price,
        average_price,
        filled_quantity,
        pending_quantity,
        cancelled_quantity,
        market_protection,
        validity_ttl,
    ) = snap
    out: dict[str, Any] = {
        "account_id": account_id,
        "placed_by": placed_by,
        "order_id": order_id,
        "exchange_order_id": exchange_order_id,
        "parent_order_id": parent_order_id,
        "status": current if status is None else status,
        "status_message": status_message,
        "status_message_raw": status_message_raw,
        "order_timestamp": _stamp(placed_at),
        "exchange_update_timestamp": _maybe_stamp(update_stamp),
        "exchange_timestamp": _maybe_stamp(exchange_stamp),
        "variety": variety,
        "modified": modified,
        "exchange": exchange,
        "tradingsymbol": tradingsymbol,
        "instrument_token": instrument_token,
        "order_type": order_type,
        "transaction_type": transaction_type,
        "validity": validity,
        "product": product,
        "quantity": quantity,
        "disclosed_quantity": disclosed_quantity,
        # SL-M and MARKET orders report price 0 (``docs/protocol.md`` §8.2).
        # Prices are numbers as Kite's JSON writes them: a whole one without a fraction (``72``, ``0``), as in
        # kiteconnect-mocks' ``orders.json``.
        "price": json_number(price),
        "trigger_price": json_number(trigger_price),
        "average_price": json_number(average_price),
        "filled_quantity": filled_quantity,
        "pending_quantity": pending_quantity,
        "cancelled_quantity": cancelled_quantity,
        "market_protection": json_number(market_protection),
        "meta": dict(meta) if meta else {},
        "tag": tag,
        "guid": guid,
        # SIM: Kite's 2026 order book carries these two; what they hold for API orders is not public.
        "terminal_id": TERMINAL_ID,
        "meta_raw": json.dumps(meta, separators=(",", ":")) if meta else "",
    }
    if validity == _TTL_TEXT:
        out["validity_ttl"] = validity_ttl
    if auction_number is not None:
        out["auction_number"] = auction_number
    if tags:
        out["tags"] = list(tags)
    if algo_id is not None:
        out["algo_id"] = algo_id
    return out


class StateLog(Sequence[dict[str, Any]]):
    """An order's history: one entry per state, each read as Kite's full order object.

    A view of the states the order keeps (:attr:`Order.history` makes one at each read): they are kept as
    snapshots and all turned into dicts at the first read after a new state (then kept as dicts); a saved
    history comes back as the dicts it was saved as. Reading gives the same dicts the history always held.
    """

    __slots__ = ("_order",)

    def __init__(self, order: Order) -> None:
        self._order = order

    def build_all(self) -> None:
        """Turn every state still kept as a snapshot into its dict now (before the identity changes)."""
        self._built()

    def _built(self) -> tuple[dict[str, Any], ...]:
        order = self._order
        states = order._states
        # Built states come first: the history needs building only if its last state is not built yet.
        if states and type(states[-1]) is not dict:
            states = order._states = _build(states, order.identity())
        return states  # type: ignore[return-value]

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return list(self._built()[index])
        return self._built()[index]

    def __len__(self) -> int:
        return len(self._order._states)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StateLog):
            return list(self) == list(other)
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StateLog({len(self)} states)"


def _build(states: Iterable[dict[str, Any] | Snapshot | str], identity: tuple[Any, ...]) -> tuple[dict[str, Any], ...]:
    """Return an order's states as Kite's dicts: those built already as they are, the rest from their snapshot."""
    built: list[dict[str, Any]] = []
    snap: Snapshot | None = None
    for entry in states:
        if type(entry) is dict:
            built.append(entry)
        elif type(entry) is tuple:
            snap = entry
            built.append(_kite(identity, entry))
        elif snap is not None:
            built.append(_kite(identity, snap, entry))  # type: ignore[arg-type] # a status's text alone
        else:  # a status alone after a state built before it came (pass_to has no caller that allows it)
            before = built[-1]
            again = {**before, "status": entry, "meta": dict(before["meta"])}
            if "tags" in again:
                again["tags"] = list(again["tags"])
            built.append(again)
    return tuple(built)


def _history(order: Order) -> StateLog:
    return StateLog(order)


def _keep_history(order: Order, states: Iterable[dict[str, Any]]) -> None:
    # A new order's states start empty (the field's default); a loaded one's are the dicts it was saved with.
    order._states = tuple(states)


def _read_guid(order: Order) -> str:
    guid = order._guid
    if not guid and order._guid_seed is not None:
        guid = order._guid = guid_of(order._guid_seed, order.order_id)
    return guid


def _keep_guid(order: Order, guid: str) -> None:
    order._guid = guid


# ``Order.guid`` of a new order is made when first read (by its states as Kite's dicts, a saved state): a
# backtest's orders are seldom read, and making it cost as much as any other step of an order's making.
# The text is Ids.guid's of its id all the same (tests/test_engine_orders.py). As for ``history`` below, the
# field's slot is replaced by a property.
Order.guid = property(_read_guid, _keep_guid)  # type: ignore[assignment, misc]


# ``Order.history`` reads the order's own states through a view made at each read, and setting it (the
# dataclass's __init__, a saved state's load) sets them: a slotted dataclass cannot declare a property for one
# of its fields, so the field's slot is replaced by one here. The field stays (the saved state writes and reads
# it as before); an order no longer makes a StateLog and a list of its own.
Order.history = property(_history, _keep_history)  # type: ignore[assignment, misc]
# The slots a copy or a pickle of an order takes (Order.__getstate__).
_KEPT_SLOTS = tuple(name for name in Order.__slots__ if name not in ("history", "guid"))


@dataclass(slots=True)
class Trade:
    """One fill of an order against one depth level."""

    trade_id: str
    order_id: str
    exchange_order_id: str
    exchange: str
    tradingsymbol: str
    instrument_token: int
    product: Product
    transaction_type: TransactionType
    quantity: int
    average_price: float
    fill_timestamp: datetime
    order_timestamp: datetime

    def as_kite(self) -> dict[str, Any]:
        """Return the trade in Kite's shape; ``order_timestamp`` is a bare ``HH:MM:SS`` (``docs/protocol.md`` §8.6)."""
        return {
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "product": self.product._value_,
            "transaction_type": self.transaction_type._value_,
            "quantity": self.quantity,
            "average_price": json_number(self.average_price),
            "fill_timestamp": _stamp(self.fill_timestamp),
            "exchange_timestamp": _stamp(self.fill_timestamp),
            "order_timestamp": self.order_timestamp.astimezone(IST).strftime("%H:%M:%S"),
        }


# Below this, a float's ulp is at most 0.5: an integer-valued float within it is the exact rounding of any real
# that rounds to it.
_EXACT_BELOW = 2.0**52


def round6(value: float) -> float:
    """Return ``round(value, 6)``, exactly, without its decimal conversion when ``value`` has 6 decimals or fewer.

    When ``value * 1e6`` comes out a whole number N below 2**52, the exact ``value × 10**6`` lay within half an
    ulp (at most 0.25) of N, so N is its rounding to a whole number, and ``N / 1e6`` (N and 1e6 exact, the
    quotient correctly rounded) is the float nearest ``N / 10**6``: what ``round(value, 6)`` returns. Any other
    value goes to ``round`` itself. A fill's average price is rounded at every fill, and ``round`` with digits
    costs five times this.
    """
    scaled = value * 1e6
    if scaled.is_integer() and -_EXACT_BELOW < scaled < _EXACT_BELOW:
        return scaled / 1e6
    return round(value, 6)


def json_number(value: float) -> float | int:
    """Return a price as Kite's JSON writes it: a whole number as an integer (``0``, ``72``), else as it is."""
    return int(value) if float(value).is_integer() else value


@lru_cache(maxsize=1024)
def _stamp(moment: datetime) -> str:
    # Every state of a burst of orders carries the same few moments: format each once.
    return format_timestamp(moment)


def _maybe_stamp(moment: datetime | None) -> str | None:
    return None if moment is None else _stamp(moment)


# The last (moment, seed, prefix) Ids.order_id formatted.
_last_prefix: tuple[datetime | None, int, str] = (None, 0, "")


@lru_cache(maxsize=64)
def _prefix(now: datetime, seed: int) -> str:
    # Orders placed at one moment share it (a burst, a backtest's bar): the date is formatted once.
    return f"{now.astimezone(IST):%y%m%d}{seed % 10_000:04d}"
