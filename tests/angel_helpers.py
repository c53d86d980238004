"""Helpers of the Angel simulator's tests: an official SmartConnect logged in to it."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from kitekit.clock import Clock
from kitekit.sim.angel.server import AngelSimServer

#: The SDK's SmartConnect sets TLS options Python deprecates; its own warning, not ours.
SDK_WARNINGS = pytest.mark.filterwarnings("ignore:ssl.OP_NO_SSL.*deprecated:DeprecationWarning")


def totp_now(server: AngelSimServer, clock: Clock) -> str:
    """Return the TOTP code the simulator accepts at ``clock``'s time."""
    return str(pyotp.TOTP(server.angel.config.totp_secret).at(clock.now()))


def smart_connect(smartapi: dict[str, Any], server: AngelSimServer, clock: Clock) -> tuple[Any, dict[str, Any]]:
    """Return an official ``SmartConnect`` logged in to ``server`` (``root=``) and ``generateSession``'s answer."""
    cfg = server.angel.config
    client = smartapi["connect"].SmartConnect(api_key=cfg.api_key, root=server.url)
    session = client.generateSession(cfg.client_code, cfg.pin, totp_now(server, clock))
    return client, session
