"""The session manager against the simulator: logins of every kind, saved sessions, expiry, the hook."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from kiteconnect.exceptions import TokenException

from kitekit.clock import IST, ManualClock
from kitekit.config import Settings, with_overrides
from kitekit.errors import LoginError, NoSessionError, SessionExpiredError
from kitekit.session import SavedSession, SessionManager, SessionStore
from kitekit.session.login import parse_redirect
from kitekit.session.totp import LoginRetry
from kitekit.sim.config import SimConfig
from kitekit.sim.market import Market
from kitekit.sim.server import SimServer

from .conftest import eventually
from .conftest import sim_settings as base_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redirect_url(sim_config: SimConfig) -> str:
    """A loopback redirect URL on a free port, registered as the simulator app's redirect URL."""
    url = f"http://127.0.0.1:{free_port()}/kite/callback"
    sim_config.redirect_url = url
    return url


def sim_settings(sim: SimServer, **changes: Any) -> Settings:
    return with_overrides(base_settings(sim), **changes)


@pytest.fixture
def manager(sim: SimServer, sim_clock: ManualClock, tmp_path: Path, redirect_url: str) -> SessionManager:
    store = SessionStore(tmp_path / "sessions" / "kitekit_sim.json")
    sim.sim.auth.totp_clock = sim_clock  # codes made and checked at the test's time, so it can move them
    return SessionManager(sim_settings(sim), store, clock=sim_clock, totp_clock=sim_clock)


def browse(login_url: str, password: str, code: str) -> requests.Response:
    """Act as a browser on the simulator's login page: fill both forms, then follow the final redirect."""
    web = requests.Session()
    page = web.get(login_url, timeout=5)
    fields = dict(re.findall(r"name='([a-z_]+)' value='([^']*)'", page.text))
    base = login_url.split("/connect/")[0]
    step = web.post(f"{base}/connect/login", data={**fields, "password": password}, timeout=5)
    fields = dict(re.findall(r"name='([a-z_]+)' value='([^']*)'", step.text))
    return web.post(f"{base}/connect/twofa", data={**fields, "twofa_value": code}, timeout=5)  # follows to us


def browser_for(sim: SimServer, clock: ManualClock, seen: list[requests.Response]) -> Any:
    def open_browser(url: str) -> bool:
        def run() -> None:
            seen.append(browse(url, sim.sim.config.password, pyotp.TOTP(sim.sim.config.totp_secret).at(clock.now())))

        threading.Thread(target=run, daemon=True).start()
        return True

    return open_browser


def test_redirect_login_is_captured_end_to_end(manager: SessionManager, sim: SimServer, sim_clock: ManualClock) -> None:
    seen: list[requests.Response] = []
    session = manager.login_with_redirect(timeout=20, open_browser=browser_for(sim, sim_clock, seen))
    assert session.user_id == sim.sim.config.user_id
    assert eventually(lambda: seen)[0].status_code == 200  # the browser got our "login complete" page
    assert "Login complete" in seen[0].text
    assert manager.store.path.stat().st_mode & 0o777 == 0o600
    assert manager.get_kite().profile()["user_id"] == session.user_id
    assert session.expires_at == datetime(2026, 11, 28, 6, 0, tzinfo=IST)


def state_of(login_url: str) -> str:
    """Return the state kitekit put in the login URL (Kite echoes it back on the redirect)."""
    redirect_params = parse_qs(urlsplit(login_url).query)["redirect_params"][0]
    return parse_qs(redirect_params)["state"][0]


def test_a_forged_or_stray_redirect_is_ignored_and_the_real_login_still_completes(
    manager: SessionManager, sim: SimServer, sim_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    forged: list[requests.Response] = []
    seen: list[requests.Response] = []
    real_browser = browser_for(sim, sim_clock, seen)

    def attacked_then_real(url: str) -> bool:
        token = sim.sim.auth.issue_request_token(sim.sim.config.api_key)
        for params in ({"status": "success", "request_token": token, "state": "not-ours"}, {"status": "cancelled"}):
            forged.append(requests.get(manager.settings.redirect_url, params=params, timeout=5))
        forged.append(requests.get(manager.settings.redirect_url, timeout=5))  # a stray visit, no query at all
        return bool(real_browser(url))

    session = manager.login_with_redirect(timeout=20, open_browser=attacked_then_real)
    assert session.user_id == sim.sim.config.user_id
    assert [r.status_code for r in forged] == [400, 400, 400]
    assert "not the login kitekit is waiting for" in forged[0].text
    assert "Ignored a request on the login redirect port" in caplog.text
    assert eventually(lambda: seen)[0].status_code == 200


def test_redirect_with_a_failed_status_is_refused(manager: SessionManager) -> None:
    def cancelled(url: str) -> bool:
        params = {"status": "cancelled", "state": state_of(url)}
        threading.Thread(
            target=lambda: requests.get(manager.settings.redirect_url, params=params, timeout=5), daemon=True
        ).start()
        return True

    with pytest.raises(LoginError, match="cancelled"):
        manager.login_with_redirect(timeout=20, open_browser=cancelled)


def test_no_redirect_times_out_with_advice(manager: SessionManager) -> None:
    with pytest.raises(LoginError, match="--paste"):
        manager.login_with_redirect(timeout=0.2, open_browser=None)


def test_a_busy_redirect_port_is_a_clear_error(manager: SessionManager) -> None:
    port = int(manager.settings.redirect_url.split(":")[2].split("/")[0])
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        with pytest.raises(LoginError, match="Cannot listen"):
            manager.login_with_redirect(timeout=1, open_browser=None)


def test_a_non_local_redirect_url_needs_paste(sim: SimServer, tmp_path: Path) -> None:
    remote = SessionManager(sim_settings(sim, redirect_url="https://example.com/cb"), SessionStore(tmp_path / "s.json"))
    with pytest.raises(LoginError, match="--paste"):
        remote.login_with_redirect(timeout=1, open_browser=None)


def _auto_redirect(sim: SimServer) -> str:
    """Return the URL the simulator redirects to after an auto-approved login."""
    from kitekit.sim.config import LoginMode

    sim.sim.config.login_mode = LoginMode.AUTO
    r = requests.get(
        f"{sim.url}/connect/login",
        params={"api_key": sim.sim.config.api_key, "v": "3"},
        allow_redirects=False,
        timeout=5,
    )
    sim.sim.config.login_mode = LoginMode.FORM
    return str(r.headers["location"])


def test_paste_accepts_the_whole_url_or_the_bare_token(manager: SessionManager, sim: SimServer) -> None:
    assert manager.login_with_paste(_auto_redirect(sim)).user_id == sim.sim.config.user_id
    token = parse_redirect(_auto_redirect(sim)).request_token
    assert manager.login_with_paste(f"  '{token}'\n").user_id == sim.sim.config.user_id


@pytest.mark.parametrize(
    ("pasted", "says"),
    [
        ("", "neither a request_token nor a redirect URL"),
        ("hello world", "neither a request_token nor a redirect URL"),
        ("https://x/cb?status=success", "carried no request_token"),
        ("https://x/cb?status=success&request_token=ab", "request_token in the redirect is malformed"),
        ("https://x/cb?status=error&request_token=abcdefgh12", "status='error' instead of success"),
    ],
)
def test_paste_of_garbage_is_a_clear_error(manager: SessionManager, pasted: str, says: str) -> None:
    with pytest.raises(LoginError, match=re.escape(says)):
        manager.login_with_paste(pasted)


def test_bad_checksum_says_the_secret_is_wrong_without_showing_it(sim: SimServer, tmp_path: Path) -> None:
    wrong = SessionManager(sim_settings(sim, api_secret="definitely-wrong"), SessionStore(tmp_path / "s.json"))
    with pytest.raises(LoginError, match="checksum") as err:
        wrong.login_with_paste(_auto_redirect(sim))
    assert "definitely-wrong" not in str(err.value)
    assert wrong.saved() is None


def test_a_reused_request_token_is_refused(manager: SessionManager, sim: SimServer) -> None:
    url = _auto_redirect(sim)
    manager.login_with_paste(url)
    with pytest.raises(LoginError, match="works once"):
        manager.login_with_paste(url)


def test_totp_login_saves_a_working_session(manager: SessionManager) -> None:
    session = manager.login_with_totp()
    assert manager.get_kite().profile()["user_id"] == session.user_id


def test_totp_login_with_a_wrong_secret_or_password_fails_clearly(sim: SimServer, tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.json")
    bad_totp = SessionManager(sim_settings(sim, totp_secret=pyotp.random_base32()), store)
    with pytest.raises(LoginError, match="TOTP check failed"):
        bad_totp.login_with_totp()
    bad_password = SessionManager(sim_settings(sim, password="nope"), store)
    with pytest.raises(LoginError, match="Password login failed"):
        bad_password.login_with_totp()
    assert store.load() is None


def test_totp_at_the_edge_of_its_window_waits_for_the_next_code(
    manager: SessionManager, sim_clock: ManualClock
) -> None:
    sim_clock.set(datetime(2026, 11, 27, 11, 0, 29, 500000, tzinfo=IST))  # 0.5 s before the code rolls over
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        sim_clock.advance(seconds)

    manager.login_with_totp(LoginRetry(sleep=sleep))
    assert waited and 0.5 <= waited[0] <= 1.0


def test_totp_login_needs_its_settings(sim: SimServer, tmp_path: Path) -> None:
    from kitekit.errors import CredentialsRequiredError

    partial = SessionManager(sim_settings(sim, totp_secret=None), SessionStore(tmp_path / "s.json"))
    with pytest.raises(CredentialsRequiredError, match="KITE_TOTP_SECRET"):
        partial.login_with_totp()


def test_get_kite_without_a_session_says_to_log_in(manager: SessionManager) -> None:
    with pytest.raises(NoSessionError, match="kitekit login"):
        manager.get_kite()


def test_locally_expired_token_fails_fast_with_no_network_call(
    sim_config: SimConfig, sim_clock: ManualClock, sim_market: Market, tmp_path: Path, redirect_url: str
) -> None:
    with SimServer(sim_config, sim_clock, market=sim_market) as server:
        manager = SessionManager(sim_settings(server), SessionStore(tmp_path / "s.json"), clock=sim_clock)
        manager.login_with_totp()
    # The simulator is gone: any network call would now be a ConnectionError.
    sim_clock.set(datetime(2026, 11, 28, 6, 0, tzinfo=IST))
    with pytest.raises(SessionExpiredError, match=r"expired at 2026-11-28 06:00 IST\. Log in again: kitekit login"):
        manager.get_kite()


def test_token_rejected_by_the_server_marks_the_session_dead(manager: SessionManager, sim: SimServer) -> None:
    manager.login_with_totp()
    requests.post(f"{sim.url}/__sim/expire-tokens", timeout=5)
    with pytest.raises(SessionExpiredError, match="rejected"):
        manager.get_kite(verify=True)
    assert manager.saved() is not None and manager.saved().dead  # type: ignore[union-attr]
    sim.stop()  # later calls must not even try the network
    with pytest.raises(SessionExpiredError, match="Log in again"):
        manager.get_kite()


def test_expiry_hook_on_the_client_marks_the_session_dead(manager: SessionManager, sim: SimServer) -> None:
    manager.login_with_totp()
    kite = manager.get_kite()
    requests.post(f"{sim.url}/__sim/expire-tokens", timeout=5)
    with pytest.raises(TokenException) as err:  # what users already catch…
        kite.margins()
    assert isinstance(err.value, SessionExpiredError)  # …carrying our message
    assert "kitekit login" in str(err.value)
    with pytest.raises(SessionExpiredError):
        manager.get_kite()


def test_a_ticker_refused_for_the_token_marks_the_saved_session_dead(manager: SessionManager, sim: SimServer) -> None:
    import asyncio

    from kitekit.ticker import Ticker

    manager.login_with_totp()
    kite = manager.get_kite()
    requests.post(f"{sim.url}/__sim/expire-tokens", timeout=5).raise_for_status()
    ticker = Ticker.from_kite(kite)  # a record-only cron job: no REST call ever runs the SDK's hook
    ticker.subscribe([738561])
    with pytest.raises(SessionExpiredError, match="HTTP 403"):
        asyncio.run(ticker.connect())
    assert sim.sim.requests["GET /user/profile"] == 0
    assert manager.saved().dead and manager.valid() is None  # type: ignore[union-attr]
    with pytest.raises(SessionExpiredError, match="rejected the saved access token"):
        manager.get_kite()


class CountingStore(SessionStore):
    """The usual store, counting how often the session file is read."""

    reads = 0

    def load(self) -> SavedSession | None:
        self.reads += 1
        return super().load()


def test_requests_read_the_session_file_again_only_once_another_process_changed_it(
    sim: SimServer, sim_clock: ManualClock, tmp_path: Path, redirect_url: str
) -> None:
    store = CountingStore(tmp_path / "sessions" / "kitekit_sim.json")
    sim.sim.auth.totp_clock = sim_clock
    manager = SessionManager(sim_settings(sim), store, clock=sim_clock, totp_clock=sim_clock)
    manager.login_with_totp()
    kite = manager.get_kite(verify=False)
    kite.profile()
    reads = store.reads
    for _ in range(5):
        kite.profile()
    assert store.reads == reads  # the file did not change: nothing read, nothing parsed
    SessionStore(store.path).update(dead=True)  # another process learnt the token is dead
    with pytest.raises(SessionExpiredError, match="Log in again"):
        kite.profile()
    assert sim.sim.requests["GET /user/profile"] == 6  # the last one failed fast, before the network


def test_get_kite_verifies_at_most_once_per_interval(
    manager: SessionManager, sim: SimServer, sim_clock: ManualClock
) -> None:
    manager.login_with_totp()
    manager.get_kite()
    manager.get_kite()
    assert sim.sim.requests["GET /user/profile"] == 0  # verified at login, within the interval
    sim_clock.advance(manager.verify_every)
    manager.get_kite()
    manager.get_kite()
    assert sim.sim.requests["GET /user/profile"] == 1


def test_logout_invalidates_on_the_server_and_removes_the_file(manager: SessionManager) -> None:
    manager.login_with_totp()
    token_holder = manager.get_kite()
    assert manager.logout() is True
    assert not manager.store.path.exists()
    with pytest.raises(TokenException):
        token_holder.profile()
    assert manager.logout() is False


def test_a_configured_access_token_is_adopted_after_verification(
    manager: SessionManager, sim: SimServer, tmp_path: Path
) -> None:
    token = manager.login_with_totp().access_token
    classic = SessionManager(with_overrides(manager.settings, access_token=token), SessionStore(tmp_path / "c.json"))
    assert classic.get_kite().profile()["user_id"] == sim.sim.config.user_id
    assert classic.saved() is not None
    stale = SessionManager(with_overrides(manager.settings, access_token="x" * 32), SessionStore(tmp_path / "d.json"))
    with pytest.raises(SessionExpiredError, match="access_token from argument"):
        stale.get_kite()


def test_a_damaged_session_file_is_ignored_not_trusted(manager: SessionManager) -> None:
    manager.store.path.parent.mkdir(parents=True, exist_ok=True)
    manager.store.path.write_text("{not json")
    with pytest.raises(NoSessionError):
        manager.get_kite()
    manager.login_with_totp()
    assert json.loads(manager.store.path.read_text())["user_id"]


CONCURRENT_LOGIN = """
import sys
from pathlib import Path
from kitekit.cli.embedded import sim_settings
from kitekit.session import SavedSession, SessionManager, SessionStore
from kitekit.sim.config import SimConfig
settings = sim_settings(SimConfig(), sys.argv[1])
for _ in range(3):
    SessionManager(settings, SessionStore(Path(sys.argv[2]))).login_with_totp()
"""


def test_two_concurrent_logins_leave_one_valid_uncorrupted_session(cli_sim: SimServer, tmp_path: Path) -> None:
    path = tmp_path / "shared.json"
    cli_sim.sim.config.rate_limit_enabled = False  # six logins in a burst would trip the login limit
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_LOGIN, cli_sim.url, str(path)]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    saved = SessionStore(path).load()
    assert saved is not None
    assert path.stat().st_mode & 0o777 == 0o600
    manager = SessionManager(base_settings(cli_sim), SessionStore(path))
    # Every login ended the previous one on the server; the file must hold the last, working token.
    assert manager.get_kite(verify=True).profile()["user_id"] == cli_sim.sim.config.user_id
    assert not list(tmp_path.glob(".shared.json.*"))  # no temp files left behind


def test_expiry_is_six_the_next_morning_or_the_same_morning_before_six() -> None:
    from kitekit.session import next_token_expiry

    assert next_token_expiry(datetime(2026, 11, 27, 23, 59, tzinfo=IST)) == datetime(2026, 11, 28, 6, tzinfo=IST)
    assert next_token_expiry(datetime(2026, 11, 28, 5, 59, tzinfo=IST)) == datetime(2026, 11, 28, 6, tzinfo=IST)
    assert next_token_expiry(datetime(2026, 11, 28, 6, 0, tzinfo=IST)) == datetime(2026, 11, 29, 6, tzinfo=IST)
    assert next_token_expiry(datetime(2026, 11, 28, 0, 45, tzinfo=IST) - timedelta(hours=5, minutes=30)) == datetime(
        2026, 11, 28, 6, tzinfo=IST
    )


def test_the_package_level_get_kite_uses_the_configured_credentials(
    cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kitekit

    sim = cli_sim
    settings = sim_settings(sim)
    for name, env in (
        ("api_key", "KITE_API_KEY"),
        ("api_secret", "KITE_API_SECRET"),
        ("root", "KITE_ROOT"),
        ("login_url", "KITE_LOGIN_URL"),
        ("user_id", "KITE_USER_ID"),
        ("password", "KITE_PASSWORD"),
        ("totp_secret", "KITE_TOTP_SECRET"),
    ):
        monkeypatch.setenv(env, str(getattr(settings, name)))
    with pytest.raises(NoSessionError, match="kitekit login"):
        kitekit.get_kite()
    SessionManager(settings).login_with_totp()
    assert kitekit.get_kite().profile()["user_id"] == sim.sim.config.user_id
    assert kitekit.SessionManager is SessionManager


# -- damaged and foreign session files -------------------------------------------------------------------------


def test_a_session_file_from_a_newer_kitekit_is_kept_with_its_extra_keys(manager: SessionManager) -> None:
    manager.login_with_totp()
    data = json.loads(manager.store.path.read_text())
    manager.store.path.write_text(json.dumps({**data, "broker_note": {"v": 2}, "device": "desk-1"}))
    assert manager.get_kite(verify=True).profile()["user_id"]  # still used, and rewritten on verification
    kept = json.loads(manager.store.path.read_text())
    assert kept["broker_note"] == {"v": 2} and kept["device"] == "desk-1"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"access_token": 12345}, "'access_token' is missing or not text"),
        ({"expires_at": None}, "'expires_at' is missing or not text"),
        ({"dead": "no"}, "wrong type"),
        ({"expires_at": "tomorrow morning"}, "Invalid isoformat"),
        ({"expires_at": "9999-12-31T06:00:00+05:30"}, "'expires_at' is not within a day after 'login_time'"),
        ({"expires_at": "2026-11-27T06:00:00+05:30"}, "'expires_at' is not within a day after 'login_time'"),
    ],
)
def test_a_session_file_with_wrong_types_is_a_clear_damaged_file_error(
    manager: SessionManager, change: dict[str, Any], says: str
) -> None:
    manager.login_with_totp()
    data = json.loads(manager.store.path.read_text())
    manager.store.path.write_text(json.dumps({**data, **change}))
    with pytest.raises(NoSessionError, match=rf"is damaged \(.*{re.escape(says)}.*\)\. Log in again: kitekit login"):
        manager.get_kite()
    assert manager.store.path.exists()  # left for the next login to replace, not deleted behind the user's back
    manager.login_with_totp()
    assert manager.get_kite().profile()["user_id"]


def test_a_temporary_file_left_by_a_killed_save_is_removed(manager: SessionManager) -> None:
    manager.store.path.parent.mkdir(parents=True, exist_ok=True)
    leftover = manager.store.path.parent / f".{manager.store.path.name}.x1y2z3.tmp"
    leftover.write_text('{"access_token": "half-writt')
    manager.login_with_totp()
    assert not leftover.exists()
    assert manager.store.path.stat().st_mode & 0o777 == 0o600


def test_session_files_and_folders_stay_private_under_umask_000(manager: SessionManager) -> None:
    old = os.umask(0)
    try:
        manager.login_with_totp()
    finally:
        os.umask(old)
    folder = manager.store.path.parent
    assert folder.stat().st_mode & 0o777 == 0o700
    assert manager.store.path.stat().st_mode & 0o777 == 0o600
    assert folder.joinpath(manager.store.path.name + ".lock").stat().st_mode & 0o777 == 0o600
