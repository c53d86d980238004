"""The simulator's login flow and session routes, driven by the official SDK over real HTTP."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.clock import IST, ManualClock
from kitekit.sim.auth import AuthState, checksum
from kitekit.sim.config import LoginMode, SimConfig
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer

from .shapes import SESSION, assert_shape


def _request_token(sim: SimServer, **params: str) -> tuple[str, dict[str, list[str]]]:
    sim.sim.config.login_mode = LoginMode.AUTO
    query = {"api_key": sim.sim.config.api_key, "v": "3", **params}
    r = requests.get(f"{sim.url}/connect/login", params=query, allow_redirects=False, timeout=5)
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["location"]).query)
    return q.get("request_token", [""])[0], q


def _kite(sim: SimServer) -> KiteConnect:
    return KiteConnect(sim.sim.config.api_key, root=sim.url)


def test_checksum_matches_the_documented_example() -> None:
    assert checksum("key1", "req1", "sec1") == "99d7b944f0bace657a23bed939872dd1ca31cdccff94d41146ee7403c610297d"


def test_login_redirect_carries_status_request_token_and_redirect_params(sim: SimServer) -> None:
    token, q = _request_token(sim, redirect_params="state=abc&next=%2Fhome")
    assert q["action"] == ["login"] and q["type"] == ["login"] and q["status"] == ["success"]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", token)
    assert q["state"] == ["abc"] and q["next"] == ["/home"]


def test_generate_session_returns_every_session_field(sim: SimServer) -> None:
    kite = _kite(sim)
    session = login_via_redirect(sim, kite)
    # The SDK turned login_time into a datetime; check the raw payload through a second exchange.
    assert isinstance(session["login_time"], datetime)
    token, _ = _request_token(sim)
    raw = requests.post(
        f"{sim.url}/session/token",
        timeout=5,
        data={
            "api_key": sim.sim.config.api_key,
            "request_token": token,
            "checksum": hashlib.sha256(
                (sim.sim.config.api_key + token + sim.sim.config.api_secret).encode()
            ).hexdigest(),
        },
    ).json()
    assert raw["status"] == "success"
    assert_shape(raw["data"], SESSION)
    assert len(raw["data"]["login_time"]) == 19


def test_bad_checksum_is_a_403_token_exception(sim: SimServer) -> None:
    token, _ = _request_token(sim)
    with pytest.raises(kex.TokenException) as err:
        _kite(sim).generate_session(token, "not-the-secret")
    assert err.value.code == 403
    assert str(err.value) == "Invalid `checksum`."


def test_request_token_works_only_once(sim: SimServer) -> None:
    token, _ = _request_token(sim)
    _kite(sim).generate_session(token, sim.sim.config.api_secret)
    with pytest.raises(kex.TokenException) as err:
        _kite(sim).generate_session(token, sim.sim.config.api_secret)
    assert err.value.code == 403


def test_request_token_expires_after_its_lifetime(sim: SimServer, sim_clock: ManualClock) -> None:
    token, _ = _request_token(sim)
    sim_clock.advance(sim.sim.config.request_token_ttl_s + 1)
    with pytest.raises(kex.TokenException):
        _kite(sim).generate_session(token, sim.sim.config.api_secret)


def test_unknown_api_key_is_refused_on_login_page_and_exchange(sim: SimServer) -> None:
    r = requests.get(f"{sim.url}/connect/login", params={"api_key": "nope", "v": "3"}, timeout=5)
    assert r.status_code == 400 and "Invalid `api_key`" in r.text
    with pytest.raises(kex.InputException):
        KiteConnect("nope", root=sim.url).generate_session("x" * 32, "s")


def test_missing_or_garbled_authorization_is_a_403(sim: SimServer) -> None:
    for headers in ({}, {"Authorization": "token nonsense"}, {"Authorization": "Bearer x"}):
        r = requests.get(f"{sim.url}/user/profile", headers=headers, timeout=5)
        assert r.status_code == 403
        assert r.json() == {
            "status": "error",
            "message": "Incorrect `api_key` or `access_token`.",
            "error_type": "TokenException",
            "data": None,
        }


def test_invalidated_token_gets_403_and_the_hook_runs(sim_kite: KiteConnect) -> None:
    calls: list[int] = []
    sim_kite.set_session_expiry_hook(lambda: calls.append(1))
    assert sim_kite.invalidate_access_token() is True
    with pytest.raises(kex.TokenException) as err:
        sim_kite.profile()
    assert err.value.code == 403 and calls == [1]


def test_token_expires_at_six_the_next_morning(sim: SimServer, sim_clock: ManualClock) -> None:
    kite = _kite(sim)
    login_via_redirect(sim, kite)  # logged in at 11:00 on Friday
    sim_clock.set(datetime(2026, 11, 28, 5, 59, 59, tzinfo=IST))
    assert kite.profile()["user_id"] == sim.sim.config.user_id
    sim_clock.set(datetime(2026, 11, 28, 6, 0, 0, tzinfo=IST))
    with pytest.raises(kex.TokenException):
        kite.profile()


def test_forced_expiry_from_the_admin_endpoint(sim_kite: KiteConnect, sim: SimServer) -> None:
    r = requests.post(f"{sim.url}/__sim/expire-tokens", timeout=5)
    assert r.json()["data"]["expired"] == 1
    with pytest.raises(kex.TokenException):
        sim_kite.profile()


def test_a_new_login_ends_the_previous_session(sim: SimServer) -> None:
    first, second = _kite(sim), _kite(sim)
    login_via_redirect(sim, first)
    login_via_redirect(sim, second)
    assert second.profile()
    with pytest.raises(kex.TokenException):
        first.profile()


def test_refresh_token_renews_and_can_be_invalidated(sim_config: SimConfig, sim: SimServer) -> None:
    sim_config.refresh_tokens = True
    kite = _kite(sim)
    session = login_via_redirect(sim, kite)
    assert session["refresh_token"]
    renewed = kite.renew_access_token(session["refresh_token"], sim_config.api_secret)
    assert renewed["access_token"] != session["access_token"]
    assert kite.profile()
    with pytest.raises(kex.TokenException):
        kite.renew_access_token(session["refresh_token"], "wrong-secret")
    assert kite.invalidate_refresh_token(session["refresh_token"]) is True
    with pytest.raises(kex.TokenException):
        kite.renew_access_token(session["refresh_token"], sim_config.api_secret)


def test_refresh_is_refused_when_the_app_gets_no_refresh_tokens(sim: SimServer) -> None:
    kite = _kite(sim)
    assert login_via_redirect(sim, kite)["refresh_token"] == ""
    with pytest.raises(kex.TokenException):
        kite.renew_access_token("made-up", sim.sim.config.api_secret)


def _browser_login(sim: SimServer, password: str, code: str) -> requests.Response:
    """Follow the login page as a browser would: GET the page, post the forms it shows."""
    cfg = sim.sim.config
    browser = requests.Session()
    page = browser.get(f"{sim.url}/connect/login", params={"api_key": cfg.api_key, "v": "3"}, timeout=5)
    assert page.status_code == 200 and "<form id='login'" in page.text
    fields = dict(re.findall(r"name='([a-z_]+)' value='([^']*)'", page.text))
    step = browser.post(
        f"{sim.url}/connect/login", timeout=5, data={**fields, "user_id": cfg.user_id, "password": password}
    )
    if "<form id='twofa'" not in step.text:
        return step
    fields = dict(re.findall(r"name='([a-z_]+)' value='([^']*)'", step.text))
    return browser.post(
        f"{sim.url}/connect/twofa", data={**fields, "twofa_value": code}, timeout=5, allow_redirects=False
    )


def test_form_login_with_password_and_totp_redirects_with_a_request_token(
    sim: SimServer, sim_clock: ManualClock
) -> None:
    sim.sim.auth.totp_clock = sim_clock  # codes made and checked at the test's time
    code = pyotp.TOTP(sim.sim.config.totp_secret).at(sim_clock.now())
    r = _browser_login(sim, sim.sim.config.password, code)
    assert r.status_code == 302
    assert parse_qs(urlsplit(r.headers["location"]).query)["status"] == ["success"]


def test_form_login_rejects_a_wrong_password(sim: SimServer) -> None:
    r = _browser_login(sim, "wrong", "000000")
    assert r.status_code == 400 and "Invalid `user_id` or `password`." in r.text


def test_totp_one_step_early_passes_and_two_steps_fail(sim: SimServer, sim_clock: ManualClock) -> None:
    sim.sim.auth.totp_clock = sim_clock  # codes made and checked at the test's time
    totp = pyotp.TOTP(sim.sim.config.totp_secret)
    previous_step = totp.at(sim_clock.now() - timedelta(seconds=30))
    assert _browser_login(sim, sim.sim.config.password, previous_step).status_code == 302
    stale = totp.at(sim_clock.now() - timedelta(seconds=90))
    r = _browser_login(sim, sim.sim.config.password, stale)
    assert r.status_code == 400 and "Invalid TOTP." in r.text


def test_cancel_redirects_with_status_cancelled(sim: SimServer) -> None:
    r = requests.post(
        f"{sim.url}/connect/cancel",
        data={"api_key": sim.sim.config.api_key},
        timeout=5,
        allow_redirects=False,
    )
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["status"] == ["cancelled"] and "request_token" not in q


def test_web_login_api_then_connect_login_redirects(sim: SimServer, sim_clock: ManualClock) -> None:
    sim.sim.auth.totp_clock = sim_clock  # codes made and checked at the test's time
    cfg = sim.sim.config
    web = requests.Session()
    login = web.post(f"{sim.url}/api/login", data={"user_id": cfg.user_id, "password": cfg.password}, timeout=5)
    request_id = login.json()["data"]["request_id"]
    bad = web.post(
        f"{sim.url}/api/twofa",
        timeout=5,
        data={
            "user_id": cfg.user_id,
            "request_id": request_id,
            "twofa_value": "000000",
            "twofa_type": "totp",
        },
    )
    assert bad.status_code == 400 and bad.json()["error_type"] == "InputException"
    ok = web.post(
        f"{sim.url}/api/twofa",
        timeout=5,
        data={
            "user_id": cfg.user_id,
            "request_id": request_id,
            "twofa_type": "totp",
            "twofa_value": pyotp.TOTP(cfg.totp_secret).at(sim_clock.now()),
        },
    )
    assert ok.json()["status"] == "success"
    r = web.get(
        f"{sim.url}/connect/login",
        params={"api_key": cfg.api_key, "v": "3"},
        allow_redirects=False,
        timeout=5,
    )
    assert r.status_code == 302 and "request_token=" in r.headers["location"]


def test_state_file_keeps_tokens_across_restarts(tmp_path, sim_market) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(datetime(2026, 11, 27, 11, 0, tzinfo=IST))
    cfg = SimConfig(state_file=tmp_path / "sim-state.json")
    with SimServer(cfg, clock, market=sim_market) as first:
        kite = _kite(first)
        login_via_redirect(first, kite)
    assert (tmp_path / "sim-state.json").stat().st_mode & 0o777 == 0o600
    with SimServer(SimConfig(state_file=tmp_path / "sim-state.json"), clock, market=sim_market) as second:
        kite.root = second.url
        assert kite.profile()["user_id"] == cfg.user_id


_GOOD_RECORD = {
    "access_token": "a" * 32,
    "api_key": "kitekit_sim",
    "user_id": "KK1234",
    "login_time": "2026-11-27T10:00:00+05:30",
    "expires_at": "2026-11-28T06:00:00+05:30",
    "public_token": "p" * 32,
    "enctoken": "e" * 48,
    "refresh_token": "",
    "revoked": False,
}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"null",
        b"[1, 2]",
        b'{"grants": {"a": 1}}',
        b'{"grants": [1]}',
        b'{"grants": [{"access_token": "x"}]}',
        json.dumps({"grants": [{**_GOOD_RECORD, "surprise": 1}]}).encode(),
        json.dumps({"grants": [{**_GOOD_RECORD, "expires_at": "tomorrow"}]}).encode(),
        json.dumps({"grants": [{**_GOOD_RECORD, "expires_at": "2026-11-28T06:00:00"}]}).encode(),
        json.dumps({"grants": [{**_GOOD_RECORD, "revoked": "no"}]}).encode(),
        json.dumps({"grants": [{**_GOOD_RECORD, "api_key": 7}]}).encode(),
    ],
)
def test_a_damaged_state_file_costs_only_a_fresh_login(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "sim-state.json"
    state.write_bytes(content)
    clock = ManualClock(datetime(2026, 11, 27, 11, 0, tzinfo=IST))
    cfg = SimConfig(state_file=state)
    auth = AuthState(cfg, clock)
    assert auth.live_sessions() == 0
    assert "ignoring the simulator state file" in caplog.text
    token = auth.issue_request_token(cfg.api_key)
    grant = auth.exchange(cfg.api_key, token, checksum(cfg.api_key, token, cfg.api_secret))
    assert auth.authenticate(f"token {cfg.api_key}:{grant.access_token}") is grant
    # The new login replaced the damaged file whole: 0600, readable again, no temporary file left.
    assert state.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [state.name]
    assert AuthState(SimConfig(state_file=state), clock).live_sessions() == 1


def test_a_sound_state_file_record_loads_as_a_grant(tmp_path: Path) -> None:
    state = tmp_path / "sim-state.json"
    state.write_text(json.dumps({"grants": [_GOOD_RECORD]}))
    auth = AuthState(SimConfig(state_file=state), ManualClock(datetime(2026, 11, 27, 11, 0, tzinfo=IST)))
    assert auth.live_sessions() == 1
    assert auth.authenticate(f"token kitekit_sim:{'a' * 32}").user_id == "KK1234"
