"""Kite's user API: ``/user/profile`` and ``/user/margins[/{segment}]``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from kitekit.sim.auth import Grant
from kitekit.sim.config import SimConfig
from kitekit.sim.errors import invalid_input
from kitekit.wire.orders import OrderType, Product
from kitekit.wire.routes import EXCHANGES

if TYPE_CHECKING:
    from kitekit.sim.http.app import SimApp

__all__ = ["margins_payload", "profile_payload", "routes", "segment_margins"]

#: Funds of the simulated account per segment, until the exchange keeps real accounts.
_CASH = {"equity": 1_000_000.0, "commodity": 250_000.0}


def profile_payload(config: SimConfig) -> dict[str, Any]:
    """Return the ``data`` of ``GET /user/profile`` for the simulator's one user."""
    return {
        "user_id": config.user_id,
        "user_type": "individual",
        "email": config.email,
        "user_name": config.user_name,
        "user_shortname": config.user_name.split()[0],
        "broker": "ZERODHA",
        "exchanges": list(EXCHANGES),
        # CO is not a product a user is enabled for: it only labels cover orders in the order book.
        "products": [p.value for p in Product if p is not Product.CO],
        "order_types": [t.value for t in OrderType],
        "avatar_url": None,
        "meta": {"demat_consent": "consent"},
    }


def segment_margins(cash: float) -> dict[str, Any]:
    """Return one segment's funds block: ``cash`` available and nothing utilised."""
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


def margins_payload(segment: str | None = None) -> dict[str, Any]:
    """Return the ``data`` of ``GET /user/margins`` (both segments) or of ``/user/margins/{segment}``.

    Raises:
        ApiError: ``segment`` is neither ``equity`` nor ``commodity`` (400 InputException).
    """
    both = {name: segment_margins(cash) for name, cash in _CASH.items()}
    if segment is None:
        return both
    if segment not in both:
        raise invalid_input("Invalid segment. Use `equity` or `commodity`.")
    return both[segment]


def routes(sim: SimApp) -> list[BaseRoute]:
    """Return the user routes."""

    async def profile(request: Request, grant: Grant | None) -> Any:
        """``GET /user/profile``."""
        return profile_payload(sim.config)

    async def margins(request: Request, grant: Grant | None) -> Any:
        """``GET /user/margins`` and ``GET /user/margins/{segment}``."""
        return margins_payload(request.path_params.get("segment"))

    return [
        Route("/user/profile", sim.api(profile), methods=["GET"]),
        Route("/user/margins", sim.api(margins), methods=["GET"]),
        Route("/user/margins/{segment}", sim.api(margins), methods=["GET"]),
    ]
