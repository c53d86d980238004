"""Kite's login, as a browser and a TOTP script meet it: ``/connect/*`` pages and the ``/api/*`` web login.

The pages end in a redirect to the app's registered URL with a request token (docs/protocol.md §3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from kitekit.sim.auth import Grant
from kitekit.sim.config import LoginMode
from kitekit.sim.http import pages
from kitekit.sim.http.edge import form_of, success_response
from kitekit.wire.envelope import ErrorType, RejectionError

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = ["SESSION_COOKIE", "redirect_location", "routes", "web_login_payload"]

#: The browser session cookie set once a user passes 2FA; later logins skip the forms while it lives.
SESSION_COOKIE = "kf_session"


def redirect_location(redirect_url: str, params: dict[str, str], redirect_params: str) -> str:
    """Return the app's redirect URL with ``params`` and the app's own ``redirect_params`` appended.

    Args:
        redirect_url: the registered URL; its own query is kept.
        params: Kite's pairs (``action``, ``type``, ``status``, ``request_token``).
        redirect_params: what the app passed to the login page, url-encoded (``k=v&k2=v2``); its pairs come
            back as plain query pairs.
    """
    parts = urlsplit(redirect_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += list(params.items())
    query += parse_qsl(redirect_params, keep_blank_values=True)
    return urlunsplit(parts._replace(query=urlencode(query)))


def web_login_payload(user_id: str, request_id: str) -> dict[str, Any]:
    """Return the ``data`` of ``POST /api/login``: the request id the TOTP step needs."""
    return {
        "user_id": user_id,
        "request_id": request_id,
        "twofa_type": "totp",
        "twofa_types": ["totp"],
        "twofa_status": "active",
    }


def routes(sim: SimState) -> list[BaseRoute]:
    """Return the login routes: the browser pages and the web-login API."""

    def redirect(params: dict[str, str], redirect_params: str) -> RedirectResponse:
        return RedirectResponse(redirect_location(sim.config.redirect_url, params, redirect_params), status_code=302)

    def approve(api_key: str, redirect_params: str) -> RedirectResponse:
        token = sim.auth.issue_request_token(api_key, redirect_params)
        return redirect(
            {"action": "login", "type": "login", "status": "success", "request_token": token}, redirect_params
        )

    async def login_get(request: Request) -> Response:
        """``GET /connect/login?api_key=…&v=3[&redirect_params=…]``: the login page, or on to the app."""
        api_key = request.query_params.get("api_key", "")
        redirect_params = request.query_params.get("redirect_params", "")
        try:
            sim.auth.check_api_key(api_key)
        except RejectionError as err:
            return HTMLResponse(pages.error_page(err.message), status_code=400)
        if sim.config.login_mode is LoginMode.AUTO or sim.auth.web_session_ok(request.cookies.get(SESSION_COOKIE)):
            return approve(api_key, redirect_params)
        return HTMLResponse(pages.login_page(api_key, redirect_params, sim.config.user_id))

    async def login_post(request: Request) -> Response:
        """``POST /connect/login``: check user id and password, then ask for the TOTP."""
        form = await form_of(request)
        api_key, rp = form.get("api_key", ""), form.get("redirect_params", "")
        user_id = form.get("user_id", "")
        try:
            sim.auth.check_api_key(api_key)
            request_id = sim.auth.password_login(user_id, form.get("password", ""))
        except RejectionError as err:
            return HTMLResponse(pages.login_page(api_key, rp, user_id, err.message), status_code=400)
        return HTMLResponse(pages.totp_page(api_key, rp, user_id.upper(), request_id))

    async def twofa_post(request: Request) -> Response:
        """``POST /connect/twofa``: check the TOTP, set the browser session, redirect to the app."""
        form = await form_of(request)
        api_key, rp = form.get("api_key", ""), form.get("redirect_params", "")
        user_id, request_id = form.get("user_id", ""), form.get("request_id", "")
        try:
            session = sim.auth.twofa(user_id, request_id, form.get("twofa_value", ""))
            response = approve(api_key, rp)
        except RejectionError as err:
            # A dead login request sends the user back to the password form; a wrong code, to the TOTP form.
            if err.error_type is ErrorType.TOKEN:
                return HTMLResponse(pages.login_page(api_key, rp, user_id, err.message), status_code=400)
            return HTMLResponse(pages.totp_page(api_key, rp, user_id, request_id, err.message), status_code=400)
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="lax")
        return response

    async def cancel_post(request: Request) -> Response:
        """``POST /connect/cancel``: the user gave up; the app learns it from ``status=cancelled``."""
        form = await form_of(request)
        return redirect({"action": "login", "type": "login", "status": "cancelled"}, form.get("redirect_params", ""))

    async def web_login(request: Request, _: Grant | None) -> Any:
        """``POST /api/login`` form ``user_id, password``."""
        form = await form_of(request)
        user_id = form.get("user_id", "").upper()
        return web_login_payload(user_id, sim.auth.password_login(user_id, form.get("password", "")))

    async def web_twofa(request: Request, _: Grant | None) -> Any:
        """``POST /api/twofa`` form ``user_id, request_id, twofa_value``; sets the browser session cookie."""
        form = await form_of(request)
        session = sim.auth.twofa(form.get("user_id", ""), form.get("request_id", ""), form.get("twofa_value", ""))
        response = success_response({"profile": {}})
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="lax")
        return response

    return [
        Route("/connect/login", login_get, methods=["GET"]),
        Route("/connect/login", login_post, methods=["POST"]),
        Route("/connect/twofa", twofa_post, methods=["POST"]),
        Route("/connect/cancel", cancel_post, methods=["POST"]),
        Route("/api/login", sim.api(web_login, auth=False), methods=["POST"]),
        Route("/api/twofa", sim.api(web_twofa, auth=False), methods=["POST"]),
    ]
