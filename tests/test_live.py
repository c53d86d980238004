"""Against the real Kite API; skipped unless KITE_LIVE=1 and credentials are given (never in CI)."""

from __future__ import annotations

import pytest

from kitekit.config import load_settings
from kitekit.session import SessionManager

pytestmark = pytest.mark.live


def test_saved_session_reaches_the_real_profile() -> None:
    kite = SessionManager(load_settings()).get_kite(verify=True)
    assert kite.profile()["user_id"]


def test_real_ltp_of_nifty_50_has_its_known_token() -> None:
    kite = SessionManager(load_settings()).get_kite()
    assert kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["instrument_token"] == 256265
