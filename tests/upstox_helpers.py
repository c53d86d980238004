"""Helpers for the Upstox simulator tests: log the official SDK in, build its API objects."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import upstox_client

from kitekit.sim.upstox import UpstoxServer
from kitekit.sim.upstox.sdk import sim_configuration

API_VERSION = "2.0"


def dialog_code(server: UpstoxServer, state: str = "") -> str:
    """Open the authorization dialog (auto-approved) and return the ``code`` of its redirect."""
    config = server.sim.config
    params = {"client_id": config.client_id, "redirect_uri": config.redirect_uri, "response_type": "code"}
    if state:
        params["state"] = state
    r = requests.get(f"{server.url}/v2/login/authorization/dialog", params=params, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["location"]).query)["code"][0]


def sdk_login(server: UpstoxServer) -> tuple[Any, Any]:
    """Log in through the dialog and the SDK's ``LoginApi.token``; return ``(ApiClient, TokenResponse)``."""
    config = server.sim.config
    code = dialog_code(server)
    login = upstox_client.LoginApi(upstox_client.ApiClient(sim_configuration(server.url)))
    token = login.token(
        API_VERSION,
        code=code,
        client_id=config.client_id,
        client_secret=config.client_secret,
        redirect_uri=config.redirect_uri,
        grant_type="authorization_code",
    )
    return upstox_client.ApiClient(sim_configuration(server.url, token.access_token)), token
