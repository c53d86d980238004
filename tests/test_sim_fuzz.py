"""Never a 500 for client input: every route of the simulator, fuzzed, answers Kite's envelope on every error.

For each route the simulator registers (admin routes included), Hypothesis starts from a request that would
succeed and breaks it: fields removed or replaced (non-ASCII text, digits that are not ASCII, absurd numbers,
NaN, year-1 and year-9999 dates, JSON of every shape, deeply nested JSON), path parameters likewise, or the
body replaced by arbitrary bytes. Unknown paths and methods get the same treatment. Runs are derandomized so
CI sees the same inputs every time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kiteconnect import KiteConnect
from starlette.routing import BaseRoute, Mount, Route

from kitekit.clock import ManualClock
from kitekit.sim.config import SimConfig
from kitekit.sim.http import SimApp
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW, login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.wire.envelope import ErrorType
from tests.exchange_helpers import auth

ERROR_TYPES = {str(e) for e in ErrorType}
#: Inputs that have broken servers before: odd digits, absurd numbers, year-1 and year-9999 dates, markup.
ODD = [
    "", " ", "0", "-1", "1.5", "1e400", "-1e308", "1e11", "nan", "inf", "-0", "²", "١٢٣", "፩", "0x10", "9" * 40,
    "0001-01-01", "0001-01-01 00:00:00", "9999-12-31 23:59:59", "2026-11-27", "2026-02-30", "2026-11-27 25:61:00",
    "NSE:INFY", "408065", "256265", "INFY", "NIFTY 50", "NSE", "NFO", "regular", "amo", "co", "iceberg", "auction",
    "BUY", "SELL", "LIMIT", "MARKET", "SL", "SL-M", "MIS", "CNC", "NRML", "DAY", "IOC", "TTL", "single", "two-leg",
    "true", "True", "null", "[]", "{}", '{"a": 1}', "[1, 2]", "ñandú", "\x00", "🙂", "\ud800", "<script>", "%",
    "%zz", "equity", "commodity", "day", "minute", "buy", "sell", "compact", "INFKKS01A014", "monthly", "28",
    "[" * 5000, '{"trigger_values": [NaN], "last_price": Infinity}',
]  # fmt: skip
#: Field names the routes read, so that broken forms stay close to real ones.
KEYS = [
    "exchange", "tradingsymbol", "transaction_type", "quantity", "product", "order_type", "price", "trigger_price",
    "validity", "validity_ttl", "disclosed_quantity", "iceberg_legs", "iceberg_quantity", "auction_number", "tag",
    "market_protection", "autoslice", "parent_order_id", "position_type", "old_product", "new_product", "type",
    "condition", "orders", "amount", "instalments", "frequency", "initial_amount", "instalment_day", "status", "i",
    "from", "to", "interval", "continuous", "oi", "consider_positions", "mode", "api_key", "request_token",
    "checksum", "access_token", "refresh_token", "user_id", "password", "request_id", "twofa_value",
    "redirect_params", "v", "trigger_values", "last_price", "average_price", "variety",
]  # fmt: skip
# Deliberately weighted towards the odd values.
value = st.one_of(st.sampled_from(ODD), st.sampled_from(ODD), st.text(max_size=16), st.integers().map(str))
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(ODD) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner),
    max_leaves=8,
)

ORDER = {
    "exchange": "NSE",
    "tradingsymbol": "INFY",
    "transaction_type": "BUY",
    "quantity": "1",
    "product": "MIS",
    "order_type": "LIMIT",
    "price": "2270",
    "validity": "DAY",
}
LEG = {"transaction_type": "SELL", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": 3000.0}
GTT = {
    "type": "single",
    "condition": {"exchange": "NSE", "tradingsymbol": "INFY", "trigger_values": [3000.0], "last_price": 2274.0},
    "orders": [LEG],
}
CALC = [{**ORDER, "variety": "regular", "quantity": 1, "price": 2270.0, "average_price": 2270.0}]
ITEM = {
    "type": "insert",
    "tradingsymbol": "INFY",
    "exchange": "NSE",
    "weight": 0,
    "params": {**LEG, "variety": "regular"},
}
ALERT = {
    "name": "INFY up",
    "type": "ato",
    "lhs_exchange": "NSE",
    "lhs_tradingsymbol": "INFY",
    "lhs_attribute": "LastTradedPrice",
    "operator": ">=",
    "rhs_type": "constant",
    "rhs_constant": "3000",
    "basket": {"name": "b", "type": "alert", "tags": [], "items": [ITEM]},
}
UUID = "550e8400-e29b-41d4-a716-446655440000"
# A request that succeeds (or nearly), per route: ("form" | "json", body) and a query string.
BODIES: dict[str, tuple[str, Any]] = {
    "POST /orders/{variety}": ("form", ORDER),
    "PUT /orders/{variety}/{order_id}": ("form", {"price": "2260", "quantity": "2", "order_type": "LIMIT"}),
    "PUT /portfolio/positions": (
        "form",
        {**ORDER, "position_type": "day", "old_product": "MIS", "new_product": "CNC"},
    ),
    "POST /gtt/triggers": ("form", GTT),
    "PUT /gtt/triggers/{trigger_id}": ("form", GTT),
    "POST /alerts": ("form", ALERT),
    "PUT /alerts/{uuid}": ("form", ALERT),
    "POST /margins/orders": ("json", CALC),
    "POST /margins/basket": ("json", CALC),
    "POST /charges/orders": ("json", CALC),
    "POST /mf/orders": ("form", {"tradingsymbol": "INFKKS01A014", "transaction_type": "BUY", "amount": "500"}),
    "POST /mf/sips": (
        "form",
        {"tradingsymbol": "INFKKS01A014", "amount": "500", "instalments": "12", "frequency": "monthly"},
    ),
    "PUT /mf/sips/{sip_id}": ("form", {"amount": "700", "status": "paused", "instalment_day": "5"}),
    "POST /session/token": ("form", {"api_key": "kitekit_sim", "request_token": "x", "checksum": "y"}),
    "POST /session/refresh_token": ("form", {"api_key": "kitekit_sim", "refresh_token": "x", "checksum": "y"}),
    "POST /api/login": ("form", {"user_id": "KK1234", "password": "sim-password"}),
    "POST /api/twofa": ("form", {"user_id": "KK1234", "request_id": "x", "twofa_value": "123456"}),
    "POST /connect/login": ("form", {"api_key": "kitekit_sim", "user_id": "KK1234", "password": "sim-password"}),
    "POST /connect/twofa": ("form", {"api_key": "kitekit_sim", "user_id": "KK1234", "twofa_value": "123456"}),
    "POST /connect/cancel": ("form", {"redirect_params": "a=1"}),
    "PUT /__sim/faults": ("json", {"latency_ms": 0, "network_error_rate": 0, "paths": ["/quote"]}),
    "PUT /__sim/app": ("json", {"redirect_url": "http://127.0.0.1:5055/callback", "login_mode": "form"}),
    "PUT /__sim/order-faults": ("json", {"next": ["none"], "error_status": 504}),
    "POST /__sim/reset": ("json", {"user_id": "KK1234"}),
}
QUERIES: dict[str, dict[str, Any]] = {
    "GET /quote": {"i": "NSE:INFY"},
    "GET /quote/ohlc": {"i": "NSE:INFY"},
    "GET /quote/ltp": {"i": "NSE:INFY"},
    "GET /instruments/trigger_range/{transaction_type}": {"i": "NSE:INFY"},
    "GET /instruments/historical/{token}/{interval}": {"from": "2026-11-20", "to": "2026-11-27", "oi": "1"},
    "POST /margins/basket": {"consider_positions": "True", "mode": "compact"},
    "DELETE /session/token": {"api_key": "kitekit_sim", "access_token": "x"},
    "GET /connect/login": {"api_key": "kitekit_sim", "v": "3"},
    "DELETE /orders/{variety}/{order_id}": {"parent_order_id": "1"},
    "GET /alerts": {"status": "enabled"},
    "DELETE /alerts": {"uuid": UUID},
}
PATHS = {
    "variety": "regular",
    "order_id": "1",
    "trigger_id": "1",
    "sip_id": "1",
    "segment": "equity",
    "exchange": "NSE",
    "token": "408065",
    "interval": "day",
    "transaction_type": "buy",
    "uuid": UUID,
}


def _routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[str]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _routes(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            yield from (f"{m} {prefix}{route.path}" for m in sorted(route.methods or ()) if m != "HEAD")


# The routes are listed at collection time; handlers are never called here, so the market is left unbuilt.
ROUTES = sorted(_routes(SimApp(SimConfig(), ManualClock(SIM_NOW), market=Market.__new__(Market))._routes()))


@st.composite
def broken(draw: st.DrawFn, base: Any) -> Any:
    """Return ``base`` with some fields removed or replaced, recursively, and maybe some added."""
    if isinstance(base, list):
        return [draw(broken(item)) for item in base] if draw(st.booleans()) else draw(json_value)
    if not isinstance(base, dict):
        return draw(st.sampled_from([base, base, base])) if draw(st.integers(0, 3)) else draw(value | json_value)
    out: dict[str, Any] = {}
    for key, sub in base.items():
        fate = draw(st.integers(0, 6))
        if fate == 0:
            continue
        out[key] = draw(value) if fate == 1 else draw(broken(sub))
    out.update(draw(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), value, max_size=2)))
    return out


@st.composite
def request_for(draw: st.DrawFn, route: str) -> tuple[str, dict[str, Any], tuple[str, Any] | None]:
    """Return a broken (path, query, body) for ``route``."""
    template = route.split(" ", 1)[1]
    path = template
    for name in re.findall(r"{(\w+)}", template):
        text = draw(st.sampled_from([PATHS[name]] * 2) | value)
        path = path.replace(f"{{{name}}}", quote(_raw(text), safe="") or "x")
    query = draw(broken(QUERIES.get(route, {})))
    kind, base = BODIES.get(route, ("form", {}))
    if draw(st.integers(0, 9)) == 0:
        return path, query, ("raw", draw(st.binary(max_size=64)))
    body = draw(broken(base))
    if kind == "form" and isinstance(body, dict):
        # Kite's forms carry GTT condition and orders as JSON text.
        body = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
    return path, query if isinstance(query, dict) else {}, (kind if isinstance(body, dict) else "json", body)


@pytest.fixture(scope="module")
def fuzzed(sim_market: Market) -> Iterator[tuple[SimServer, KiteConnect, requests.Session]]:
    config = SimConfig(rate_limit_enabled=False)
    with SimServer(config, ManualClock(SIM_NOW), market=sim_market) as server:
        kite = KiteConnect(config.api_key, root=server.url)
        login_via_redirect(server, kite)
        with requests.Session() as http:
            yield server, kite, http


def _send(
    server: SimServer, kite: KiteConnect, http: requests.Session, method: str, path: str, query: Any, body: Any
) -> requests.Response:
    # Bytes, so that lone surrogates and other text no client would encode still reach the server.
    params = {_raw(k): _raw(v) for k, v in (query or {}).items()}
    kwargs: dict[str, Any] = {"params": params, "headers": auth(kite), "timeout": 30, "allow_redirects": False}
    if body is not None:
        kind, content = body
        if kind == "json":
            content = json.dumps(content).encode("utf-8", "surrogatepass")
        elif kind == "form":
            content = {_raw(k): _raw(v) for k, v in content.items()}
        kwargs["data"] = content
    return http.request(method, f"{server.url}{path}", **kwargs)


def _raw(text: Any) -> bytes:
    return str(text).encode("utf-8", "surrogatepass")


def _check(r: requests.Response, route: str) -> None:
    assert r.status_code < 500, (r.status_code, route, r.text[:300])
    kind = r.headers.get("content-type", "")
    if r.status_code < 400:
        assert "json" in kind or "csv" in kind or "html" in kind or r.status_code == 302, (route, kind)
        return
    if " /connect/" in route and "html" in kind:
        return  # Kite's login pages answer a bad form with the page again, as a browser expects
    body = r.json()
    assert body["status"] == "error" and isinstance(body["message"], str), body
    assert body["error_type"] in ERROR_TYPES, body
    assert body.get("data") is None and (r.status_code == 429 or "data" in body), body


def _restore(server: SimServer, kite: KiteConnect, http: requests.Session) -> None:
    """Undo what a valid admin body changed, so the next example meets the same simulator."""
    http.delete(f"{server.url}/__sim/faults", timeout=10)
    http.delete(f"{server.url}/__sim/order-faults", timeout=10)
    server.sim.config.redirect_url = SimConfig().redirect_url
    if http.get(f"{server.url}/user/profile", headers=auth(kite), timeout=10).status_code == 403:
        login_via_redirect(server, kite)


@pytest.mark.parametrize("route", ROUTES)
def test_no_route_answers_500_to_anything_and_every_error_is_kites_envelope(
    fuzzed: tuple[SimServer, KiteConnect, requests.Session], route: str
) -> None:
    server, kite, http = fuzzed
    method = route.split(" ", 1)[0]

    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(request=request_for(route))
    def fuzz(request: tuple[str, dict[str, Any], tuple[str, Any] | None]) -> None:
        path, query, body = request
        _check(_send(server, kite, http, method, path, query, body), route)
        if "/__sim" in route or "/session" in route:
            _restore(server, kite, http)

    fuzz()


#: The values that break parsers most often, tried in every field of every route one at a time.
NASTY = [
    "", "²", "١٢٣", "nan", "inf", "-1", "1e400", "9" * 40, "0001-01-01", "9999-12-31 23:59:59", "\ud800", "\x00",
    "[" * 5000, "[]", '{"a": [1]}', "ñandú",
]  # fmt: skip


def _fields(route: str) -> Iterator[tuple[str, str]]:
    """Yield every field of a route's good request: ("path"|"query"|"body", name)."""
    for name in re.findall(r"{(\w+)}", route):
        yield "path", name
    for name in QUERIES.get(route, {}):
        yield "query", name
    _, base = BODIES.get(route, ("form", {}))
    for item in base if isinstance(base, list) else [base]:
        for name, sub in item.items():
            yield "body", name
            if isinstance(sub, dict):  # GTT condition
                yield from (("body", f"{name}.{inner}") for inner in sub)
            if isinstance(sub, list) and sub and isinstance(sub[0], dict):  # GTT orders
                yield from (("body", f"{name}[].{inner}") for inner in sub[0])
        break


def _with(route: str, where: str, name: str, bad: Any) -> tuple[str, dict[str, Any], tuple[str, Any]]:
    """Return the good request of ``route`` with one field replaced by ``bad``."""
    template = route.split(" ", 1)[1]
    values = {**PATHS, name: bad} if where == "path" else PATHS
    path = re.sub(r"{(\w+)}", lambda m: quote(_raw(values[m.group(1)]), safe="") or "x", template)
    query = {**QUERIES.get(route, {}), **({name: bad} if where == "query" else {})}
    kind, base = BODIES.get(route, ("form", {}))
    body = json.loads(json.dumps(base))
    if where == "body":
        for item in body if isinstance(body, list) else [body]:
            outer, _, inner = name.partition(".")
            if not inner:
                item[outer] = bad
            elif outer.endswith("[]"):
                item[outer[:-2]][0][inner] = bad
            else:
                item[outer][inner] = bad
    if kind == "form":
        body = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
    return path, query, (kind, body)


@pytest.mark.parametrize("route", ROUTES)
def test_every_field_of_every_route_survives_every_nasty_value(
    fuzzed: tuple[SimServer, KiteConnect, requests.Session], route: str
) -> None:
    server, kite, http = fuzzed
    method = route.split(" ", 1)[0]
    for where, name in _fields(route):
        for bad in NASTY:
            path, query, body = _with(route, where, name, bad)
            _check(_send(server, kite, http, method, path, query, body), f"{route} {where}:{name}={bad[:20]!r}")
        if "/__sim" in route or "/session" in route:
            _restore(server, kite, http)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), segments=st.lists(value, max_size=4))
def test_unknown_paths_and_methods_get_kites_envelope(
    fuzzed: tuple[SimServer, KiteConnect, requests.Session], method: str, segments: list[str]
) -> None:
    server, kite, http = fuzzed
    path = "/" + "/".join(quote(_raw(s), safe="") for s in segments)
    _check(_send(server, kite, http, method, path, None, None), f"{method} {path}")


@pytest.mark.parametrize(("start", "end"), [("0001-01-01", "0001-01-05"), ("9999-12-01", "9999-12-31")])
def test_history_beyond_the_models_decades_is_empty_not_an_error(
    fuzzed: tuple[SimServer, KiteConnect, requests.Session], start: str, end: str
) -> None:
    server, kite, http = fuzzed
    query = {"from": start, "to": end}
    r = http.get(f"{server.url}/instruments/historical/408065/day", params=query, headers=auth(kite), timeout=30)
    assert r.status_code == 200 and r.json()["data"] == {"candles": []}


@pytest.mark.parametrize("route", ["POST /margins/orders", "POST /charges/orders", "PUT /__sim/faults"])
def test_json_nested_deeper_than_the_parser_goes_is_a_400(
    fuzzed: tuple[SimServer, KiteConnect, requests.Session], route: str
) -> None:
    server, kite, http = fuzzed
    method, path = route.split(" ", 1)
    r = http.request(method, f"{server.url}{path}", data=b"[" * 100_000, headers=auth(kite), timeout=30)
    assert r.status_code == 400 and r.json()["error_type"] == "InputException"


#: Numbers Python's float() and int() take but Kite refuses: exponents, spaces, other scripts' digits, a newline.
NOT_KITE_NUMBERS = ["1e3", "١", "１", " 1", "1 ", "1\n", "1_0", "0x1", "+1"]


@pytest.mark.parametrize(
    ("field", "bad"),
    [("quantity", text) for text in NOT_KITE_NUMBERS] + [("price", "1e-300"), ("price", "2270\n"), ("price", "٢٢٧٠")],
)
def test_numbers_kite_refuses_are_refused_with_its_input_exception(
    fuzzed: tuple[SimServer, KiteConnect, requests.Session], field: str, bad: str
) -> None:
    server, kite, http = fuzzed
    before = len(server.sim.exchange.accepted_orders())
    r = http.post(f"{server.url}/orders/regular", data={**ORDER, field: bad}, headers=auth(kite), timeout=30)
    assert (r.status_code, r.json()["error_type"]) == (400, "InputException"), r.text
    assert f"Invalid `{field}`" in r.json()["message"]
    assert len(server.sim.exchange.accepted_orders()) == before
    mf = {"tradingsymbol": "INFKKS01A014", "transaction_type": "BUY", "amount": bad}
    r = http.post(f"{server.url}/mf/orders", data=mf, headers=auth(kite), timeout=30)
    assert (r.status_code, r.json()["error_type"]) == (400, "InputException"), r.text


@pytest.mark.parametrize("bad", ["2026-11-20\n", " 2026-11-20", "2026-11-20 ", "٢٠٢٦-11-20", "2026-11-20 09:15:00\n"])
def test_a_date_with_anything_around_it_is_refused(
    fuzzed: tuple[SimServer, KiteConnect, requests.Session], bad: str
) -> None:
    server, kite, http = fuzzed
    for query in ({"from": bad, "to": "2026-11-27"}, {"from": "2026-11-20", "to": bad}):
        r = http.get(f"{server.url}/instruments/historical/408065/day", params=query, headers=auth(kite), timeout=30)
        assert (r.status_code, r.json()["error_type"]) == (400, "InputException"), (query, r.text)


def test_plain_decimal_numbers_are_still_taken(fuzzed: tuple[SimServer, KiteConnect, requests.Session]) -> None:
    server, kite, http = fuzzed
    for quantity, price in (("1", "2270"), ("1.0", "2270.0"), ("2", "2270.05")):
        r = http.post(
            f"{server.url}/orders/regular",
            data={**ORDER, "quantity": quantity, "price": price},
            headers=auth(kite),
            timeout=30,
        )
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "route", ["POST /session/token", "POST /api/login", "POST /__sim/reset", "POST /orders/regular"]
)
def test_a_body_cut_short_is_logged_as_a_client_gone_not_an_asgi_exception(
    fuzzed: tuple[SimServer, KiteConnect, requests.Session], route: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import socket

    from .conftest import eventually

    server, kite, http = fuzzed
    caplog.set_level(logging.INFO)
    method, path = route.split(" ", 1)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: {auth(kite)['Authorization']}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nexchange=NSE"
    )
    before = server.sim.requests[route]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(head.encode())
        eventually(lambda: server.sim.requests[route] > before)  # the request is in: its body is being read
    eventually(lambda: f"client went away during {route}" in caplog.text)
    eventually(lambda: any(r.name == "kitekit.sim.access" and route in r.getMessage() for r in caplog.records))
    # The server logs an escaped exception in the same loop step as the access line; one more round trip
    # lets that step end before the logs are read.
    http.get(f"{server.url}/__sim/info", timeout=10)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
