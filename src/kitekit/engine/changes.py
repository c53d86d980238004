"""An account's state in increments: what changed since it was last written, and folding changes into a state.

A store that writes :meth:`Engine.to_state` whole after every call pays for the whole day's orders on each one.
:class:`ChangeTracker` says instead what changed since the last write, at a cost that does not grow with the
day: orders that are new or changed (every change of an order is noted as it happens: ``Order.touch``); trades
appended since; quotes, their arrival times and instrument specs replaced since; and every other book whole
(positions, holdings, funds, GTTs: one entry per instrument, not per order). :func:`apply_changes` folds such
changes into a state, so ``to_state()`` then the changes of every later call give ``to_state()`` again.

A change is JSON-able::

    {"set": {field: value}, "orders": {order_id: order}, "trades": [trade, ...], "keyed": {field: {key: value}}}

``set`` replaces fields whole (a new session's empty order book is one), ``orders`` and ``keyed`` replace
entries, ``trades`` appends.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from itertools import islice
from typing import Any

from kitekit.engine import codec
from kitekit.engine.account import Account

__all__ = ["ChangeTracker", "apply_changes"]

#: Fields whose values are replaced, never changed in place: an entry is new when it is another, unequal value
#: (an instrument's spec is looked up again on every order, and is equal to the last one).
_KEYED = ("quotes", "quoted_at", "specs")
#: Fields kept apart: orders by id, trades appended.
_APART = ("orders", "trades", *_KEYED)


class ChangeTracker:
    """Remembers what an account looked like when last written, to tell what changed since."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self._orders: dict[str, Any] = {}
        self._order_count = 0
        self._trades: list[Any] = []
        self._trade_count = 0
        self._keyed: dict[str, dict[Any, Any]] = {}
        self.mark()

    def mark(self) -> None:
        """Take the account as it is now as written (after a whole dump, or a change returned)."""
        acct = self.account
        self._orders, self._order_count = acct.orders, len(acct.orders)
        acct.take_changed()
        self._trades, self._trade_count = acct.trades, len(acct.trades)
        self._keyed = {name: dict(getattr(acct, name)) for name in _KEYED}

    def changes(self) -> dict[str, Any]:
        """Return what changed since :meth:`mark` (or the last call) as JSON-able values, and mark."""
        acct = self.account
        out: dict[str, Any] = {"set": {}}
        for f in dataclasses.fields(acct):
            if not f.name.startswith("_") and f.name not in _APART:
                out["set"][f.name] = codec.dump(getattr(acct, f.name))
        if acct.orders is not self._orders:  # a new session starts a new book
            out["set"]["orders"] = codec.dump(acct.orders)
        else:
            ids = set(islice(acct.orders, self._order_count, None))  # new orders come last (insertion order)
            ids.update(i for i in acct.take_changed() if i in acct.orders)
            out["orders"] = {i: codec.dump(acct.orders[i]) for i in ids}
        if acct.trades is not self._trades or len(acct.trades) < self._trade_count:
            out["set"]["trades"] = codec.dump(acct.trades)
        else:
            out["trades"] = codec.dump(acct.trades[self._trade_count :])
        keyed: dict[str, Any] = {}
        for name in _KEYED:
            now, before = getattr(acct, name), self._keyed[name]
            if any(k not in now for k in before):
                out["set"][name] = codec.dump(now)
                continue
            fresh = {k: v for k, v in now.items() if (old := before.get(k)) is not v and old != v}
            if fresh:
                keyed[name] = codec.dump(fresh)
        out["keyed"] = keyed
        self.mark()
        return out


def apply_changes(state: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Fold ``changes`` (from :meth:`ChangeTracker.changes`) into ``state`` (from ``Engine.to_state``), in place.

    Returns:
        ``state``, changed.
    """
    account: dict[str, Any] = state["account"]
    for name, value in changes.get("set", {}).items():
        account[name] = copy.deepcopy(value) if isinstance(value, dict | list) else value
    orders = changes.get("orders")
    if orders:
        account["orders"].update(orders)
    trades = changes.get("trades")
    if trades:
        account["trades"].extend(trades)
    for name, entries in changes.get("keyed", {}).items():
        account[name].update(entries)
    return state
