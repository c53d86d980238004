"""Field lists of Kite responses (``docs/protocol.md`` §3, §5-§7) and a key-for-key, type-for-type shape checker."""

from __future__ import annotations

from typing import Any

NUM = (int, float)
STR_OR_NONE = (str, type(None))

SESSION = {
    "user_id": str,
    "user_type": str,
    "email": str,
    "user_name": str,
    "user_shortname": str,
    "broker": str,
    "exchanges": list,
    "products": list,
    "order_types": list,
    "avatar_url": STR_OR_NONE,
    "api_key": str,
    "access_token": str,
    "public_token": str,
    "enctoken": str,
    "refresh_token": str,
    "silo": str,
    "login_time": str,
    "meta": {"demat_consent": str},
}
PROFILE = {
    "user_id": str,
    "user_type": str,
    "email": str,
    "user_name": str,
    "user_shortname": str,
    "broker": str,
    "exchanges": list,
    "products": list,
    "order_types": list,
    "avatar_url": STR_OR_NONE,
    "meta": {"demat_consent": str},
}
MARGIN_SEGMENT = {
    "enabled": bool,
    "net": NUM,
    "available": dict.fromkeys(
        ("adhoc_margin", "cash", "opening_balance", "live_balance", "collateral", "intraday_payin"), NUM
    ),
    "utilised": dict.fromkeys(
        (
            "debits",
            "exposure",
            "m2m_realised",
            "m2m_unrealised",
            "option_premium",
            "payout",
            "span",
            "holding_sales",
            "turnover",
            "liquid_collateral",
            "stock_collateral",
            "delivery",
        ),
        NUM,
    ),
}
OHLC = {"open": NUM, "high": NUM, "low": NUM, "close": NUM}
LTP = {"instrument_token": int, "last_price": NUM}
OHLC_ITEM = {"instrument_token": int, "last_price": NUM, "ohlc": OHLC}
DEPTH_LEVEL = {"price": NUM, "quantity": int, "orders": int}
QUOTE = {
    "instrument_token": int,
    "timestamp": str,
    "last_trade_time": str,
    "last_price": NUM,
    "last_quantity": int,
    "buy_quantity": int,
    "sell_quantity": int,
    "volume": int,
    "average_price": NUM,
    "oi": NUM,
    "oi_day_high": NUM,
    "oi_day_low": NUM,
    "net_change": NUM,
    "lower_circuit_limit": NUM,
    "upper_circuit_limit": NUM,
    "ohlc": OHLC,
    "depth": {"buy": [DEPTH_LEVEL] * 5, "sell": [DEPTH_LEVEL] * 5},
}


def assert_shape(value: Any, shape: Any, where: str = "$") -> None:
    """Assert ``value`` has exactly the keys of ``shape`` with values of the given types, recursively."""
    if isinstance(shape, dict):
        assert isinstance(value, dict), f"{where}: expected an object, got {type(value).__name__}"
        assert set(value) == set(shape), (
            f"{where}: keys differ: extra {set(value) - set(shape)}, missing {set(shape) - set(value)}"
        )
        for key, sub in shape.items():
            assert_shape(value[key], sub, f"{where}.{key}")
    elif isinstance(shape, list):
        assert isinstance(value, list) and len(value) == len(shape), f"{where}: expected {len(shape)} items"
        for i, (item, sub) in enumerate(zip(value, shape, strict=True)):
            assert_shape(item, sub, f"{where}[{i}]")
    else:
        # bool is an int in Python; a boolean where a number belongs is still a shape error.
        ok = isinstance(value, shape) and not (isinstance(value, bool) and shape in (int, NUM))
        assert ok, f"{where}: expected {shape}, got {type(value).__name__} {value!r}"
