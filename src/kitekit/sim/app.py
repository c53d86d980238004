"""The simulator's ASGI app: Kite's REST routes, login pages and admin endpoints over Starlette.

Only this module knows Starlette. Handlers translate HTTP to calls on plain objects (``Market``,
``AuthState``, ``RateLimiter``) and their results back into Kite's envelope.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kitekit.clock import Clock, SystemClock
from kitekit.sim import pages
from kitekit.sim.auth import AuthState, Grant
from kitekit.sim.config import LoginMode, SimConfig
from kitekit.sim.errors import ApiError, invalid_input
from kitekit.sim.faults import Fault, FaultInjector
from kitekit.sim.market import Market, Snapshot
from kitekit.sim.market.universe import Universe
from kitekit.sim.ratelimit import RateLimiter
from kitekit.wire.envelope import ErrorType, error_body, rate_limited_body, success_body
from kitekit.wire.formats import format_candle_time, format_timestamp, parse_kite_datetime
from kitekit.wire.history import Interval
from kitekit.wire.routes import EXCHANGES, SECRET_PARAMS, QuoteEndpoint, classify

__all__ = ["SimApp"]

log = logging.getLogger("kitekit.sim")
access_log = logging.getLogger("kitekit.sim.access")

SESSION_COOKIE = "kf_session"
_HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    "<hr><center>nginx</center></body></html>"
)


def redact_query(query: str) -> str:
    """Return a query string with the values of sensitive keys replaced by ``***``."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "***" if k in SECRET_PARAMS else v) for k, v in pairs])


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _error(err: ApiError) -> JSONResponse:
    return _json(error_body(err.error_type, err.message), err.status)


async def form_of(request: Request) -> dict[str, str]:
    """Return the urlencoded form body (Kite never sends multipart), parsed once per request."""
    cached = getattr(request.state, "form", None)
    if cached is None:
        cached = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        request.state.form = cached
    return cached


def _flag(value: str | None) -> bool:
    # The SDK sends 0/1 for historical flags, Python's True/False elsewhere; accept all of them.
    return (value or "").strip().lower() in ("1", "true", "yes")


class _AccessLog:
    """Counts requests and logs one line each with secrets redacted (uvicorn's access log prints raw queries).

    The count goes up before the request is handled, so a client that got its answer can rely on it.
    """

    def __init__(self, app: ASGIApp, counts: Counter[str]) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        self.counts[f"{scope['method']} {scope['path']}"] += 1
        # Fault injection drops connections through uvicorn's transport, which our wrapped send hides.
        scope["kitekit.transport"] = getattr(getattr(send, "__self__", None), "transport", None)

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            query = redact_query(scope.get("query_string", b"").decode("latin-1"))
            access_log.info(
                "%s %s%s %s %.1fms",
                scope["method"],
                scope["path"],
                f"?{query}" if query else "",
                status or "-",
                (time.perf_counter() - started) * 1000,
            )


class _Faults:
    """Injects latency, error answers and dropped connections into API routes."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/__sim") or not self.injector.applies(path):
            await self.app(scope, receive, send)
            return
        delay = self.injector.delay_s()
        if delay:
            await asyncio.sleep(delay)
        fault = self.injector.draw()
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault is Fault.DROP:
            # Close the TCP connection with no response at all. ASGI has no verb for that, so reach the
            # transport behind uvicorn's send callable; fall back to an incomplete response elsewhere.
            transport = scope.get("kitekit.transport")
            if transport is not None:
                transport.abort()
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
                }
            )
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise ConnectionAbortedError("simulated dropped connection")
        if fault is Fault.HTML_502:
            response: Response = HTMLResponse(_HTML_502, status_code=502)
        elif fault is Fault.NETWORK:
            response = _error(ApiError(ErrorType.NETWORK, "Couldn't connect to the OMS. Please try again."))
        else:
            response = _error(ApiError(ErrorType.DATA, "Couldn't parse the OMS response."))
        await response(scope, receive, send)


Handler = Callable[[Request, Grant | None], Awaitable[Any]]


class SimApp:
    """The simulator's state and its ASGI application (``.asgi``)."""

    def __init__(
        self,
        config: SimConfig | None = None,
        clock: Clock | None = None,
        market: Market | None = None,
        auth_clock: Clock | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.clock = clock or SystemClock()
        self.market = market or Market(self.config.seed)
        # Logins (TOTP, token expiry) may follow the wall clock while the market replays a virtual session.
        self.auth = AuthState(self.config, auth_clock or self.clock)
        self.limiter = RateLimiter(self.config.rate_limits, self.config.rate_tolerance)
        self.faults = FaultInjector(self.config.faults)
        #: Requests received, by "METHOD /path" (counted before they are handled).
        self.requests: Counter[str] = Counter()
        self.asgi = self._build()

    # -- plumbing ----------------------------------------------------------------------------------
    def _build(self) -> ASGIApp:
        app = Starlette(
            routes=self._routes(),
            exception_handlers={HTTPException: self._http_error, Exception: self._crash},
        )
        return _AccessLog(_Faults(app, self.faults), self.requests)

    @staticmethod
    async def _http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        message = {404: "Route not found", 405: "Method not allowed"}.get(status, "Request failed")
        return _json(error_body(ErrorType.GENERAL, message), status)

    @staticmethod
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("simulator bug while serving %s %s", request.method, request.url.path)
        return _json(error_body(ErrorType.GENERAL, "An unexpected error occurred."), 500)

    def _api(self, handler: Handler, auth: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler with authentication, rate limiting and the success/error envelope."""

        async def endpoint(request: Request) -> Response:
            try:
                grant = self.auth.authenticate(request.headers.get("authorization")) if auth else None
                api_key = grant.api_key if grant else await self._api_key_param(request)
                if self.config.rate_limit_enabled and not self.limiter.allow(
                    api_key, classify(request.method, request.url.path)
                ):
                    return _json(rate_limited_body(), 429)
                data = await handler(request, grant)
            except ApiError as err:
                return _error(err)
            if isinstance(data, Response):
                return data
            return _json(success_body(data))

        return endpoint

    @staticmethod
    async def _api_key_param(request: Request) -> str:
        if request.method in ("POST", "PUT"):
            return (await form_of(request)).get("api_key", "")
        return request.query_params.get("api_key", "")

    def _routes(self) -> list[BaseRoute]:
        api = self._api
        return [
            Route("/connect/login", self.login_get, methods=["GET"]),
            Route("/connect/login", self.login_post, methods=["POST"]),
            Route("/connect/twofa", self.twofa_post, methods=["POST"]),
            Route("/connect/cancel", self.cancel_post, methods=["POST"]),
            Route("/api/login", api(self.web_login, auth=False), methods=["POST"]),
            Route("/api/twofa", api(self.web_twofa, auth=False), methods=["POST"]),
            Route("/session/token", api(self.session_create, auth=False), methods=["POST"]),
            Route("/session/token", api(self.session_delete, auth=False), methods=["DELETE"]),
            Route("/session/refresh_token", api(self.session_refresh, auth=False), methods=["POST"]),
            Route("/user/profile", api(self.profile), methods=["GET"]),
            Route("/user/margins", api(self.margins), methods=["GET"]),
            Route("/user/margins/{segment}", api(self.margins), methods=["GET"]),
            Route("/quote", api(self.quote), methods=["GET"]),
            Route("/quote/ohlc", api(self.quote), methods=["GET"]),
            Route("/quote/ltp", api(self.quote), methods=["GET"]),
            Route("/instruments", api(self.instruments), methods=["GET"]),
            Route("/instruments/historical/{token}/{interval}", api(self.historical), methods=["GET"]),
            Route("/instruments/{exchange}", api(self.instruments), methods=["GET"]),
            Mount(
                "/__sim",
                routes=[
                    Route("/info", self.admin_info, methods=["GET"]),
                    Route("/faults", self.admin_faults, methods=["GET", "PUT", "DELETE"]),
                    Route("/expire-tokens", self.admin_expire, methods=["POST"]),
                    Route("/app", self.admin_app, methods=["PUT"]),
                    Route("/rate-limits/reset", self.admin_reset_limits, methods=["POST"]),
                ],
            ),
        ]

    # -- login pages (browser) ---------------------------------------------------------------------
    def _redirect_with(self, params: dict[str, str], redirect_params: str) -> RedirectResponse:
        parts = urlsplit(self.config.redirect_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query += list(params.items())
        # redirect_params arrive url-encoded ("k=v&k2=v2") and go back as plain query pairs.
        query += parse_qsl(redirect_params, keep_blank_values=True)
        return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=302)

    def _approve(self, api_key: str, redirect_params: str) -> RedirectResponse:
        token = self.auth.issue_request_token(api_key, redirect_params)
        return self._redirect_with(
            {"action": "login", "type": "login", "status": "success", "request_token": token}, redirect_params
        )

    async def login_get(self, request: Request) -> Response:
        """``GET /connect/login?api_key=…&v=3[&redirect_params=…]``: the login page, or on to the app."""
        api_key = request.query_params.get("api_key", "")
        redirect_params = request.query_params.get("redirect_params", "")
        try:
            self.auth.check_api_key(api_key)
        except ApiError as err:
            return HTMLResponse(pages.error_page(err.message), status_code=400)
        if self.config.login_mode is LoginMode.AUTO or self.auth.web_session_ok(request.cookies.get(SESSION_COOKIE)):
            return self._approve(api_key, redirect_params)
        return HTMLResponse(pages.login_page(api_key, redirect_params, self.config.user_id))

    async def login_post(self, request: Request) -> Response:
        """``POST /connect/login``: check user id and password, then ask for the TOTP."""
        form = await form_of(request)
        api_key, rp = form.get("api_key", ""), form.get("redirect_params", "")
        user_id = form.get("user_id", "")
        try:
            self.auth.check_api_key(api_key)
            request_id = self.auth.password_login(user_id, form.get("password", ""))
        except ApiError as err:
            return HTMLResponse(pages.login_page(api_key, rp, user_id, err.message), status_code=400)
        return HTMLResponse(pages.totp_page(api_key, rp, user_id.upper(), request_id))

    async def twofa_post(self, request: Request) -> Response:
        """``POST /connect/twofa``: check the TOTP, set the browser session, redirect to the app."""
        form = await form_of(request)
        api_key, rp = form.get("api_key", ""), form.get("redirect_params", "")
        user_id, request_id = form.get("user_id", ""), form.get("request_id", "")
        try:
            session = self.auth.twofa(user_id, request_id, form.get("twofa_value", ""))
            response = self._approve(api_key, rp)
        except ApiError as err:
            if err.error_type is ErrorType.TOKEN:
                return HTMLResponse(pages.login_page(api_key, rp, user_id, err.message), status_code=400)
            return HTMLResponse(pages.totp_page(api_key, rp, user_id, request_id, err.message), status_code=400)
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="lax")
        return response

    async def cancel_post(self, request: Request) -> Response:
        """``POST /connect/cancel``: the user gave up; the app learns it from ``status=cancelled``."""
        form = await form_of(request)
        return self._redirect_with(
            {"action": "login", "type": "login", "status": "cancelled"}, form.get("redirect_params", "")
        )

    # -- web login API (what Kite's login page calls; automated by TOTP logins) --------------------
    async def web_login(self, request: Request, _: Grant | None) -> Any:
        """``POST /api/login`` form ``user_id, password``."""
        form = await form_of(request)
        user_id = form.get("user_id", "").upper()
        request_id = self.auth.password_login(user_id, form.get("password", ""))
        return {
            "user_id": user_id,
            "request_id": request_id,
            "twofa_type": "totp",
            "twofa_types": ["totp"],
            "twofa_status": "active",
        }

    async def web_twofa(self, request: Request, _: Grant | None) -> Any:
        """``POST /api/twofa`` form ``user_id, request_id, twofa_value``; sets the browser session cookie."""
        form = await form_of(request)
        session = self.auth.twofa(form.get("user_id", ""), form.get("request_id", ""), form.get("twofa_value", ""))
        response = _json(success_body({"profile": {}}))
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="lax")
        return response

    # -- session -----------------------------------------------------------------------------------
    def _session_payload(self, grant: Grant) -> dict[str, Any]:
        profile = self._profile()
        login_time = format_timestamp(datetime.fromisoformat(grant.login_time))
        return {
            **{k: v for k, v in profile.items() if k != "meta"},
            "api_key": grant.api_key,
            "access_token": grant.access_token,
            "public_token": grant.public_token,
            "enctoken": grant.enctoken,
            "refresh_token": grant.refresh_token,
            "silo": "",
            "login_time": login_time,
            "meta": profile["meta"],
        }

    async def session_create(self, request: Request, _: Grant | None) -> Any:
        """``POST /session/token`` form ``api_key, request_token, checksum``."""
        form = await form_of(request)
        for key in ("api_key", "request_token", "checksum"):
            if not form.get(key):
                raise invalid_input(f"Missing `{key}`.")
        grant = self.auth.exchange(form["api_key"], form["request_token"], form["checksum"])
        return self._session_payload(grant)

    async def session_refresh(self, request: Request, _: Grant | None) -> Any:
        """``POST /session/refresh_token`` form ``api_key, refresh_token, checksum``."""
        form = await form_of(request)
        for key in ("api_key", "refresh_token", "checksum"):
            if not form.get(key):
                raise invalid_input(f"Missing `{key}`.")
        grant = self.auth.refresh(form["api_key"], form["refresh_token"], form["checksum"])
        return self._session_payload(grant)

    async def session_delete(self, request: Request, _: Grant | None) -> Any:
        """``DELETE /session/token?api_key=…&access_token=…`` (or ``refresh_token``)."""
        q = request.query_params
        if not q.get("access_token") and not q.get("refresh_token"):
            raise invalid_input("Missing `access_token` or `refresh_token`.")
        self.auth.invalidate(q.get("api_key", ""), q.get("access_token"), q.get("refresh_token"))
        return True

    # -- user --------------------------------------------------------------------------------------
    def _profile(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "user_id": cfg.user_id,
            "user_type": "individual",
            "email": cfg.email,
            "user_name": cfg.user_name,
            "user_shortname": cfg.user_name.split()[0],
            "broker": "ZERODHA",
            "exchanges": ["NSE", "BSE", "NFO", "BFO", "CDS", "MCX", "BCD"],
            "products": ["CNC", "NRML", "MIS", "MTF"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            "avatar_url": None,
            "meta": {"demat_consent": "consent"},
        }

    async def profile(self, request: Request, grant: Grant | None) -> Any:
        """``GET /user/profile``."""
        return self._profile()

    @staticmethod
    def _segment_margins(cash: float) -> dict[str, Any]:
        available = {
            "adhoc_margin": 0.0,
            "cash": cash,
            "opening_balance": cash,
            "live_balance": cash,
            "collateral": 0.0,
            "intraday_payin": 0.0,
        }
        utilised = dict.fromkeys(
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
            0.0,
        )
        return {"enabled": True, "net": cash, "available": available, "utilised": utilised}

    async def margins(self, request: Request, grant: Grant | None) -> Any:
        """``GET /user/margins`` and ``GET /user/margins/{segment}``."""
        both = {"equity": self._segment_margins(1_000_000.0), "commodity": self._segment_margins(250_000.0)}
        segment = request.path_params.get("segment")
        if segment is None:
            return both
        if segment not in both:
            raise invalid_input("Invalid segment. Use `equity` or `commodity`.")
        return both[segment]

    # -- market data -------------------------------------------------------------------------------
    async def quote(self, request: Request, grant: Grant | None) -> Any:
        """``GET /quote``, ``/quote/ohlc``, ``/quote/ltp`` with repeated ``i``."""
        path = request.url.path
        keys = list(dict.fromkeys(request.query_params.getlist("i")))
        if not keys:
            raise invalid_input("No instruments specified. Pass one or more `i` parameters.")
        limit = QuoteEndpoint.of_path(path).batch_limit
        if len(keys) > limit:
            raise invalid_input(f"Too many instruments. A request to {path} takes at most {limit}.")
        now = self.clock.now()
        return await run_in_threadpool(self._quote_payload, path, keys, now)

    def _quote_payload(self, path: str, keys: list[str], now: datetime) -> dict[str, Any]:
        uni = self.market.universe(now)
        found = [(k, r) for k in keys if (r := uni.resolve(k)) is not None]
        if not found:
            return {}
        snap = self.market.snapshot(uni, np.array([r for _, r in found]), now)
        tokens = uni.token[snap.rows].tolist()
        ltp = snap.last_price.tolist()
        if path == "/quote/ltp":
            return {key: {"instrument_token": tokens[i], "last_price": ltp[i]} for i, (key, _) in enumerate(found)}
        ohlc = [
            {"open": o, "high": h, "low": lo, "close": c}
            for o, h, lo, c in zip(
                snap.open.tolist(), snap.high.tolist(), snap.low.tolist(), snap.close.tolist(), strict=True
            )
        ]
        if path == "/quote/ohlc":
            return {
                key: {"instrument_token": tokens[i], "last_price": ltp[i], "ohlc": ohlc[i]}
                for i, (key, _) in enumerate(found)
            }
        return self._full_quotes(snap, found, tokens, ltp, ohlc)

    @staticmethod
    def _full_quotes(
        snap: Snapshot, found: list[tuple[str, int]], tokens: list[int], ltp: list[float], ohlc: list[dict[str, float]]
    ) -> dict[str, Any]:
        moment = snap.point.moment
        stamp = format_timestamp(moment)
        trade_times = {
            lag: format_timestamp(moment - timedelta(seconds=lag)) for lag in set(snap.last_trade_lag.tolist())
        }
        book = snap.book()
        cols = {
            name: getattr(snap, name).tolist()
            for name in (
                "last_quantity",
                "buy_quantity",
                "sell_quantity",
                "volume",
                "average_price",
                "oi",
                "oi_day_high",
                "oi_day_low",
                "lower_circuit",
                "upper_circuit",
                "close",
                "last_trade_lag",
            )
        }
        out: dict[str, Any] = {}
        for i, (key, _) in enumerate(found):
            bids, asks = book.levels(i)
            out[key] = {
                "instrument_token": tokens[i],
                "timestamp": stamp,
                "last_trade_time": trade_times[cols["last_trade_lag"][i]],
                "last_price": ltp[i],
                "last_quantity": cols["last_quantity"][i],
                "buy_quantity": cols["buy_quantity"][i],
                "sell_quantity": cols["sell_quantity"][i],
                "volume": cols["volume"][i],
                "average_price": cols["average_price"][i],
                "oi": cols["oi"][i],
                "oi_day_high": cols["oi_day_high"][i],
                "oi_day_low": cols["oi_day_low"][i],
                "net_change": round(ltp[i] - cols["close"][i], 4),
                "lower_circuit_limit": cols["lower_circuit"][i],
                "upper_circuit_limit": cols["upper_circuit"][i],
                "ohlc": ohlc[i],
                "depth": {
                    "buy": [{"price": p, "quantity": q, "orders": o} for p, q, o in bids],
                    "sell": [{"price": p, "quantity": q, "orders": o} for p, q, o in asks],
                },
            }
        return out

    async def instruments(self, request: Request, grant: Grant | None) -> Any:
        """``GET /instruments`` and ``GET /instruments/{exchange}``: the CSV dump, gzip when accepted."""
        exchange = request.path_params.get("exchange")
        if exchange is not None and exchange not in EXCHANGES:
            raise invalid_input(f"Invalid exchange {exchange!r}. Use one of {', '.join(EXCHANGES)}.")
        uni: Universe = await run_in_threadpool(self.market.universe, self.clock.now())
        raw, gz = await run_in_threadpool(uni.dump, exchange)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(gz, media_type="text/csv", headers={"content-encoding": "gzip"})
        return Response(raw, media_type="text/csv")

    async def historical(self, request: Request, grant: Grant | None) -> Any:
        """``GET /instruments/historical/{token}/{interval}?from=…&to=…&continuous=0|1&oi=0|1``."""
        q = request.query_params
        token_text, interval_text = request.path_params["token"], request.path_params["interval"]
        if not token_text.isdigit():
            raise invalid_input("invalid token")
        try:
            interval = Interval(interval_text)
        except ValueError:
            raise invalid_input(
                f"invalid interval {interval_text!r}; use one of {', '.join(i.value for i in Interval)}"
            ) from None
        if not q.get("from") or not q.get("to"):
            raise invalid_input("`from` and `to` are required (yyyy-mm-dd hh:mm:ss).")
        try:
            start = parse_kite_datetime(q["from"])
            end = parse_kite_datetime(q["to"])
        except ValueError as exc:
            raise invalid_input(f"invalid from/to date: {exc}") from None
        if len(q["to"].strip()) == 10:
            end += timedelta(days=1, seconds=-1)  # SIM: a bare `to` date means the whole of that day
        if end < start:
            raise invalid_input("`from` date is after `to` date.")
        if end - start > timedelta(days=interval.max_days):
            raise invalid_input(f"interval exceeds max limit: {interval.max_days} days")
        continuous, with_oi = _flag(q.get("continuous")), _flag(q.get("oi"))
        if continuous and interval.intraday:
            raise invalid_input("continuous data is available only for the `day` interval")
        now = self.clock.now()
        uni = await run_in_threadpool(self.market.universe, now)
        row = uni.resolve(token_text)
        if row is None:
            raise invalid_input("invalid token")
        if continuous and uni.segment[row] not in ("NFO-FUT", "MCX-FUT", "BFO-FUT", "CDS-FUT"):
            raise invalid_input("continuous data is available only for futures")
        candles = await run_in_threadpool(self.market.candles, uni, row, interval, start, end, now, with_oi, continuous)
        for c in candles:
            c[0] = format_candle_time(c[0])  # type: ignore[arg-type]
        return {"candles": candles}

    # -- admin -------------------------------------------------------------------------------------
    async def admin_info(self, request: Request) -> Response:
        """``GET /__sim/info``: public settings and counters (never the secret)."""
        cfg = self.config
        return _json(
            success_body(
                {
                    "api_key": cfg.api_key,
                    "user_id": cfg.user_id,
                    "redirect_url": cfg.redirect_url,
                    "login_mode": str(cfg.login_mode),
                    "seed": cfg.seed,
                    "now": self.clock.now().isoformat(),
                    "live_sessions": self.auth.live_sessions(),
                    "rate_limited": self.limiter.rejected,
                    "faults": asdict(self.faults.config),
                    "faults_injected": {str(k): v for k, v in self.faults.injected.items()},
                }
            )
        )

    async def admin_faults(self, request: Request) -> Response:
        """``GET|PUT|DELETE /__sim/faults``: read, change or clear fault injection."""
        if request.method == "DELETE":
            self.faults.update(
                latency_ms=0,
                jitter_ms=0,
                network_error_rate=0,
                data_error_rate=0,
                html_502_rate=0,
                drop_rate=0,
                paths=(),
            )
        elif request.method == "PUT":
            try:
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("send a JSON object of fault settings")
                self.faults.update(**body)
            except ValueError as exc:
                return _error(invalid_input(str(exc)))
        return _json(success_body(asdict(self.faults.config)))

    async def admin_expire(self, request: Request) -> Response:
        """``POST /__sim/expire-tokens``: revoke every access token now (forced expiry)."""
        return _json(success_body({"expired": self.auth.expire_all()}))

    async def admin_app(self, request: Request) -> Response:
        """``PUT /__sim/app`` JSON ``{redirect_url?, login_mode?}``: re-register the app's redirect URL."""
        try:
            body = await request.json()
            if "redirect_url" in body:
                url = str(body["redirect_url"])
                if urlsplit(url).scheme not in ("http", "https"):
                    raise ValueError("redirect_url must be an http(s) URL")
                self.config.redirect_url = url
            if "login_mode" in body:
                self.config.login_mode = LoginMode(body["login_mode"])
        except (ValueError, TypeError) as exc:
            return _error(invalid_input(str(exc)))
        return _json(
            success_body({"redirect_url": self.config.redirect_url, "login_mode": str(self.config.login_mode)})
        )

    async def admin_reset_limits(self, request: Request) -> Response:
        """``POST /__sim/rate-limits/reset``: forget rate-limit history."""
        self.limiter.reset()
        return _json(success_body(True))
