"""Kite's session API: ``/session/token`` (exchange, invalidate) and ``/session/refresh_token``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from kitekit.sim.auth import Grant
from kitekit.sim.errors import invalid_input
from kitekit.sim.http.edge import form_of
from kitekit.sim.http.user import profile_payload
from kitekit.wire.formats import format_timestamp

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = ["require", "routes", "session_payload"]


def session_payload(grant: Grant, profile: Mapping[str, Any]) -> dict[str, Any]:
    """Return the session object of ``POST /session/token``: the profile, the tokens and a 19-char login time.

    Args:
        grant: the access token just issued.
        profile: the user's profile, as :func:`profile_payload` gives it (``meta`` goes last, as on Kite).
    """
    return {
        **{k: v for k, v in profile.items() if k != "meta"},
        "api_key": grant.api_key,
        "access_token": grant.access_token,
        "public_token": grant.public_token,
        "enctoken": grant.enctoken,
        "refresh_token": grant.refresh_token,
        "silo": "",
        # The SDK parses login_time unconditionally; it must be exactly yyyy-mm-dd hh:mm:ss.
        "login_time": format_timestamp(datetime.fromisoformat(grant.login_time)),
        "meta": profile["meta"],
    }


def require(form: Mapping[str, str], *keys: str) -> None:
    """Raise a 400 InputException naming the first of ``keys`` missing or empty in ``form``."""
    for key in keys:
        if not form.get(key):
            raise invalid_input(f"Missing `{key}`.")


def routes(sim: SimState) -> list[BaseRoute]:
    """Return the session routes (no Authorization header: they are how a client gets one)."""

    async def create(request: Request, _: Grant | None) -> Any:
        """``POST /session/token`` form ``api_key, request_token, checksum``."""
        form = await form_of(request)
        require(form, "api_key", "request_token", "checksum")
        grant = sim.auth.exchange(form["api_key"], form["request_token"], form["checksum"])
        return session_payload(grant, profile_payload(sim.config))

    async def refresh(request: Request, _: Grant | None) -> Any:
        """``POST /session/refresh_token`` form ``api_key, refresh_token, checksum``."""
        form = await form_of(request)
        require(form, "api_key", "refresh_token", "checksum")
        grant = sim.auth.refresh(form["api_key"], form["refresh_token"], form["checksum"])
        return session_payload(grant, profile_payload(sim.config))

    async def delete(request: Request, _: Grant | None) -> Any:
        """``DELETE /session/token?api_key=…&access_token=…`` (or ``refresh_token``)."""
        q = request.query_params
        if not q.get("access_token") and not q.get("refresh_token"):
            raise invalid_input("Missing `access_token` or `refresh_token`.")
        sim.auth.invalidate(q.get("api_key", ""), q.get("access_token"), q.get("refresh_token"))
        return True

    return [
        Route("/session/token", sim.api(create, auth=False), methods=["POST"]),
        Route("/session/token", sim.api(delete, auth=False), methods=["DELETE"]),
        Route("/session/refresh_token", sim.api(refresh, auth=False), methods=["POST"]),
    ]
