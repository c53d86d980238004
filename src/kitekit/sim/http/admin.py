"""The simulator's own admin API under ``/__sim``: counters, faults, forced expiry, app settings, limits, the
exchange (its own view of every accepted order, order faults, a fresh account), and order postbacks.

Not part of Kite. Faults never apply here, so a test can always reach it to change or clear them.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kitekit.sessionclock import describe_clock
from kitekit.sim.config import LoginMode, SimConfig
from kitekit.sim.errors import invalid_input
from kitekit.sim.http.edge import error_response, json_of, success_response
from kitekit.sim.http.fault_edge import NO_FAULTS
from kitekit.sim.http.fault_edge import order_faults_payload as shared_order_faults_payload

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = [
    "PREFIX",
    "app_payload",
    "info_payload",
    "order_faults_payload",
    "postbacks_payload",
    "reset_user",
    "routes",
    "update_app",
]

#: Where the admin API is mounted.
PREFIX = "/__sim"


def info_payload(sim: SimState) -> dict[str, Any]:
    """Return the ``data`` of ``GET /__sim/info``: public settings and counters, never a secret."""
    cfg = sim.config
    return {
        "api_key": cfg.api_key,
        "user_id": cfg.user_id,
        "redirect_url": cfg.redirect_url,
        "login_mode": str(cfg.login_mode),
        "seed": cfg.seed,
        "allowed_ips": list(cfg.allowed_ips),
        "now": sim.clock.now().isoformat(),
        "live_sessions": sim.auth.live_sessions(),
        "rate_limited": sim.limiter.rejected,
        "faults": asdict(sim.faults.config),
        "faults_injected": {str(k): v for k, v in sim.faults.injected.items()},
        "order_faults_injected": {str(k): v for k, v in sim.order_faults.injected.items()},
        "orders_capped": sim.order_caps.rejected,
        "orders_accepted": len(sim.exchange.accepted_orders()),
        "postbacks": dict(sim.postbacks.counts),
        "requests": dict(sim.requests),
    }


def app_payload(config: SimConfig) -> dict[str, Any]:
    """Return the app settings ``PUT /__sim/app`` changes, as they now are."""
    return {"redirect_url": config.redirect_url, "login_mode": str(config.login_mode)}


def update_app(config: SimConfig, body: Any) -> None:
    """Apply ``PUT /__sim/app``'s JSON body ``{redirect_url?, login_mode?}`` to ``config``, all or nothing.

    Raises:
        ValueError: not a JSON object, an unknown key, a redirect URL that is not an absolute http(s) URL, or
            an unknown login mode; nothing is changed then.
    """
    if not isinstance(body, dict):
        raise ValueError('send a JSON object like {"redirect_url": "http://127.0.0.1:5055/callback"}')
    unknown = set(body) - {"redirect_url", "login_mode"}
    if unknown:
        raise ValueError(f"unknown app setting(s): {', '.join(sorted(unknown))}; use redirect_url, login_mode")
    url = body.get("redirect_url", config.redirect_url)
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("redirect_url must be an absolute http(s) URL")
    try:
        mode = LoginMode(body.get("login_mode", config.login_mode))
    except ValueError:
        raise ValueError(f"login_mode must be one of {', '.join(m.value for m in LoginMode)}") from None
    config.redirect_url, config.login_mode = url, mode


def order_faults_payload(sim: SimState) -> dict[str, Any]:
    """Return the order faults as configured, the scripted ones still to come, and how many struck."""
    return shared_order_faults_payload(sim.order_faults)


def postbacks_payload(sim: SimState) -> dict[str, Any]:
    """Return the postback settings (URL and faults), what is still to go out, and the counters."""
    sender = sim.postbacks
    return {
        **asdict(sender.config),
        "pending": sender.pending(),
        "counts": dict(sender.counts),
        "answers": {str(k): v for k, v in sender.answers.items()},
    }


def reset_user(sim: SimState, body: Any) -> str:
    """Check ``POST /__sim/reset``'s optional JSON body ``{user_id?}`` and return whose account to reset.

    Raises:
        ValueError: not a JSON object, an unknown key, or a user id that is not a short non-empty string.
    """
    if body is None:
        return sim.config.user_id
    if not isinstance(body, dict) or set(body) - {"user_id"}:
        raise ValueError('send nothing, or a JSON object like {"user_id": "KK1234"}')
    user_id = body.get("user_id", sim.config.user_id)
    if not isinstance(user_id, str) or not 0 < len(user_id) <= 64 or not user_id.isalnum():
        raise ValueError("user_id must be 1 to 64 letters and digits")
    return user_id


def routes(sim: SimState) -> list[BaseRoute]:
    """Return the admin routes, relative to :data:`PREFIX`."""

    async def info(request: Request) -> Response:
        """``GET /__sim/info``: public settings and counters (never the secret)."""
        return success_response(info_payload(sim))

    async def clock(request: Request) -> Response:
        """``GET /__sim/clock``: how the market clock runs, so a client tells the same time (one clock)."""
        return success_response(describe_clock(sim.clock))

    async def faults(request: Request) -> Response:
        """``GET|PUT|DELETE /__sim/faults``: read, change or clear fault injection."""
        if request.method == "DELETE":
            sim.faults.update(**NO_FAULTS)
        elif request.method == "PUT":
            try:
                body = await json_of(request)
                if not isinstance(body, dict):
                    raise ValueError("send a JSON object of fault settings")
                sim.faults.update(**body)
            except ValueError as exc:
                return error_response(invalid_input(str(exc)))
        return success_response(asdict(sim.faults.config))

    async def expire(request: Request) -> Response:
        """``POST /__sim/expire-tokens``: revoke every access token now (forced expiry)."""
        return success_response({"expired": sim.auth.expire_all()})

    async def app(request: Request) -> Response:
        """``PUT /__sim/app`` JSON ``{redirect_url?, login_mode?}``: re-register the app's redirect URL."""
        try:
            update_app(sim.config, await json_of(request))
        except ValueError as exc:  # a body that is not JSON is a ValueError too
            return error_response(invalid_input(str(exc)))
        return success_response(app_payload(sim.config))

    async def reset_limits(request: Request) -> Response:
        """``POST /__sim/rate-limits/reset``: forget rate-limit history (the order caps' counts too)."""
        sim.limiter.reset()
        sim.order_caps.reset()
        return success_response(True)

    async def orders(request: Request) -> Response:
        """``GET /__sim/orders``: every order the exchange ever accepted, all users, oldest first, with tags."""
        return success_response(sim.exchange.accepted_orders())

    async def order_faults(request: Request) -> Response:
        """``GET|PUT|DELETE /__sim/order-faults``: read, change (JSON body) or clear order placement faults."""
        if request.method == "DELETE":
            sim.order_faults.clear()
        elif request.method == "PUT":
            try:
                body = await json_of(request)
                if not isinstance(body, dict):
                    raise ValueError("send a JSON object of order fault settings")
                sim.order_faults.update(**body)
            except ValueError as exc:  # a body that is not JSON is a ValueError too
                return error_response(invalid_input(str(exc)))
        return success_response(order_faults_payload(sim))

    async def postbacks(request: Request) -> Response:
        """``GET|PUT|DELETE /__sim/postbacks``: read, change (JSON body: url and faults) or clear postback faults."""
        if request.method == "DELETE":
            sim.postbacks.clear_faults()
        elif request.method == "PUT":
            try:
                body = await json_of(request)
                if not isinstance(body, dict):
                    raise ValueError("send a JSON object of postback settings")
                sim.postbacks.update(**body)
            except ValueError as exc:  # a body that is not JSON is a ValueError too
                return error_response(invalid_input(str(exc)))
        return success_response(postbacks_payload(sim))

    async def reset(request: Request) -> Response:
        """``POST /__sim/reset`` (JSON ``{user_id?}`` optional): a fresh account, starting holdings and funds."""
        try:
            raw = await request.body()
            user_id = reset_user(sim, json.loads(raw) if raw.strip() else None)
        except ValueError as exc:
            return error_response(invalid_input(str(exc)))
        acct = sim.exchange.reset(user_id)
        return success_response({"user_id": user_id, "holdings": len(acct.engine.holdings(sim.clock.now()))})

    return [
        Route("/info", info, methods=["GET"]),
        Route("/clock", clock, methods=["GET"]),
        Route("/faults", faults, methods=["GET", "PUT", "DELETE"]),
        Route("/expire-tokens", expire, methods=["POST"]),
        Route("/app", app, methods=["PUT"]),
        Route("/rate-limits/reset", reset_limits, methods=["POST"]),
        Route("/orders", orders, methods=["GET"]),
        Route("/order-faults", order_faults, methods=["GET", "PUT", "DELETE"]),
        Route("/postbacks", postbacks, methods=["GET", "PUT", "DELETE"]),
        Route("/reset", reset, methods=["POST"]),
    ]
