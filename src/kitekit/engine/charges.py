"""Charges of an executed order in Kite's charges block (``docs/protocol.md`` §11), from the rates in :mod:`.rates`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from kitekit.engine import rates
from kitekit.engine.spec import InstrumentSpec, asset_class_of
from kitekit.wire.orders import Product

__all__ = ["DELIVERY_PRODUCTS", "add_charges", "charges_total", "order_charges", "zero_charges"]

#: Products whose equity trades are delivery (the rest are intraday).
DELIVERY_PRODUCTS = frozenset({Product.CNC, Product.MTF})
_MTF = Product.MTF  # read at every fill: bound once, not looked up on its enum


@dataclass(frozen=True, slots=True)
class _Schedule:
    """The rates one kind of order pays: brokerage, transaction tax, exchange charge, stamp duty."""

    brokerage_pct: float | None
    brokerage_flat: float
    tax_rate: float
    tax_both_sides: bool
    tax_name: str
    exchange: float
    stamp: float


@lru_cache(maxsize=256)
def _schedule(exchange: str, option: bool, delivery: bool, mtf: bool, on: date) -> _Schedule:
    # Keyed by plain values (the asset class follows from exchange and option): an order is charged at every
    # fill, and looking four tables up by enum keys each time was a good part of what a fill cost.
    asset = asset_class_of(exchange, option)
    pct, flat = rates.brokerage_rate(asset, delivery, mtf=mtf)
    tax_rate, both_sides, tax_name = rates.transaction_tax(asset, delivery, on)
    exchange_rate, stamp = rates.exchange_rate(asset, exchange), rates.stamp_rate(asset, delivery)
    return _Schedule(pct, flat, tax_rate, both_sides, tax_name, exchange_rate, stamp)


def _of(spec: InstrumentSpec, product: Product, on: date) -> _Schedule:
    return _schedule(spec.exchange, spec.is_option, product in DELIVERY_PRODUCTS, product is _MTF, on)


def order_charges(
    spec: InstrumentSpec, product: Product, is_buy: bool, quantity: int, price: float, on: date
) -> dict[str, Any]:
    """Return the charges of one executed order of ``quantity`` at average ``price`` on day ``on``.

    Brokerage is per executed order (its ₹20 ceiling applies to the whole order, however many fills).
    """
    rate = _of(spec, product, on)
    turnover = quantity * price * spec.multiplier
    brokerage, tax, exchange, sebi, stamp, gst = _parts(rate, is_buy, turnover)
    return {
        "transaction_tax": tax,
        "transaction_tax_type": rate.tax_name,
        "exchange_turnover_charge": exchange,
        "sebi_turnover_charge": sebi,
        "brokerage": brokerage,
        "stamp_duty": stamp,
        # Kite reports inter-state GST for API users; CGST/SGST stay zero.
        "gst": {"igst": gst, "cgst": 0.0, "sgst": 0.0, "total": gst},
        "total": brokerage + tax + exchange + sebi + stamp + gst,
    }


def charges_total(spec: InstrumentSpec, product: Product, is_buy: bool, quantity: int, price: float, on: date) -> float:
    """Return the ``total`` of :func:`order_charges` alone (what a fill debits), without building the block."""
    turnover = quantity * price * spec.multiplier
    brokerage, tax, exchange, sebi, stamp, gst = _parts(_of(spec, product, on), is_buy, turnover)
    return brokerage + tax + exchange + sebi + stamp + gst


def _parts(rate: _Schedule, is_buy: bool, turnover: float) -> tuple[float, float, float, float, float, float]:
    """Return (brokerage, transaction tax, exchange charge, SEBI fee, stamp duty, GST) on ``turnover``."""
    pct, flat = rate.brokerage_pct, rate.brokerage_flat
    brokerage = 0.0 if turnover <= 0 else (flat if pct is None else min(turnover * pct, flat))
    tax = turnover * rate.tax_rate if (rate.tax_both_sides or not is_buy) else 0.0
    exchange = turnover * rate.exchange
    sebi = turnover * rates.SEBI_FEE
    stamp = turnover * rate.stamp if is_buy else 0.0
    gst = (brokerage + exchange + sebi) * rates.GST
    return brokerage, tax, exchange, sebi, stamp, gst


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
