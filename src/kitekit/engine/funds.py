"""Cash and margin of one funds segment (equity or commodity) and its ``GET /user/margins`` shape (docs/protocol.md §5).

Cash moves only with realised P&L, charges and delivery settlement; margins are blocked, not spent, so the
balance available to trade is cash minus what open orders and positions block (and unrealised losses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kitekit.engine.margins import Margin

__all__ = ["Funds", "Utilised"]


@dataclass(frozen=True, slots=True)
class Utilised:
    """What is blocked in a segment right now, split the way ``utilised`` reports it."""

    span: float = 0.0
    exposure: float = 0.0
    option_premium: float = 0.0
    delivery: float = 0.0
    m2m_unrealised: float = 0.0

    @property
    def debits(self) -> float:
        """Return everything that reduces the balance available to trade (unrealised losses included)."""
        return self.span + self.exposure + self.option_premium + self.delivery + max(0.0, -self.m2m_unrealised)

    @classmethod
    def of(cls, cash_margin: Margin, intraday_margin: Margin, unrealised: float) -> Utilised:
        """Sum margins: ``cash_margin`` is delivery (CNC/MTF), ``intraday_margin`` everything else."""
        return cls(
            span=cash_margin.span + intraday_margin.span,
            exposure=cash_margin.exposure + intraday_margin.exposure + intraday_margin.var,
            option_premium=cash_margin.option_premium + intraday_margin.option_premium,
            delivery=cash_margin.var,
            m2m_unrealised=unrealised,
        )


@dataclass(slots=True)
class Funds:
    """One segment's ledger: the session's opening balance and what has moved since."""

    opening_balance: float
    cash: float
    realised: float = 0.0
    charges: float = 0.0
    blocked: float = 0.0  # margin blocked by open orders, kept as a running total for speed

    def credit_realised(self, amount: float) -> None:
        """Book realised P&L (a loss is negative)."""
        self.realised += amount
        self.cash += amount

    def debit_charges(self, amount: float) -> None:
        """Book charges of executed orders."""
        self.charges += amount
        self.cash -= amount

    def new_session(self) -> None:
        """Start a session: today's cash becomes the opening balance."""
        self.opening_balance = self.cash
        self.realised = 0.0
        self.charges = 0.0

    def available(self, positions_margin: float, unrealised: float) -> float:
        """Return what a new order may block: cash less blocked margins and unrealised losses."""
        return self.cash - self.blocked - positions_margin - max(0.0, -unrealised)

    def as_kite(self, used: Utilised) -> dict[str, Any]:
        """Return this segment in Kite's ``/user/margins`` shape."""
        live = self.cash - used.debits
        return {
            "enabled": True,
            "net": live,
            "available": {
                "adhoc_margin": 0.0,
                "cash": self.cash,
                "opening_balance": self.opening_balance,
                "live_balance": live,
                "collateral": 0.0,
                "intraday_payin": 0.0,
            },
            "utilised": {
                "debits": used.debits,
                "exposure": used.exposure,
                "m2m_realised": self.realised,
                "m2m_unrealised": used.m2m_unrealised,
                "option_premium": used.option_premium,
                "payout": 0.0,
                "span": used.span,
                "holding_sales": 0.0,
                "turnover": 0.0,
                "liquid_collateral": 0.0,
                "stock_collateral": 0.0,
                "delivery": used.delivery,
            },
        }
