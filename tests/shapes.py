"""Field lists of Kite responses (``docs/protocol.md`` §3, §5-§12) and a key-for-key, type-for-type shape checker."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

NUM = (int, float)
STR_OR_NONE = (str, type(None))
NONE = type(None)


@dataclass(frozen=True)
class Maybe:
    """A key only some objects carry (API.md's ``*`` fields), with the shape it has when present."""

    shape: Any


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
    """Assert ``value`` has exactly the keys of ``shape`` with values of the given types, recursively.

    A key whose shape is :class:`Maybe` may be absent; present, it must match.
    """
    if isinstance(shape, dict):
        assert isinstance(value, dict), f"{where}: expected an object, got {type(value).__name__}"
        required = {k for k, sub in shape.items() if not isinstance(sub, Maybe)}
        assert required <= set(value) <= set(shape), (
            f"{where}: keys differ: extra {set(value) - set(shape)}, missing {required - set(value)}"
        )
        for key, sub in shape.items():
            if key in value:
                assert_shape(value[key], sub.shape if isinstance(sub, Maybe) else sub, f"{where}.{key}")
    elif isinstance(shape, list):
        assert isinstance(value, list) and len(value) == len(shape), f"{where}: expected {len(shape)} items"
        for i, (item, sub) in enumerate(zip(value, shape, strict=True)):
            assert_shape(item, sub, f"{where}[{i}]")
    else:
        # bool is an int in Python; a boolean where a number belongs is still a shape error.
        ok = isinstance(value, shape) and not (isinstance(value, bool) and shape in (int, NUM))
        assert ok, f"{where}: expected {shape}, got {type(value).__name__} {value!r}"


# -- orders, trades, portfolio (§8, §9) ---------------------------------------------------------------
ORDER = {
    "account_id": str,
    "placed_by": str,
    "order_id": str,
    "exchange_order_id": STR_OR_NONE,
    "parent_order_id": STR_OR_NONE,
    "status": str,
    "status_message": STR_OR_NONE,
    "status_message_raw": STR_OR_NONE,
    "order_timestamp": str,
    "exchange_update_timestamp": STR_OR_NONE,
    "exchange_timestamp": STR_OR_NONE,
    "variety": str,
    "modified": bool,
    "exchange": str,
    "tradingsymbol": str,
    "instrument_token": int,
    "order_type": str,
    "transaction_type": str,
    "validity": str,
    "validity_ttl": Maybe(int),
    "product": str,
    "quantity": int,
    "disclosed_quantity": int,
    "price": NUM,
    "trigger_price": NUM,
    "auction_number": Maybe(str),
    "average_price": NUM,
    "filled_quantity": int,
    "pending_quantity": int,
    "cancelled_quantity": int,
    "market_protection": NUM,
    "meta": dict,
    "tag": STR_OR_NONE,
    "tags": Maybe(list),
    "guid": str,
    "terminal_id": str,
    "meta_raw": str,
    "algo_id": Maybe(str),
}
#: An order update as the WebSocket and postbacks carry it: the order and four postback fields (§15.8).
POSTBACK = {**ORDER, "user_id": str, "unfilled_quantity": int, "app_id": int, "checksum": str}
TRADE = {
    "trade_id": str,
    "order_id": str,
    "exchange_order_id": str,
    "exchange": str,
    "tradingsymbol": str,
    "instrument_token": int,
    "product": str,
    "transaction_type": str,
    "quantity": int,
    "average_price": NUM,
    "fill_timestamp": str,
    "exchange_timestamp": str,
    "order_timestamp": str,
}
POSITION = {
    "tradingsymbol": str,
    "exchange": str,
    "instrument_token": int,
    "product": str,
    "quantity": int,
    "overnight_quantity": int,
    **dict.fromkeys(("multiplier", "average_price", "close_price", "last_price", "value", "pnl", "m2m"), NUM),
    **dict.fromkeys(("unrealised", "realised", "buy_price", "buy_value", "buy_m2m"), NUM),
    **dict.fromkeys(("sell_price", "sell_value", "sell_m2m", "day_buy_price", "day_buy_value"), NUM),
    **dict.fromkeys(("day_sell_price", "day_sell_value"), NUM),
    **dict.fromkeys(("buy_quantity", "sell_quantity", "day_buy_quantity", "day_sell_quantity"), int),
}
HOLDING = {
    "tradingsymbol": str,
    "exchange": str,
    "instrument_token": int,
    "isin": str,
    "product": str,
    "price": NUM,
    **dict.fromkeys(("quantity", "used_quantity", "t1_quantity", "realised_quantity", "authorised_quantity"), int),
    "authorised_date": str,
    "authorisation": dict,
    **dict.fromkeys(("opening_quantity", "short_quantity", "collateral_quantity"), int),
    "collateral_type": str,
    "discrepancy": bool,
    **dict.fromkeys(("average_price", "last_price", "close_price", "pnl", "day_change", "day_change_percentage"), NUM),
    "mtf": {"quantity": int, "used_quantity": int, "average_price": NUM, "value": NUM, "initial_margin": NUM},
}
AUCTION = {**HOLDING, "auction_number": str}
TRIGGER_RANGE = {"instrument_token": int, "lower": NUM, "upper": NUM}

# -- GTT (§10) -------------------------------------------------------------------------------------------
GTT_RESULT = {
    "account_id": str,
    "exchange": str,
    "tradingsymbol": str,
    "validity": str,
    "product": str,
    "order_type": str,
    "transaction_type": str,
    "quantity": int,
    "price": NUM,
    "meta": str,
    "timestamp": str,
    "triggered_at": NUM,
    "order_result": {"status": str, "order_id": str, "rejection_reason": str},
}
GTT_ORDER = {
    "exchange": str,
    "tradingsymbol": str,
    "product": str,
    "order_type": str,
    "transaction_type": str,
    "quantity": int,
    "price": NUM,
    "result": (dict, NONE),  # null until the trigger fires, then GTT_RESULT
}
GTT = {
    "id": int,
    "user_id": str,
    "parent_trigger": NONE,
    "type": str,
    "created_at": str,
    "updated_at": str,
    "expires_at": str,
    "status": str,
    "condition": {
        "exchange": str,
        "tradingsymbol": str,
        "trigger_values": list,
        "last_price": NUM,
        "instrument_token": int,
    },
    "orders": list,
    "meta": dict,
}

# -- margins and charges (§11) ---------------------------------------------------------------------------
GST = {"igst": NUM, "cgst": NUM, "sgst": NUM, "total": NUM}
CHARGES = {
    "transaction_tax": NUM,
    "transaction_tax_type": str,
    "exchange_turnover_charge": NUM,
    "sebi_turnover_charge": NUM,
    "brokerage": NUM,
    "stamp_duty": NUM,
    "gst": GST,
    "total": NUM,
}
MARGIN = {
    "type": str,
    "tradingsymbol": str,
    "exchange": str,
    **dict.fromkeys(("span", "exposure", "option_premium", "additional", "bo", "cash", "var"), NUM),
    "pnl": {"realised": NUM, "unrealised": NUM},
    "leverage": NUM,
    "charges": CHARGES,
    "total": NUM,
}
CONTRACT_NOTE = {
    "transaction_type": str,
    "tradingsymbol": str,
    "exchange": str,
    "variety": str,
    "product": str,
    "order_type": str,
    "quantity": int,
    "price": NUM,
    "charges": CHARGES,
}

# -- mutual funds (§12, kiteconnect-mocks' mf_*.json) ----------------------------------------------------
MF_ORDER = {
    "status": str,
    "purchase_type": str,
    "folio": STR_OR_NONE,
    "order_timestamp": str,
    "average_price": NUM,
    "exchange_order_id": STR_OR_NONE,
    "last_price": NUM,
    "tradingsymbol": str,
    "settlement_id": STR_OR_NONE,
    "transaction_type": str,
    "order_id": str,
    "amount": NUM,
    "tag": STR_OR_NONE,
    "placed_by": str,
    "exchange_timestamp": STR_OR_NONE,
    "variety": str,
    "last_price_date": str,
    "status_message": str,
    "fund": str,
    "quantity": NUM,
}
MF_SIP = {
    "sip_id": str,
    "tradingsymbol": str,
    "fund": str,
    "dividend_type": str,
    "transaction_type": str,
    "status": str,
    "sip_type": str,
    "created": str,
    "frequency": str,
    "instalment_amount": NUM,
    "instalments": int,
    "last_instalment": STR_OR_NONE,
    "pending_instalments": int,
    "instalment_day": int,
    "completed_instalments": int,
    "next_instalment": str,
    "trigger_price": NUM,
    "step_up": dict,
    "sip_reg_num": STR_OR_NONE,
    "tag": str,
}
MF_SIP_INFO = {**MF_SIP, "fund_source": str}
MF_HOLDING = {
    "folio": str,
    "fund": str,
    "tradingsymbol": str,
    "average_price": NUM,
    "last_price": NUM,
    "last_price_date": str,
    "pledged_quantity": int,
    "pnl": NUM,
    "quantity": NUM,
}
#: A row of ``mf_instruments()`` as the SDK parses the CSV.
MF_INSTRUMENT = {
    "tradingsymbol": str,
    "amc": str,
    "name": str,
    "purchase_allowed": bool,
    "redemption_allowed": bool,
    "minimum_purchase_amount": float,
    "purchase_amount_multiplier": float,
    "minimum_additional_purchase_amount": float,
    "minimum_redemption_quantity": float,
    "redemption_quantity_multiplier": float,
    "dividend_type": str,
    "scheme_type": str,
    "plan": str,
    "settlement_type": str,
    "last_price": float,
    "last_price_date": dt.date,
}

#: Keys the SDK turns into naive datetimes when their value is exactly 19 characters (§4).
SDK_DATETIMES = frozenset(
    {"order_timestamp", "exchange_timestamp", "created", "last_instalment", "fill_timestamp", "timestamp"}
    | {"last_trade_time"}
)


def as_parsed(shape: dict[str, Any], keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Return ``shape`` as the SDK hands it over: its 19-character time keys (not ``keep``) as datetimes."""
    out: dict[str, Any] = {}
    for key, sub in shape.items():
        if key in SDK_DATETIMES and key not in keep:
            out[key] = (dt.datetime, NONE) if sub == STR_OR_NONE else dt.datetime
        else:
            out[key] = sub
    return out
