"""Rupee amounts as Indians write them (₹12,34,567.50) and P&L coloured by its sign, for the CLI's tables."""

from __future__ import annotations

import math

from rich.text import Text

__all__ = ["group_indian", "inr", "pnl", "status_style"]


def group_indian(whole: int) -> str:
    """Return a non-negative whole number with Indian digit grouping: the last three digits, then pairs."""
    digits = str(whole)
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    pairs: list[str] = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([head, *pairs, tail])


def inr(amount: float, decimals: int = 2, sign: bool = False) -> str:
    """Return ``amount`` in rupees with Indian grouping: ``₹12,34,567.50``, ``-₹1,234.00`` (``+₹…`` with ``sign``)."""
    if not math.isfinite(amount):
        return "—"
    rounded = round(abs(amount), decimals)
    whole = int(rounded)
    fraction = f"{rounded - whole:.{decimals}f}"[1:] if decimals else ""
    prefix = "-" if amount < 0 and rounded else ("+" if sign and rounded else "")
    return f"{prefix}₹{group_indian(whole)}{fraction}"


def pnl(amount: float) -> Text:
    """Return a P&L amount in rupees, green when positive, red when negative, plain when zero."""
    style = "green" if amount > 0.005 else "red" if amount < -0.005 else ""
    return Text(inr(amount, sign=True), style=style)


def status_style(status: str) -> str:
    """Return the colour an order status is shown in."""
    if status == "COMPLETE":
        return "green"
    if status in ("REJECTED", "CANCELLED", "LAPSED"):
        return "red" if status == "REJECTED" else "dim"
    return "yellow"
