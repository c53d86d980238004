"""Margin an order or a basket needs (``docs/protocol.md`` §11 margin blocks), from the rates in :mod:`.rates`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kitekit.engine import rates
from kitekit.engine.charges import zero_charges
from kitekit.engine.spec import AssetClass, InstrumentSpec
from kitekit.wire.orders import Product

__all__ = ["CO_MIN_MARGIN", "BasketLine", "Margin", "basket_margin", "closable", "margin_for", "margin_total"]

#: SIM: a cover order blocks the loss up to its stop, but at least this share of the order value.
CO_MIN_MARGIN = 0.10


@dataclass(frozen=True, slots=True)
class Margin:
    """The parts of a margin requirement as Kite names them (``var`` is the cash market's VaR + ELM)."""

    span: float = 0.0
    exposure: float = 0.0
    option_premium: float = 0.0
    var: float = 0.0
    leverage: float = 1.0

    @property
    def total(self) -> float:
        """Return the whole requirement."""
        return self.span + self.exposure + self.option_premium + self.var

    def __add__(self, other: Margin) -> Margin:
        return Margin(
            self.span + other.span,
            self.exposure + other.exposure,
            self.option_premium + other.option_premium,
            self.var + other.var,
            self.leverage,
        )

    def block(self, spec: InstrumentSpec | None, charges: dict[str, Any] | None = None) -> dict[str, Any]:
        """Return Kite's margin block; identity fields are ``""`` without a spec (basket totals)."""
        return {
            "type": spec.funds_segment if spec else "",
            "tradingsymbol": spec.tradingsymbol if spec else "",
            "exchange": spec.exchange if spec else "",
            "span": self.span,
            "exposure": self.exposure,
            "option_premium": self.option_premium,
            "additional": 0.0,
            "bo": 0.0,
            "cash": 0.0,
            "var": self.var,
            "pnl": {"realised": 0.0, "unrealised": 0.0},
            "leverage": self.leverage if spec else 0.0,
            "charges": charges if charges is not None else zero_charges(),
            "total": self.total,
        }


def margin_for(
    spec: InstrumentSpec,
    product: Product,
    is_buy: bool,
    quantity: int,
    price: float,
    trigger_price: float = 0.0,
) -> Margin:
    """Return the margin that opening ``quantity`` at ``price`` needs.

    ``product`` CO means a cover order, whose margin is the loss up to its stop at ``trigger_price``.
    """
    return Margin(*_need(spec, product, is_buy, quantity, price, trigger_price))


def margin_total(
    spec: InstrumentSpec,
    product: Product,
    is_buy: bool,
    quantity: int,
    price: float,
    trigger_price: float = 0.0,
) -> float:
    """Return ``margin_for(...).total`` without building the :class:`Margin` (every order's RMS check asks)."""
    span, exposure, premium, var, _ = _need(spec, product, is_buy, quantity, price, trigger_price)
    return span + exposure + premium + var


_NONE = (0.0, 0.0, 0.0, 0.0, 1.0)
_CO, _CNC, _MTF = Product.CO, Product.CNC, Product.MTF
_EQUITY = AssetClass.EQUITY


def _need(
    spec: InstrumentSpec, product: Product, is_buy: bool, quantity: int, price: float, trigger_price: float
) -> tuple[float, float, float, float, float]:
    """Return (span, exposure, option premium, var, leverage) of :func:`margin_for`."""
    if quantity <= 0 or price <= 0:
        return _NONE
    value = quantity * price * spec.multiplier
    if product is _CO:
        risk = abs(price - trigger_price) * quantity * spec.multiplier if trigger_price > 0 else value
        need = max(risk, value * CO_MIN_MARGIN)
        return (0.0, 0.0, 0.0, need, value / need)
    asset = spec.asset_class
    if asset is _EQUITY:
        if product is _CNC:
            # Delivery needs the full value to buy; a sell is covered by the holding it sells.
            return (0.0, 0.0, 0.0, value, 1.0) if is_buy else _NONE
        if product is _MTF:
            return (0.0, 0.0, 0.0, value * rates.MTF_MARGIN, 1 / rates.MTF_MARGIN) if is_buy else _NONE
        return (0.0, 0.0, 0.0, value * rates.MIS_MARGIN, 1 / rates.MIS_MARGIN)
    if spec.is_option and is_buy:
        return (0.0, 0.0, value, 0.0, 1.0)
    # Futures and short options: SPAN + exposure on the notional (a short option's strike stands in for the
    # underlying's price, which the engine is not given).
    notional = quantity * (spec.strike if spec.is_option and spec.strike > 0 else price) * spec.multiplier
    span, exposure = rates.futures_margin(asset, spec.is_index_underlying)
    return (notional * span, notional * exposure, 0.0, 0.0, 1.0)


def closable(position: int, pending_same_side: int, is_buy: bool) -> int:
    """Return how much of a new order closes an existing position instead of opening exposure.

    Args:
        position: the signed open quantity of the instrument and product.
        pending_same_side: quantity of live orders on the new order's side that would close it first.
        is_buy: the new order's side.
    """
    open_against = -position if is_buy else position
    return max(0, open_against - pending_same_side)


@dataclass(frozen=True, slots=True)
class BasketLine:
    """One order of a basket, ready to price: its instrument, product, side, size and reference price."""

    spec: InstrumentSpec
    product: Product
    is_buy: bool
    quantity: int
    price: float
    trigger_price: float = 0.0


def basket_margin(lines: Iterable[BasketLine], positions: dict[tuple[int, str], int] | None) -> tuple[Margin, Margin]:
    """Return (initial, final) margin of a basket.

    ``initial`` adds each order's margin alone. ``final`` nets the basket per instrument and product (and,
    given ``positions``, against those open positions, counting only the margin the basket adds). The engine
    models no SPAN offsets across instruments.
    """
    items = list(lines)
    initial = Margin()
    net: dict[tuple[int, str], int] = {}
    ref: dict[tuple[int, str], BasketLine] = {}
    for line in items:
        initial = initial + margin_for(
            line.spec, line.product, line.is_buy, line.quantity, line.price, line.trigger_price
        )
        key = (line.spec.instrument_token, str(line.product))
        net[key] = net.get(key, 0) + (line.quantity if line.is_buy else -line.quantity)
        ref[key] = line
    final = Margin()
    for key, qty in net.items():
        line = ref[key]
        before = positions.get(key, 0) if positions is not None else 0
        after = before + qty
        need = _side_margin(line, after)
        had = _side_margin(line, before)
        final = final + Margin(
            max(0.0, need.span - had.span),
            max(0.0, need.exposure - had.exposure),
            max(0.0, need.option_premium - had.option_premium),
            max(0.0, need.var - had.var),
        )
    return initial, final


def _side_margin(line: BasketLine, signed: int) -> Margin:
    return margin_for(line.spec, line.product, signed > 0, abs(signed), line.price, line.trigger_price)
