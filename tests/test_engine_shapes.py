"""The engine's payloads have Kite's shapes key for key and type for type, and the engine stays pure."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import kitekit.engine
from tests.engine_helpers import INFY, NOW, engine, infy, order
from tests.shapes import MARGIN_SEGMENT, NUM, STR_OR_NONE, assert_shape

ORDER = {
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
    "product": str,
    "quantity": int,
    "disclosed_quantity": int,
    "price": NUM,
    "trigger_price": NUM,
    "average_price": NUM,
    "filled_quantity": int,
    "pending_quantity": int,
    "cancelled_quantity": int,
    "market_protection": int,
    "meta": dict,
    "tag": STR_OR_NONE,
    "guid": str,
}
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


def _traded() -> Any:
    eng = engine()
    eng.add_holding("NSE", "RELIANCE", 5, 2500.0, NOW)
    eng.on_quotes([infy()], NOW)
    eng.place_order("regular", order(INFY, "BUY", 10, price=1500.0), NOW)
    return eng


def test_orders_and_history_states_have_the_order_object_shape() -> None:
    eng = _traded()
    (placed,) = eng.orders(NOW)
    assert_shape(placed, ORDER)
    for state in eng.order_history(placed["order_id"], NOW):
        assert_shape(state, ORDER)
    assert len(placed["order_timestamp"]) == 19 and len(placed["exchange_timestamp"]) == 19


def test_trades_positions_holdings_and_funds_have_kites_shapes() -> None:
    eng = _traded()
    assert_shape(eng.trades(NOW)[0], TRADE)
    positions = eng.positions(NOW)
    assert set(positions) == {"net", "day"}
    assert_shape(positions["net"][0], POSITION)
    assert_shape(positions["day"][0], POSITION)
    assert_shape(eng.holdings(NOW)[0], HOLDING)
    assert_shape(eng.margins(NOW), {"equity": MARGIN_SEGMENT, "commodity": MARGIN_SEGMENT})


def test_margin_and_charges_blocks_have_kites_shapes() -> None:
    eng = _traded()
    item = {**order(INFY, "BUY", 10, price=1500.0), "variety": "regular"}
    assert_shape(eng.order_margins([item], NOW)[0], MARGIN)
    basket = eng.basket_margins([item], NOW)
    assert_shape(basket, {"initial": MARGIN, "final": MARGIN, "orders": [MARGIN], "charges": CHARGES})
    note = eng.order_charges([{**item, "average_price": 1500.0}], NOW)[0]
    assert_shape(
        note,
        {
            "transaction_type": str,
            "tradingsymbol": str,
            "exchange": str,
            "variety": str,
            "product": str,
            "order_type": str,
            "quantity": int,
            "price": NUM,
            "charges": CHARGES,
        },
    )


# The engine may use the standard library and these foundations, nothing from the simulator or the client.
ALLOWED = ("kitekit.engine", "kitekit.clock", "kitekit.markethours", "kitekit.errors", "kitekit.wire")
FORBIDDEN_FUNCTIONS = {"open", "print", "input"}
FORBIDDEN_METHODS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter", "sleep"}


def test_the_engine_imports_only_foundations_and_never_reads_a_clock_or_does_io() -> None:
    for path in Path(kitekit.engine.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for name in names:
                    top = name.split(".")[0]
                    assert top in sys.stdlib_module_names or name.startswith(ALLOWED), f"{path.name} imports {name}"
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name):
                    assert func.id not in FORBIDDEN_FUNCTIONS, f"{path.name}:{node.lineno} calls {func.id}()"
                if isinstance(func, ast.Attribute):
                    assert func.attr not in FORBIDDEN_METHODS, f"{path.name}:{node.lineno} calls .{func.attr}()"
