"""Upstox's logins: the authorization dialog and its redirect, the token exchange, logout, the v3 token request.

``GET /v2/login/authorization/dialog`` approves at once (``auto_approve``) or shows a one-button page whose
form posts back to it; either way the browser is sent to the redirect URI with a single-use ``code`` (and the
``state`` it was given). The v3 token request, once approved, POSTs the token to the app's notifier URL.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from kitekit.sim.upstox.auth import PendingRequest, UpstoxGrant
from kitekit.sim.upstox.http.state import json_body, json_response, success
from kitekit.wire.upstox.errors import UDAPI, UpstoxError
from kitekit.wire.upstox.routes import Route as Paths

if TYPE_CHECKING:
    from kitekit.sim.upstox.http.state import UpstoxState

__all__ = ["deliver", "profile", "routes", "webhook_payload"]

log = logging.getLogger("kitekit.sim.upstox")


def profile(state: UpstoxState) -> dict[str, Any]:
    """Return the simulator's user as ``GET /v2/user/profile`` shows it."""
    shared = state.config.shared
    return {
        "email": shared.email,
        "exchanges": ["NSE", "NFO", "BSE", "BFO", "CDS", "BCD", "MCX"],
        "products": ["D", "I", "CO", "MTF"],
        "broker": "UPSTOX",
        "user_id": shared.user_id,
        "user_name": shared.user_name,
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        "user_type": "individual",
        "poa": False,
        "is_active": True,
    }


def webhook_payload(state: UpstoxState, grant: UpstoxGrant) -> dict[str, Any]:
    """Return what Upstox POSTs to the notifier URL when a token request is approved."""
    return {
        "client_id": state.config.client_id,
        "user_id": grant.user_id,
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "expires_at": str(int(grant.expires.timestamp() * 1000)),
        "issued_at": str(int(grant.issued.timestamp() * 1000)),
        "message_type": "access_token",
    }


def deliver(state: UpstoxState, pending: PendingRequest, grant: UpstoxGrant) -> None:
    """POST the approved token to the request's notifier URL in the background (failures are logged, not retried).

    SIM: Upstox's retry policy for a webhook that fails is not documented.
    """
    payload = webhook_payload(state, grant)
    state.auth.delivered.append({k: v for k, v in payload.items() if k != "access_token"})
    url = pending.notifier_url
    if not url:
        return

    def post() -> None:
        req = urllib.request.Request(  # noqa: S310 - the app's own configured http(s) URL
            url, json.dumps(payload).encode(), {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as answer:  # noqa: S310
                answer.read()
        except OSError as exc:
            log.warning("the token webhook at %s failed: %s", urlsplit(url).netloc, exc)

    threading.Thread(target=post, name="upstox-webhook", daemon=True).start()


def _redirect(uri: str, code: str, state_param: str | None) -> str:
    parts = urlsplit(uri)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("code", code)]
    if state_param is not None:
        query.append(("state", state_param))
    return urlunsplit(parts._replace(query=urlencode(query)))


def routes(state: UpstoxState) -> list[BaseRoute]:
    """Return the login routes."""
    auth = state.auth

    async def dialog(request: Request) -> Response:
        """``GET|POST /v2/login/authorization/dialog?client_id=…&redirect_uri=…&state=…``."""
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(dict(parse_qsl((await request.body()).decode("utf-8", "replace"))))
        try:
            auth.check_client(params.get("client_id", ""), params.get("redirect_uri", ""))
        except UpstoxError as err:
            return json_response(err.body(), err.status)
        if state.config.auto_approve or request.method == "POST":
            code = auth.issue_code(params["redirect_uri"])
            return RedirectResponse(_redirect(params["redirect_uri"], code, params.get("state")), status_code=302)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
        )
        return HTMLResponse(
            "<html><body><h1>Upstox simulator</h1><p>Allow this app to use your simulated account?</p>"
            f'<form method="post">{hidden}<button type="submit">Approve</button></form></body></html>'
        )

    async def token(request: Request, grant: UpstoxGrant | None) -> Any:
        """``POST /v2/login/authorization/token`` (form): the profile and tokens, flat (no envelope)."""
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        issued = auth.exchange(form)
        return json_response(
            {**profile(state), "access_token": issued.access_token, "extended_token": issued.extended_token}
        )

    async def logout(request: Request, grant: UpstoxGrant | None) -> Any:
        """``DELETE /v2/logout``: ``true``; the token stops working."""
        if grant is not None:
            auth.logout(grant)
        return True

    async def token_request(request: Request, grant: UpstoxGrant | None) -> Any:
        """``POST /v3/login/auth/token/request/{client_id}`` JSON ``{client_secret}``: the request's expiry."""
        body = await json_body(request)
        secret = body.get("client_secret") if isinstance(body, dict) else None
        if not isinstance(secret, str):
            raise UpstoxError(UDAPI.INVALID_INPUT, "client_secret is required", "client_secret")
        pending = auth.request_token(request.path_params["client_id"], secret)
        if state.config.auto_approve_requests:
            approved = auth.approve(pending.request_id)
            if approved is not None:
                deliver(state, *approved)
        return success(
            {
                "authorization_expiry": str(int(pending.expires.timestamp() * 1000)),
                "notifier_url": pending.notifier_url or "",
            }
        )

    return [
        Route(Paths.AUTH_DIALOG, dialog, methods=["GET", "POST"]),
        Route(Paths.AUTH_TOKEN, state.api(token, "token", auth=False), methods=["POST"]),
        Route(Paths.LOGOUT, state.api(logout, "logout"), methods=["DELETE"]),
        Route(Paths.TOKEN_REQUEST, state.api(token_request, "token_request", auth=False), methods=["POST"]),
    ]
