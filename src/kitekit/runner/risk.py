"""A run's risk limits, in one place, checked on every order in every mode; and the states a loss moves it through.

The strategy never holds the broker: its ``self.orders`` is the run's gateway, which asks :class:`RiskGuard`
before anything reaches the broker, so no code path of the strategy skips a limit. The limits:

- the largest position per instrument and in total, in quantity and in value (an order that only reduces a
  position always passes);
- the largest value of one order, the most orders a day, and Kite's order rate (10 a second);
- the largest daily loss, on realised plus marked-to-market P&L less charges: past ``reduce_at`` (when set) the
  run may only reduce positions; past ``max_daily_loss`` it cancels its orders, flattens and halts for the day;
- a square-off time for intraday (MIS) positions, before the broker's own (15:20 for equity and F&O).

States (persisted with the run, so a restart the same day keeps them)::

    ACTIVE ──loss past reduce_at──▶ REDUCING ──loss past max_daily_loss──▶ HALTED (flattened, for the day)
       └──────────────── kill switch ───────────────────────────────────▶ KILLED (until cleared)
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

from kitekit.errors import RiskLimitError

__all__ = ["ExposureView", "RiskGuard", "RiskLimits", "RiskState", "parse_limits"]

#: Exchanges whose MIS positions the run squares off at ``squareoff_at`` (currency and commodity close later).
SQUAREOFF_EXCHANGES = frozenset({"NSE", "BSE", "NFO", "BFO"})


class RiskState(StrEnum):
    """Where a run stands with its limits."""

    ACTIVE = "active"
    REDUCING = "reducing"  # only orders that reduce a position pass
    HALTED = "halted"  # the day's loss limit was crossed: flattened, no new orders until the next day
    KILLED = "killed"  # the kill switch: no new orders until cleared


@dataclass(frozen=True)
class RiskLimits:
    """A run's limits; None switches one off. Amounts are rupees, quantities shares or contracts (not lots).

    Attributes:
        max_position_quantity: the largest absolute position in one instrument.
        max_position_value: the largest value held in one instrument (quantity × price).
        max_total_quantity: the largest absolute quantity over every instrument.
        max_total_value: the largest gross value over every instrument.
        max_order_value: the largest value of one order (MARKET orders valued at the last price).
        max_orders_per_day: the most orders the run places a day (a runaway loop stops here).
        order_rate: orders (placements and modifications) a second; Kite allows 10.
        max_daily_loss: the day's loss (realised plus marked-to-market, less charges) that halts the run.
        reduce_at: the day's loss from which only reducing orders pass (default: none before the halt).
        squareoff_at: when the run closes its intraday positions (IST), before the broker's 15:20.
    """

    max_position_quantity: int | None = None
    max_position_value: float | None = None
    max_total_quantity: int | None = None
    max_total_value: float | None = None
    max_order_value: float | None = None
    max_orders_per_day: int | None = 2000
    order_rate: float | None = 10.0
    max_daily_loss: float | None = None
    reduce_at: float | None = None
    squareoff_at: time | None = time(15, 10)

    def to_json(self) -> dict[str, Any]:
        """Return the limits as JSON-able values."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat(timespec="minutes") if isinstance(value, time) else value
        return out


def parse_limits(values: Mapping[str, Any], base: RiskLimits | None = None) -> RiskLimits:
    """Return ``base`` (the defaults when None) with ``values`` applied; text is converted (``"none"`` switches off).

    Raises:
        ValueError: an unknown limit, or a value of the wrong kind.
    """
    base = base or RiskLimits()
    kinds = {f.name: f for f in fields(RiskLimits)}
    changes: dict[str, Any] = {}
    for name, raw in values.items():
        key = name.replace("-", "_")
        if key not in kinds:
            raise ValueError(f"unknown risk limit {name!r}; the limits are: {', '.join(sorted(kinds))}")
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "off", "")):
            changes[key] = None
            continue
        try:
            if key == "squareoff_at":
                changes[key] = raw if isinstance(raw, time) else time.fromisoformat(str(raw).strip())
            elif key in ("max_position_quantity", "max_total_quantity", "max_orders_per_day"):
                changes[key] = int(raw)
            else:
                changes[key] = float(raw)
        except ValueError:
            raise ValueError(f"risk limit {name}={raw!r} is not a valid value") from None
        if key != "squareoff_at" and changes[key] < 0:
            raise ValueError(f"risk limit {name}={raw!r} must not be negative")
    return RiskLimits(**{**{f: getattr(base, f) for f in kinds}, **changes})


@dataclass(frozen=True)
class ExposureView:
    """What the guard needs to know of the run at an order: positions and open orders per instrument."""

    #: Signed quantity held per instrument key.
    positions: Mapping[str, int]
    #: Last price known per instrument key (for values).
    prices: Mapping[str, float]
    #: Signed quantities still pending in the run's open orders, per instrument key: (buys, sells).
    pending: Mapping[str, tuple[int, int]]


class RiskGuard:
    """Checks every order against :class:`RiskLimits` and keeps the run's risk state and daily counters."""

    def __init__(self, limits: RiskLimits | None = None) -> None:
        self.limits = limits or RiskLimits()
        self.state = RiskState.ACTIVE
        self.reason = ""
        self.day: str = ""
        self.orders_today = 0
        self._recent: collections.deque[datetime] = collections.deque()

    # -- days and state -----------------------------------------------------------------------------
    def new_day(self, day: str) -> None:
        """Start the counters of ``day`` (``yyyy-mm-dd``); a halt ends with its day, a kill does not."""
        self.day = day
        self.orders_today = 0
        self._recent.clear()
        if self.state in (RiskState.HALTED, RiskState.REDUCING):
            self.state, self.reason = RiskState.ACTIVE, ""

    def on_loss(self, day_pnl: float) -> RiskState | None:
        """Take the day's P&L; return the state it moved the run to (REDUCING or HALTED), None if unchanged."""
        limits = self.limits
        if self.state in (RiskState.HALTED, RiskState.KILLED):
            return None
        loss = -day_pnl
        if limits.max_daily_loss is not None and loss >= limits.max_daily_loss:
            self.state = RiskState.HALTED
            self.reason = f"the day's loss ₹{loss:,.2f} reached max_daily_loss ₹{limits.max_daily_loss:,.2f}"
            return self.state
        if self.state is RiskState.ACTIVE and limits.reduce_at is not None and loss >= limits.reduce_at:
            self.state = RiskState.REDUCING
            self.reason = f"the day's loss ₹{loss:,.2f} reached reduce_at ₹{limits.reduce_at:,.2f}"
            return self.state
        return None

    def kill(self, reason: str) -> None:
        """Stop every new order until the kill is cleared."""
        self.state, self.reason = RiskState.KILLED, reason

    # -- orders -------------------------------------------------------------------------------------
    def check_order(
        self, key: str, is_buy: bool, quantity: int, price: float, now: datetime, view: ExposureView
    ) -> None:
        """Refuse a new order that breaks a limit (the order counts against the rate and the day once it passes).

        Raises:
            RiskLimitError: the limit it breaks, named.
        """
        limits = self.limits
        signed = quantity if is_buy else -quantity
        held = view.positions.get(key, 0)
        buys, sells = view.pending.get(key, (0, 0))
        worst = held + (buys if is_buy else -sells) + signed
        reduces = held != 0 and (signed > 0) != (held > 0) and (worst == 0 or (worst > 0) == (held > 0))
        self._check_state(reduces, key)
        value = abs(quantity) * price
        if limits.max_order_value is not None and value > limits.max_order_value + 1e-9:
            raise RiskLimitError(
                "max_order_value",
                f"the order's value ₹{value:,.2f} ({quantity} × {price:,.2f}) is above max_order_value "
                f"₹{limits.max_order_value:,.2f}",
            )
        if not reduces:
            self._check_position(key, worst, held, price, view)
        self._check_pace(now)
        self.orders_today += 1
        self._recent.append(now)

    def check_change(self, key: str, is_buy: bool, added: int, price: float, now: datetime, view: ExposureView) -> None:
        """Refuse a modification that breaks a limit: ``added`` more quantity at ``price``.

        Raises:
            RiskLimitError: the limit it breaks, named.
        """
        if self.state in (RiskState.HALTED, RiskState.KILLED):
            raise RiskLimitError(str(self.state), f"the run is {self.state}: {self.reason}")
        if added > 0:
            held = view.positions.get(key, 0)
            buys, sells = view.pending.get(key, (0, 0))
            worst = held + (buys + added if is_buy else -(sells + added))
            if self.state is RiskState.REDUCING and abs(worst) > abs(held):
                raise RiskLimitError("reducing_only", f"the run may only reduce positions: {self.reason}")
            self._check_position(key, worst, held, price, view)
        self._check_rate(now)
        self._recent.append(now)

    def _check_state(self, reduces: bool, key: str) -> None:
        if self.state in (RiskState.HALTED, RiskState.KILLED):
            raise RiskLimitError(str(self.state), f"the run is {self.state}: {self.reason}; no new orders")
        if self.state is RiskState.REDUCING and not reduces:
            raise RiskLimitError(
                "reducing_only", f"the run may only reduce positions ({self.reason}); this order on {key} would not"
            )

    def _check_position(self, key: str, worst: int, held: int, price: float, view: ExposureView) -> None:
        limits = self.limits
        if abs(worst) <= abs(held):
            return
        if limits.max_position_quantity is not None and abs(worst) > limits.max_position_quantity:
            raise RiskLimitError(
                "max_position_quantity",
                f"{key} would reach {abs(worst):,} (with the run's open orders), above max_position_quantity "
                f"{limits.max_position_quantity:,}",
            )
        if limits.max_position_value is not None and abs(worst) * price > limits.max_position_value + 1e-9:
            raise RiskLimitError(
                "max_position_value",
                f"{key} would reach ₹{abs(worst) * price:,.2f}, above max_position_value "
                f"₹{limits.max_position_value:,.2f}",
            )
        if limits.max_total_quantity is None and limits.max_total_value is None:
            return
        others = [(k, q) for k, q in _worst_positions(view) if k != key]
        total_quantity = abs(worst) + sum(abs(q) for _, q in others)
        if limits.max_total_quantity is not None and total_quantity > limits.max_total_quantity:
            raise RiskLimitError(
                "max_total_quantity",
                f"the run would hold {total_quantity:,} in all, above max_total_quantity {limits.max_total_quantity:,}",
            )
        total_value = abs(worst) * price + sum(abs(q) * view.prices.get(k, 0.0) for k, q in others)
        if limits.max_total_value is not None and total_value > limits.max_total_value + 1e-9:
            raise RiskLimitError(
                "max_total_value",
                f"the run would hold ₹{total_value:,.2f} in all, above max_total_value ₹{limits.max_total_value:,.2f}",
            )

    def _check_pace(self, now: datetime) -> None:
        limits = self.limits
        if limits.max_orders_per_day is not None and self.orders_today >= limits.max_orders_per_day:
            raise RiskLimitError(
                "max_orders_per_day",
                f"the run placed {self.orders_today:,} orders today, max_orders_per_day {limits.max_orders_per_day:,}",
            )
        self._check_rate(now)

    def _check_rate(self, now: datetime) -> None:
        rate = self.limits.order_rate
        if rate is None:
            return
        recent = self._recent
        since = now - timedelta(seconds=1)
        while recent and recent[0] <= since:
            recent.popleft()
        if len(recent) >= rate:
            raise RiskLimitError(
                "order_rate", f"{len(recent)} orders in the last second: order_rate allows {rate:g} a second"
            )

    # -- state --------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Return the state and counters (the limits themselves come from the run's settings)."""
        return {"state": str(self.state), "reason": self.reason, "day": self.day, "orders_today": self.orders_today}

    def load(self, data: Mapping[str, Any]) -> None:
        """Restore what :meth:`to_json` wrote."""
        self.state = RiskState(str(data.get("state", "active")))
        self.reason = str(data.get("reason", ""))
        self.day = str(data.get("day", ""))
        self.orders_today = int(data.get("orders_today", 0))


def _worst_positions(view: ExposureView) -> Iterable[tuple[str, int]]:
    """Return each instrument's position with its open orders that would grow it, whichever side is worse."""
    keys = set(view.positions) | set(view.pending)
    for key in keys:
        held = view.positions.get(key, 0)
        buys, sells = view.pending.get(key, (0, 0))
        up, down = held + buys, held - sells
        yield key, up if abs(up) >= abs(down) else down
