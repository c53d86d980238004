"""A simulator URL where none answers: one line saying so, the network-failure exit code, and no login retries."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from kitekit.cli import run
from kitekit.session import SessionManager, SessionStore
from kitekit.session.totp import LoginRetry
from kitekit.sim.server import SimServer
from tests.conftest import empty_cli_home, sim_settings

FAILED = 1


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound once to find it free, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return empty_cli_home(tmp_path, monkeypatch, columns=200)


@pytest.mark.parametrize("how", ["env", "flag"])
def test_no_simulator_at_the_url_is_one_line_and_exit_1_with_no_login_attempt(
    home: Path, closed_port: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    if how == "env":
        monkeypatch.setenv("KITE_SIM_URL", url)
    for command in (["profile"], ["order", "buy", "INFY", "1"], ["status"], ["login"]):
        argv = command if how == "env" else ["--sim-url", url, *command]
        assert run(argv) == FAILED
        captured = capsys.readouterr()
        lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
        assert lines == [
            f"Error: No simulator answers at {url} (connection refused). Start one with `kitekit sim --port "
            f"{closed_port}`, or drop --sim-url and KITE_SIM_URL to use the embedded simulator (--sim)."
        ]


class _NotASimulator(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>some other server</html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotASimulator)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_another_server_at_the_url_is_not_taken_for_a_simulator(
    home: Path, other_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--sim-url", other_server, "profile"]) == FAILED
    err = capsys.readouterr().err
    assert "a server answers there, but not a kitekit simulator: HTTP 404, text/html" in err
    assert "SIMULATED MARKET" not in err and "trying again" not in err


def test_a_running_simulator_passes_the_check(
    home: Path, cli_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--sim-url", cli_sim.url, "profile"]) == 0
    assert "KK1234" in capsys.readouterr().out


def test_the_totp_login_does_not_retry_a_connection_refused_on_this_machine(
    cli_sim: SimServer, closed_port: int, tmp_path: Path
) -> None:
    # The login retries what may pass (a 503, a dropped connection); nothing listening on a local port will
    # not start listening in the next few seconds, so it is not worth the 30 seconds the retries took.
    url = f"http://127.0.0.1:{closed_port}"
    settings = replace(sim_settings(cli_sim), root=url, login_url=f"{url}/connect/login")
    pauses: list[float] = []
    manager = SessionManager(settings, SessionStore(tmp_path / "s.json"))
    with pytest.raises(requests.ConnectionError):
        manager.login_with_totp(LoginRetry(sleep=pauses.append, random=lambda: 0.5))
    assert pauses == []
