"""The transport's session guard: a rejected token marks the saved session dead and later calls stop early.

Pacing is tested in ``test_pacer.py`` and retries in ``test_retry.py``; this file covers what the transport
adds around a saved session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from kitekit.errors import SessionExpiredError
from kitekit.rest.retry import RetryPolicy
from kitekit.session import SessionManager, SessionStore
from kitekit.sim.server import SimServer

from .conftest import sim_settings

FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05)


def test_token_errors_are_not_retried_and_mark_the_session_dead(sim: SimServer, tmp_path: Path) -> None:
    manager = SessionManager(sim_settings(sim), SessionStore(tmp_path / "s.json"), clock=sim.sim.clock, retry=FAST)
    manager.login_with_totp()
    kite = manager.get_kite()
    requests.post(f"{sim.url}/__sim/expire-tokens", timeout=5)
    with pytest.raises(SessionExpiredError):
        kite.profile()
    assert sim.sim.requests["GET /user/profile"] == 1
    saved = manager.saved()
    assert saved is not None and saved.dead
    with pytest.raises(SessionExpiredError):  # the guard now stops it before the network
        kite.margins()
    assert sim.sim.requests["GET /user/margins"] == 0
