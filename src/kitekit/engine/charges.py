"""Charges of an executed order in Kite's charges block (``docs/protocol.md`` §11), from the rates in :mod:`.rates`."""

from __future__ import annotations

from datetime import date
from typing import Any

from kitekit.engine import rates
from kitekit.engine.spec import InstrumentSpec
from kitekit.wire.orders import Product

__all__ = ["DELIVERY_PRODUCTS", "add_charges", "order_charges", "zero_charges"]

#: Products whose equity trades are delivery (the rest are intraday).
DELIVERY_PRODUCTS = frozenset({Product.CNC, Product.MTF})


def order_charges(
    spec: InstrumentSpec, product: Product, is_buy: bool, quantity: int, price: float, on: date
) -> dict[str, Any]:
    """Return the charges of one executed order of ``quantity`` at average ``price`` on day ``on``.

    Brokerage is per executed order (its ₹20 ceiling applies to the whole order, however many fills).
    """
    turnover = quantity * price * spec.multiplier
    asset = spec.asset_class
    delivery = product in DELIVERY_PRODUCTS
    pct, flat = rates.brokerage_rate(asset, delivery, mtf=product is Product.MTF)
    brokerage = 0.0 if turnover <= 0 else (flat if pct is None else min(turnover * pct, flat))
    tax_rate, both_sides, tax_name = rates.transaction_tax(asset, delivery, on)
    tax = turnover * tax_rate if (both_sides or not is_buy) else 0.0
    exchange = turnover * rates.exchange_rate(asset, spec.exchange)
    sebi = turnover * rates.SEBI_FEE
    stamp = turnover * rates.stamp_rate(asset, delivery) if is_buy else 0.0
    gst = (brokerage + exchange + sebi) * rates.GST
    return {
        "transaction_tax": tax,
        "transaction_tax_type": tax_name,
        "exchange_turnover_charge": exchange,
        "sebi_turnover_charge": sebi,
        "brokerage": brokerage,
        "stamp_duty": stamp,
        # Kite reports inter-state GST for API users; CGST/SGST stay zero.
        "gst": {"igst": gst, "cgst": 0.0, "sgst": 0.0, "total": gst},
        "total": brokerage + tax + exchange + sebi + stamp + gst,
    }


def zero_charges() -> dict[str, Any]:
    """Return a charges block of zeros (Kite's ``initial``/``final`` basket blocks carry one)."""
    return {
        "transaction_tax": 0.0,
        "transaction_tax_type": "",
        "exchange_turnover_charge": 0.0,
        "sebi_turnover_charge": 0.0,
        "brokerage": 0.0,
        "stamp_duty": 0.0,
        "gst": {"igst": 0.0, "cgst": 0.0, "sgst": 0.0, "total": 0.0},
        "total": 0.0,
    }


def add_charges(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Return the field-by-field sum of two charges blocks (a basket's charges)."""
    out = dict(total)
    for key in ("transaction_tax", "exchange_turnover_charge", "sebi_turnover_charge", "brokerage", "stamp_duty"):
        out[key] = total[key] + more[key]
    out["gst"] = {k: total["gst"][k] + more["gst"][k] for k in ("igst", "cgst", "sgst", "total")}
    out["total"] = total["total"] + more["total"]
    if not out["transaction_tax_type"]:
        out["transaction_tax_type"] = more["transaction_tax_type"]
    return out
