"""Ticks as the codec takes and gives them: :class:`Tick` objects and :class:`TickColumns` arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from kitekit.errors import TickValueError
from kitekit.wire.ticks.layout import (
    _DEPTH,
    _DEPTH_FIELDS,
    _INDICES,
    _KIND_NAMES,
    _KIND_VALUES,
    _NAT,
    _WORDS,
    INT_FIELDS,
    PRICE_FIELDS,
    TIME_FIELDS,
    Mode,
    PacketKind,
    packet_kind,
)

# -- typed input ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepthLevel:
    """One level of market depth: quantity, price and number of orders."""

    quantity: int = 0
    price: float = 0.0
    orders: int = 0


@dataclass(frozen=True, slots=True)
class Tick:
    """One tick to encode, named as the SDK's tick dict names its keys (``ohlc`` flattened).

    The packet kind follows from ``mode`` and the token (see :func:`packet_kind`); fields the kind does not
    carry are ignored. Timestamps must be timezone-aware; a kind that carries one needs it given. Missing
    depth levels are sent as empty levels (zeros).
    """

    instrument_token: int
    last_price: float
    mode: Mode = Mode.QUOTE
    last_traded_quantity: int = 0
    average_traded_price: float = 0.0
    volume_traded: int = 0
    total_buy_quantity: int = 0
    total_sell_quantity: int = 0
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    last_trade_time: datetime | None = None
    oi: int = 0
    oi_day_high: int = 0
    oi_day_low: int = 0
    exchange_timestamp: datetime | None = None
    depth_buy: Sequence[DepthLevel] = ()
    depth_sell: Sequence[DepthLevel] = ()

    @property
    def kind(self) -> PacketKind:
        """Return the packet kind this tick is sent as."""
        return packet_kind(self.instrument_token, self.mode)


# -- columnar form --------------------------------------------------------------------------------------------------

_IntArray = npt.NDArray[np.int64]
_FloatArray = npt.NDArray[np.float64]
_TimeArray = npt.NDArray[np.datetime64]


@dataclass(frozen=True, slots=True, eq=False)  # == on arrays has no single truth value
class TickColumns:
    """Ticks as one numpy array per field, one entry per packet, in frame order.

    It is what :func:`decode_columns` returns and what :func:`encode_columns` takes. Fields a packet's kind
    does not carry hold NaN (prices), NaT (times) or 0 (quantities); :meth:`carries` gives the mask.
    Prices are divided by the segment divisor; times are UTC seconds (``datetime64[s]``); ``change`` is the
    SDK's percentage ``(last_price - close) * 100 / close`` (0 when close is 0). Depth arrays have 5 columns,
    best level first. Build one for encoding with :meth:`new`; ``tradable`` and ``change`` are derived and
    ignored by the encoder.
    """

    kind: npt.NDArray[np.uint16]
    instrument_token: _IntArray
    tradable: npt.NDArray[np.bool_]
    last_price: _FloatArray
    last_traded_quantity: _IntArray
    average_traded_price: _FloatArray
    volume_traded: _IntArray
    total_buy_quantity: _IntArray
    total_sell_quantity: _IntArray
    open: _FloatArray
    high: _FloatArray
    low: _FloatArray
    close: _FloatArray
    change: _FloatArray
    last_trade_time: _TimeArray
    oi: _IntArray
    oi_day_high: _IntArray
    oi_day_low: _IntArray
    exchange_timestamp: _TimeArray
    depth_buy_quantity: _IntArray
    depth_buy_price: _FloatArray
    depth_buy_orders: _IntArray
    depth_sell_quantity: _IntArray
    depth_sell_price: _FloatArray
    depth_sell_orders: _IntArray

    def __len__(self) -> int:
        return len(self.kind)

    @property
    def mode(self) -> npt.NDArray[np.str_]:
        """Return each packet's ``mode`` string (``ltp``, ``quote`` or ``full``)."""
        return _MODE_TABLE[self.kind]

    def carries(self, name: str) -> npt.NDArray[np.bool_]:
        """Return which packets carry field ``name`` (the others hold its absent value).

        Raises:
            KeyError: ``name`` is not a field of the packets.
        """
        if name not in _CARRIED_BY:
            raise KeyError(f"{name!r} is not a tick field; fields: {', '.join(_CARRIED_BY)}")
        return np.isin(self.kind, _CARRIED_BY[name])

    @classmethod
    def new(
        cls,
        kind: npt.ArrayLike,
        instrument_token: npt.ArrayLike,
        *,
        last_price: npt.ArrayLike | None = None,
        last_traded_quantity: npt.ArrayLike | None = None,
        average_traded_price: npt.ArrayLike | None = None,
        volume_traded: npt.ArrayLike | None = None,
        total_buy_quantity: npt.ArrayLike | None = None,
        total_sell_quantity: npt.ArrayLike | None = None,
        open: npt.ArrayLike | None = None,
        high: npt.ArrayLike | None = None,
        low: npt.ArrayLike | None = None,
        close: npt.ArrayLike | None = None,
        last_trade_time: npt.ArrayLike | None = None,
        oi: npt.ArrayLike | None = None,
        oi_day_high: npt.ArrayLike | None = None,
        oi_day_low: npt.ArrayLike | None = None,
        exchange_timestamp: npt.ArrayLike | None = None,
        depth_buy_quantity: npt.ArrayLike | None = None,
        depth_buy_price: npt.ArrayLike | None = None,
        depth_buy_orders: npt.ArrayLike | None = None,
        depth_sell_quantity: npt.ArrayLike | None = None,
        depth_sell_price: npt.ArrayLike | None = None,
        depth_sell_orders: npt.ArrayLike | None = None,
    ) -> TickColumns:
        """Return columns for encoding; a scalar is repeated for every row, an omitted field is absent.

        Args:
            kind: each row's :class:`PacketKind` (or one for all); see :func:`packet_kinds`.
            instrument_token: one token per row; its length sets the number of rows.
            last_price: prices in rupees (floats on the segment's price grid).
            last_traded_quantity: quantities: non-negative integers.
            average_traded_price: price.
            volume_traded: quantity.
            total_buy_quantity: quantity.
            total_sell_quantity: quantity.
            open: price.
            high: price.
            low: price.
            close: price.
            last_trade_time: ``datetime64`` (UTC; floored to the second) or integer epoch seconds.
            oi: quantity.
            oi_day_high: quantity.
            oi_day_low: quantity.
            exchange_timestamp: like ``last_trade_time``.
            depth_buy_quantity: shape (rows, 5), best bid first.
            depth_buy_price: shape (rows, 5).
            depth_buy_orders: shape (rows, 5); at most 65,535.
            depth_sell_quantity: shape (rows, 5), best ask first.
            depth_sell_price: shape (rows, 5).
            depth_sell_orders: shape (rows, 5).

        Raises:
            TickValueError: a column has the wrong shape or type (integers for quantities, numbers for
                prices, datetimes or integers for times), or a kind is no packet kind.
        """
        tokens = _int_column("instrument_token", instrument_token, None)
        n = len(tokens)
        kinds = _int_column("kind", kind, n)
        unknown = ~np.isin(kinds, _KIND_VALUES)
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            raise TickValueError(f"kind {int(kinds[row])} of row {row} is no packet kind ({_KIND_NAMES})", "kind", row)
        values = {
            "last_price": last_price,
            "average_traded_price": average_traded_price,
            "open": open,
            "high": high,
            "low": low,
            "close": close,
        }
        prices = {name: _float_column(name, value, (n,)) for name, value in values.items()}
        ints = {
            "last_traded_quantity": last_traded_quantity,
            "volume_traded": volume_traded,
            "total_buy_quantity": total_buy_quantity,
            "total_sell_quantity": total_sell_quantity,
            "oi": oi,
            "oi_day_high": oi_day_high,
            "oi_day_low": oi_day_low,
        }
        depth_ints = {
            "depth_buy_quantity": depth_buy_quantity,
            "depth_buy_orders": depth_buy_orders,
            "depth_sell_quantity": depth_sell_quantity,
            "depth_sell_orders": depth_sell_orders,
        }
        depth_prices = {"depth_buy_price": depth_buy_price, "depth_sell_price": depth_sell_price}
        times = {"last_trade_time": last_trade_time, "exchange_timestamp": exchange_timestamp}
        columns: dict[str, Any] = {
            "kind": kinds.astype(np.uint16),
            "instrument_token": tokens,
            **prices,
            **{name: _int_column(name, value, n) for name, value in ints.items()},
            **{name: _int_column(name, value, n, depth=True) for name, value in depth_ints.items()},
            **{name: _float_column(name, value, (n, _DEPTH)) for name, value in depth_prices.items()},
            **{name: _time_column(name, value, n) for name, value in times.items()},
        }
        columns["tradable"] = (tokens & 0xFF) != _INDICES
        columns["change"] = _change(prices["last_price"], prices["close"])
        return cls(**columns)


_MODE_TABLE = np.array([""] * (max(_KIND_VALUES) + 1), dtype="<U5")
for _kind in PacketKind:
    _MODE_TABLE[_kind] = _kind.mode.value
_CARRIED_BY: dict[str, list[int]] = {
    name: [int(k) for k in PacketKind if name in _WORDS[k]]
    for name in ("instrument_token", *PRICE_FIELDS, *INT_FIELDS, *TIME_FIELDS)
}
_CARRIED_BY["tradable"] = _CARRIED_BY["instrument_token"]
_CARRIED_BY["change"] = _CARRIED_BY["close"]
_CARRIED_BY.update({name: [int(PacketKind.FULL)] for name in _DEPTH_FIELDS})


def _column(name: str, value: npt.ArrayLike, shape: tuple[int, ...] | None) -> npt.NDArray[Any]:
    array = np.asarray(value)
    if shape is None:
        if array.ndim != 1:
            raise TickValueError(f"{name} must be one-dimensional, not shape {array.shape}", name)
        return array
    if array.ndim == 0:
        return np.broadcast_to(array, shape)
    if array.shape != shape:
        raise TickValueError(f"{name} has shape {array.shape}; expected {shape}", name)
    return array


def _int_column(name: str, value: npt.ArrayLike | None, n: int | None, depth: bool = False) -> _IntArray:
    shape = None if n is None else ((n, _DEPTH) if depth else (n,))
    if value is None:
        return np.zeros(shape or (0,), dtype=np.int64)
    array = _column(name, value, shape)
    if array.dtype.kind not in "iu" and array.size:  # an empty list is float64 to numpy
        raise TickValueError(f"{name} must hold integers, not {array.dtype}", name)
    if array.dtype == np.uint64 and array.size and int(array.max()) > np.iinfo(np.int64).max:
        raise TickValueError(f"{name} holds {int(array.max())}, past what any wire field can carry", name)
    return np.ascontiguousarray(array, dtype=np.int64)


def _float_column(name: str, value: npt.ArrayLike | None, shape: tuple[int, ...]) -> _FloatArray:
    if value is None:
        return np.full(shape, np.nan)
    array = _column(name, value, shape)
    if array.dtype.kind not in "iuf":
        raise TickValueError(f"{name} must hold numbers, not {array.dtype}", name)
    return np.ascontiguousarray(array, dtype=np.float64)


def _time_column(name: str, value: npt.ArrayLike | None, n: int) -> _TimeArray:
    if value is None:
        return np.full(n, _NAT)
    array = _column(name, value, (n,))
    if array.dtype.kind in "iu":
        return np.ascontiguousarray(array, dtype=np.int64).view("datetime64[s]")
    if array.dtype.kind != "M":
        raise TickValueError(f"{name} must hold datetime64 values or epoch seconds, not {array.dtype}", name)
    # The wire carries whole seconds; numpy floors finer units, which is what truncating a timestamp means.
    return np.ascontiguousarray(array.astype("datetime64[s]"))


def _change(last_price: _FloatArray, close: _FloatArray) -> _FloatArray:
    # Exactly the SDK's arithmetic, operation for operation, so the floats agree to the last bit.
    out = np.zeros(len(last_price))
    np.divide((last_price - close) * 100, close, out=out, where=close != 0)
    return out
