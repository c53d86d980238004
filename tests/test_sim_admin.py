"""The simulator's admin API is its user's alone, validates completely, and the server stops promptly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from starlette.types import Receive, Scope, Send

from kitekit.sim.config import LoginMode, SimConfig
from kitekit.sim.http.admin import update_app
from kitekit.sim.market import Market
from kitekit.sim.server import SimServer

from .conftest import eventually


def test_a_web_page_cannot_change_the_redirect_url_or_expire_tokens(sim: SimServer) -> None:
    before = sim.sim.config.redirect_url
    page = {"Origin": "https://evil.example"}
    r = requests.put(f"{sim.url}/__sim/app", json={"redirect_url": "https://evil.example/cb"}, headers=page, timeout=5)
    assert r.status_code == 403 and r.json()["error_type"] == "PermissionException"
    assert "web pages" in r.json()["message"]
    assert requests.post(f"{sim.url}/__sim/expire-tokens", headers=page, timeout=5).status_code == 403
    assert sim.sim.config.redirect_url == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://localhost:3000"},  # another local server's page: as foreign as any web site
        {"Origin": "http://127.0.0.1:1"},
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Sec-Fetch-Site": "same-site"},  # a browser's request that left Origin out
    ],
)
def test_no_browser_request_reaches_the_admin_api_without_the_token(sim: SimServer, headers: dict[str, str]) -> None:
    before = sim.sim.config.redirect_url
    calls = [
        ("POST", "/__sim/reset", None),
        ("POST", "/__sim/expire-tokens", None),
        ("PUT", "/__sim/order-faults", {"drop_rate": 1}),
        ("PUT", "/__sim/app", {"redirect_url": "https://evil.example/cb"}),
    ]
    for method, path, body in calls:
        r = requests.request(method, f"{sim.url}{path}", json=body, headers=headers, timeout=5)
        assert r.status_code == 403 and "X-Kitekit-Admin" in r.json()["message"], (path, r.text)
    assert sim.sim.config.redirect_url == before and sim.sim.order_faults.config.drop_rate == 0
    with_token = {**headers, "X-Kitekit-Admin": sim.sim.admin_token}
    assert requests.post(f"{sim.url}/__sim/expire-tokens", headers=with_token, timeout=5).ok


def test_only_programs_on_loopback_pass_without_the_token(sim: SimServer) -> None:
    from starlette.datastructures import Headers

    guard = sim.sim.asgi.app.app  # type: ignore[attr-defined]  # _AccessLog(_Faults(_AdminGuard(…)))
    local = Headers({"host": f"127.0.0.1:{sim.port}"})
    assert guard.refusal(local, "127.0.0.1") is None and guard.refusal(local, "::ffff:127.0.0.1") is None
    assert "this machine" in guard.refusal(local, "192.168.1.20")


def test_dns_rebinding_is_refused_by_the_host_check(sim: SimServer) -> None:
    r = requests.get(f"{sim.url}/__sim/info", headers={"Host": f"attacker.example:{sim.port}"}, timeout=5)
    assert r.status_code == 403 and "this machine" in r.json()["message"]


def test_local_scripts_reach_the_admin_api_and_the_token_always_does(sim: SimServer) -> None:
    assert requests.get(f"{sim.url}/__sim/info", timeout=5).ok  # no Origin: a script, the SDK, curl
    token = {"X-Kitekit-Admin": sim.sim.admin_token, "Origin": "https://anywhere.example"}
    assert requests.get(f"{sim.url}/__sim/info", headers=token, timeout=5).ok


def test_when_the_token_is_required_nothing_passes_without_it(sim_market: Market, tmp_path: Path) -> None:
    config = SimConfig(admin_token_required=True, admin_token_file=tmp_path / "admin-token")
    with SimServer(config, market=sim_market) as server:
        r = requests.get(f"{server.url}/__sim/info", timeout=5)
        assert r.status_code == 403 and "X-Kitekit-Admin" in r.json()["message"]
        token = (tmp_path / "admin-token").read_text()
        assert token == server.sim.admin_token
        assert (tmp_path / "admin-token").stat().st_mode & 0o777 == 0o600
        assert requests.get(f"{server.url}/__sim/info", headers={"X-Kitekit-Admin": token}, timeout=5).ok
        assert (
            requests.get(f"{server.url}/__sim/info", headers={"X-Kitekit-Admin": "guess"}, timeout=5).status_code == 403
        )


@pytest.mark.parametrize(
    "body",
    [
        {"redirect_url": "https://ok.example/cb", "login_mode": "nonsense"},
        {"redirect_url": "javascript:alert(1)"},
        {"redirect_url": "/relative"},
        {"redirect_url": 5},
        {"colour": "blue"},
        ["redirect_url"],
    ],
)
def test_a_refused_app_change_changes_nothing(body: object) -> None:
    config = SimConfig()
    before = (config.redirect_url, config.login_mode)
    with pytest.raises(ValueError):
        update_app(config, body)
    assert (config.redirect_url, config.login_mode) == before


def test_a_valid_app_change_applies_both_settings() -> None:
    config = SimConfig()
    update_app(config, {"redirect_url": "http://127.0.0.1:9/cb", "login_mode": "auto"})
    assert (config.redirect_url, config.login_mode) == ("http://127.0.0.1:9/cb", LoginMode.AUTO)


def test_answers_after_the_first_on_a_kept_alive_connection_are_not_held_by_nagle(sim_market: Market) -> None:
    server = SimServer(market=sim_market)
    inner = server.sim.asgi
    nodelay: list[int] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        # The connection's own socket, as uvicorn accepted it: Nagle must be off on it.
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if scope["type"] == "http" and transport is not None:
            nodelay.append(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        await inner(scope, receive, send)

    server.sim.asgi = recording
    with server, requests.Session() as http:
        for _ in range(3):  # one kept-alive connection
            assert http.get(f"{server.url}/__sim/info", timeout=5).ok
    assert len(nodelay) == 3 and all(nodelay)


def test_the_simulator_stops_promptly_on_sigterm_even_mid_fault(tmp_path: Path) -> None:
    env = {**os.environ, "KITEKIT_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kitekit.cli", "sim", "--port", "0", "--latency-ms", "60000"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    drain = threading.Thread()
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        # Drain the rest of the banner: closing the pipe instead makes the server's next line a broken pipe.
        drain = threading.Thread(target=proc.stdout.read, daemon=True)
        drain.start()
        url = first.split("listening on ")[1].split()[0]
        stuck = threading.Thread(target=_hang_on, args=(f"{url}/user/profile",), daemon=True)
        stuck.start()  # a request sleeping out a minute of injected latency

        def arrived() -> bool:
            info = requests.get(f"{url}/__sim/info", timeout=5).json()["data"]
            return bool(info["requests"].get("GET /user/profile"))

        eventually(arrived)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) is not None  # stopped long before the minute of latency is over
        stuck.join(30)  # its connection was cut with the server
        assert not stuck.is_alive()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            with contextlib.suppress(RuntimeError):  # joined before it started, if the banner never came
                drain.join(5)
            proc.stdout.close()


def _hang_on(url: str) -> None:
    with requests.Session() as http, contextlib.suppress(requests.RequestException):
        http.get(url, timeout=120)
