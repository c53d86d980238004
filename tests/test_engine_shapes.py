"""The engine's payloads have Kite's shapes key for key and type for type, and the engine stays pure."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import kitekit.engine
from tests.engine_helpers import INFY, NOW, engine, infy, order
from tests.shapes import CHARGES, CONTRACT_NOTE, HOLDING, MARGIN, MARGIN_SEGMENT, ORDER, POSITION, TRADE, assert_shape


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
    assert_shape(note, CONTRACT_NOTE)


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
