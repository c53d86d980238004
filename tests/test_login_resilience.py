"""The daily login under faults: retried steps and flows, the failing step named, early-expiry warning, safe saves."""

from __future__ import annotations

import errno
import logging
import os
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
import requests

from kitekit.clock import IST, ManualClock
from kitekit.errors import LoginError
from kitekit.rest.pacer import Pacer
from kitekit.session import SessionManager, SessionStore
from kitekit.session.totp import LoginRetry
from kitekit.sim.config import SimConfig
from kitekit.sim.server import SimServer
from kitekit.wire.routes import EndpointClass

from .conftest import sim_settings

#: Retries that never really sleep, so a hundred logins under faults take seconds.
NO_WAIT = LoginRetry(sleep=lambda seconds: None, random=lambda: 0.0)


def faults(sim: SimServer, **settings: object) -> None:
    requests.put(f"{sim.url}/__sim/faults", json=settings, timeout=5).raise_for_status()


@pytest.fixture
def manager(unlimited: SimConfig, sim: SimServer, sim_clock: ManualClock, tmp_path: Path) -> SessionManager:
    # The simulator's limits are lifted, so the client need not pace either: a hundred logins take seconds.
    unpaced = Pacer(rates=dict.fromkeys(EndpointClass, 0.0))
    sim.sim.auth.totp_clock = sim_clock  # codes made and checked at the test's time: no wait for a fresh one
    return SessionManager(
        sim_settings(sim), SessionStore(tmp_path / "s.json"), clock=sim_clock, totp_clock=sim_clock, pacer=unpaced
    )


def test_the_totp_login_succeeds_in_99_of_100_runs_with_30_percent_of_requests_failing(
    sim: SimServer, manager: SessionManager
) -> None:
    # Every request of the flow (login page, /api/login, /api/twofa, the redirect, the exchange) has a 30%
    # chance of a 503, a gateway's HTML page or a dropped connection.
    faults(sim, network_error_rate=0.1, html_502_rate=0.1, drop_rate=0.1, seed=2026)
    succeeded = 0
    for _ in range(100):
        try:
            manager.login_with_totp(NO_WAIT)
        except LoginError:
            continue
        succeeded += 1
    assert succeeded >= 99
    assert sum(sim.sim.faults.injected.values()) > 150  # the faults really hit
    faults(sim, network_error_rate=0, html_502_rate=0, drop_rate=0)
    assert manager.get_kite(verify=True).profile()["user_id"] == sim.sim.config.user_id


@pytest.mark.parametrize(
    ("path", "step"),
    [
        ("/api/login", "password login (POST /api/login)"),
        ("/api/twofa", "TOTP check (POST /api/twofa)"),
        ("/connect/login", "login redirect (GET /connect/login)"),
        ("/session/token", "session exchange (POST /session/token)"),
    ],
)
def test_a_login_that_keeps_failing_names_the_step(
    sim: SimServer, manager: SessionManager, path: str, step: str
) -> None:
    faults(sim, network_error_rate=1.0, paths=[path])
    with pytest.raises(LoginError, match=re.escape(f"failed 3 times; the last failure was at the {step}")):
        manager.login_with_totp(LoginRetry(step_attempts=2, flow_attempts=3, sleep=lambda s: None))
    assert manager.saved() is None


def test_wrong_credentials_are_not_retried(sim: SimServer, manager: SessionManager, tmp_path: Path) -> None:
    wrong = SessionManager(replace(sim_settings(sim), password="wrong"), SessionStore(tmp_path / "w.json"))
    with pytest.raises(LoginError, match="Password login failed"):
        wrong.login_with_totp(NO_WAIT)
    assert sim.sim.requests["POST /api/login"] == 1


def test_a_login_just_before_six_warns_that_it_expires_within_the_hour(
    sim: SimServer, manager: SessionManager, sim_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sim_clock.set(datetime(2026, 11, 27, 5, 59, tzinfo=IST))
    with caplog.at_level(logging.WARNING, logger="kitekit.session"):
        session = manager.login_with_totp(NO_WAIT)
    assert session.expires_at == datetime(2026, 11, 27, 6, 0, tzinfo=IST)
    assert "expires at 06:00 IST, in 1 minutes" in caplog.text
    caplog.clear()
    sim_clock.set(datetime(2026, 11, 27, 8, 0, tzinfo=IST))
    with caplog.at_level(logging.WARNING, logger="kitekit.session"):
        manager.login_with_totp(NO_WAIT)
    assert "expires" not in caplog.text


def test_a_login_whose_save_fails_says_so_and_keeps_the_old_session_file(
    sim: SimServer, manager: SessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager.login_with_totp(NO_WAIT)
    before = manager.store.path.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", full_disk)  # the disk fills up as the new session is written
        with pytest.raises(LoginError, match=r"could not be saved .*No space left on device.*previous session file"):
            manager.login_with_totp(NO_WAIT)
    assert manager.store.path.read_bytes() == before
    assert not [p for p in manager.store.path.parent.iterdir() if p.name.endswith(".tmp")]
