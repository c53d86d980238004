"""The ``kitekit`` command line against the simulator: banners, login/status/logout, errors, no secrets."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import requests

from kitekit.cli import run
from kitekit.clock import IST, ManualClock
from kitekit.config import ENV_VARS, Settings
from kitekit.errors import LoginError
from kitekit.session import SessionManager, SessionStore
from kitekit.sim.config import LoginMode
from kitekit.sim.server import SimServer


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, data dir and config dir, and no Kite variables."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KITEKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KITEKIT_CONFIG_DIR", str(tmp_path / "conf"))
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("KITE_API_KEY", "KITE_API_SECRET", "KITE_SIM", "KITE_SIM_URL", "KITE_CONFIG", "KITE_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def on_sim(cli_home: Path, cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    return cli_sim


def test_without_credentials_or_sim_the_command_explains_both_options(
    cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["status"]) == 5
    err = capsys.readouterr().err
    assert "KITE_API_KEY" in err and "--sim" in err and "Traceback" not in err


def test_a_malformed_config_is_one_clear_line_not_a_traceback(
    cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (cli_home / "config.json").write_text('{"api_key": "abc", }')
    assert run(["status"]) == 5
    err = capsys.readouterr().err
    assert "config.json is not valid JSON (line 1" in err and "Traceback" not in err


def test_login_status_profile_and_logout_on_the_simulator(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], cli_home: Path
) -> None:
    assert run(["login", "--totp"]) == 0
    out = capsys.readouterr()
    assert "SIMULATED MARKET" in out.err
    assert "Logged in: KK1234" in out.out
    home = f"127.0.0.1_{on_sim.port}"  # each simulator keeps its sessions apart, by host and port
    session_file = cli_home / "data" / "sim" / home / "sessions" / "kitekit_sim.json"
    assert session_file.stat().st_mode & 0o777 == 0o600

    assert run(["status"]) == 0
    assert re.search(r"state\s+valid", capsys.readouterr().out)

    assert run(["profile"]) == 0
    assert "sim@kitekit.invalid" in capsys.readouterr().out

    assert run(["logout"]) == 0
    assert "Logged out" in capsys.readouterr().out
    assert on_sim.sim.auth.live_sessions() == 0
    assert run(["status"]) == 3
    assert "kitekit --sim login" in capsys.readouterr().out


def test_login_with_a_pasted_redirect_url(on_sim: SimServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["login", "--paste", _approved_redirect(on_sim)]) == 0
    assert "Logged in" in capsys.readouterr().out


@pytest.fixture
def as_real_kite(cli_home: Path, cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    """The simulator configured as if it were the real Kite (credentials in the environment, no --sim)."""
    for name, value in cli_sim.sim.config.client_credentials(cli_sim.url).items():
        monkeypatch.setenv(ENV_VARS[name], value)
    return cli_sim


def test_an_expired_session_tells_exactly_what_to_run(
    as_real_kite: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["login", "--totp"]) == 0
    requests.post(f"{as_real_kite.url}/__sim/expire-tokens", timeout=5)
    capsys.readouterr()
    assert run(["profile"]) == 3
    err = capsys.readouterr().err
    assert "Log in again: kitekit login" in err
    assert run(["profile"]) == 3  # now known locally: fails fast with the same advice
    assert "Log in again: kitekit login" in capsys.readouterr().err


def test_on_a_simulator_an_expired_session_is_renewed_by_itself(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["monitor", "NIFTY 50", "--count", "1"]) == 0  # no login first: the simulator's are public
    requests.post(f"{on_sim.url}/__sim/expire-tokens", timeout=5)
    assert run(["profile"]) == 3  # the running command learns of it from Kite's 403…
    assert run(["profile"]) == 0  # …and the next one logs in again by itself
    assert "Logging in to the simulator" in capsys.readouterr().err


def test_sim_port_zero_prints_the_url_it_bound(cli_home: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kitekit.cli",
            "sim",
            "--port",
            "0",
            "--state",
            str(cli_home / "w"),
            "--at",
            "2026-11-27",
            "--allowed-ips",
            "203.0.113.7, 127.0.0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert match, first
        assert "SIMULATED" in first
        info = requests.get(f"{match.group(1)}/__sim/info", timeout=10).json()
        assert info["data"]["api_key"] == "kitekit_sim"
        assert info["data"]["allowed_ips"] == ["203.0.113.7", "127.0.0.1"]
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def _approved_redirect(sim: SimServer) -> str:
    sim.sim.config.login_mode = LoginMode.AUTO
    try:
        r = requests.get(
            f"{sim.url}/connect/login",
            params={"api_key": sim.sim.config.api_key, "v": "3"},
            allow_redirects=False,
            timeout=5,
        )
    finally:
        sim.sim.config.login_mode = LoginMode.FORM
    return str(r.headers["location"])


def test_no_secret_reaches_output_or_logs_across_the_flows(
    on_sim: SimServer, cli_home: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's request lines included
    cfg = on_sim.sim.config
    request_tokens: list[str] = []

    assert run(["-v", "login", "--totp"]) == 0
    assert run(["-v", "status"]) == 0
    assert run(["-v", "profile"]) == 0
    url = _approved_redirect(on_sim)
    request_tokens.append(re.search(r"request_token=([A-Za-z0-9]+)", url).group(1))  # type: ignore[union-attr]
    assert run(["-v", "login", "--paste", url]) == 0
    assert run(["-v", "login", "--paste", url]) == 3  # reused: refused
    requests.post(f"{on_sim.url}/__sim/expire-tokens", timeout=5)
    assert run(["-v", "profile"]) == 3
    assert run(["-v", "login", "--totp"]) == 0
    assert run(["-v", "logout"]) == 0

    # A wrong secret and the library's own error paths.
    wrong = Settings(
        api_key=cfg.api_key, api_secret="WRONG-secret-value", root=on_sim.url, login_url=f"{on_sim.url}/connect/login"
    )
    url = _approved_redirect(on_sim)
    request_tokens.append(re.search(r"request_token=([A-Za-z0-9]+)", url).group(1))  # type: ignore[union-attr]
    with pytest.raises(LoginError) as err:
        SessionManager(wrong, SessionStore(cli_home / "w.json")).login_with_paste(url)
    caplog_text = caplog.text
    captured = capsys.readouterr()
    everything = "\n".join([captured.out, captured.err, caplog_text, str(err.value)])

    secrets = [cfg.api_secret, cfg.password, cfg.totp_secret, "WRONG-secret-value", *request_tokens]
    secrets += list(on_sim.sim.auth._grants)  # every access token the simulator issued
    assert len(on_sim.sim.auth._grants) >= 3
    for secret in secrets:
        assert secret not in everything, f"a secret leaked: {secret[:4]}…"
    assert "access_token=***" in caplog_text  # the logout request line was logged, masked


def test_monitor_command_prints_timestamped_readings(on_sim: SimServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["login", "--totp"]) == 0
    capsys.readouterr()
    assert run(["monitor", "NSE:NIFTY 50", "NSE:RELIANCE", "--every", "1", "--count", "2"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 2
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  NSE:NIFTY 50 [\d,]+\.\d\d  NSE:RELIANCE", x) for x in lines)
    assert on_sim.sim.limiter.rejected == 0


def test_monitor_with_an_expired_session_stops_with_the_relogin_message(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["login", "--totp"]) == 0
    requests.post(f"{on_sim.url}/__sim/expire-tokens", timeout=5)
    assert run(["monitor", "NSE:NIFTY 50", "--count", "3"]) == 3
    assert "Log in again: kitekit --sim login" in capsys.readouterr().err


def test_instruments_commands_sync_find_chain_and_export(
    on_sim: SimServer, cli_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITEKIT_CACHE_DIR", str(cli_home / "cache"))
    on_sim.sim.config.rate_limit_enabled = False
    assert run(["login", "--totp"]) == 0
    capsys.readouterr()
    assert run(["instruments", "sync"]) == 0
    out = capsys.readouterr()
    assert "Downloaded the instruments dump" in out.out and "Downloading instruments" in out.err
    assert run(["instruments", "sync"]) == 0
    assert "already cached; nothing to do" in capsys.readouterr().out
    assert on_sim.sim.requests["GET /instruments"] == 1

    assert run(["instruments", "find", "RELIANCE"]) == 0
    assert "738561" in capsys.readouterr().out
    assert run(["instruments", "find", "zzzqqq"]) == 1

    assert run(["instruments", "chain", "NIFTY"]) == 0
    chain = capsys.readouterr().out
    assert "NIFTY options expiring 2026-12-01 (lot 65)" in chain and "Other expiries" in chain
    assert run(["instruments", "chain", "NIFTY", "--expiry", "2026-12-02"]) == 2
    assert "expiries: 2026-12-01" in capsys.readouterr().err

    assert run(["tokens", "export", "-o", str(cli_home / "tokens.json"), "NSE:INFY"]) == 0
    saved = (cli_home / "tokens.json").read_text()
    assert '"NIFTY 50": 256265' in saved and '"INFY": 408065' in saved


def test_monitor_resolves_names_through_the_store(
    on_sim: SimServer, cli_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITEKIT_CACHE_DIR", str(cli_home / "cache"))
    on_sim.sim.config.rate_limit_enabled = False
    assert run(["login", "--totp"]) == 0
    assert run(["monitor", "NIFTY 50", "BANKNIFTY", "RELIANC", "--count", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"NIFTY 50 [\d,]+\.\d\d  BANKNIFTY [\d,]+\.\d\d  RELIANC — gap: Unknown instrument", out)
    assert "Did you mean: NSE:RELIANCE" in out


def test_the_embedded_simulator_logs_in_by_itself_on_a_fresh_machine(
    cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--sim", "monitor", "NIFTY 50", "--count", "1"]) == 0
    captured = capsys.readouterr()
    assert "SIMULATED MARKET" in captured.err and "Logging in to the simulator" in captured.err
    assert re.search(r"NIFTY 50 [\d,]+\.\d\d", captured.out)


def test_the_embedded_and_a_running_simulator_keep_their_sessions_apart(
    on_sim: SimServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["login"]) == 0  # on the running `kitekit sim`; a simulator's login needs no browser
    issued = len(on_sim.sim.auth._grants)
    monkeypatch.delenv("KITE_SIM_URL")
    assert run(["--sim", "login"]) == 0  # the embedded one, sharing the data directory
    monkeypatch.setenv("KITE_SIM_URL", on_sim.url)
    capsys.readouterr()
    assert run(["profile"]) == 0
    assert "Logging in" not in capsys.readouterr().err  # the first session is still there and still valid
    assert len(on_sim.sim.auth._grants) == issued == on_sim.sim.auth.live_sessions() == 1


def test_every_command_help_breaks_lines_only_between_sentences() -> None:
    # Typer's rich help keeps a docstring's line breaks, so a sentence wrapped in the source shows cut in two.
    from typer.main import get_command

    from kitekit.cli.main import app

    cut: list[str] = []

    def walk(command: object, path: str) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")
        for paragraph in (getattr(command, "help", None) or "").split("\n\n"):
            lines = paragraph.strip().splitlines()
            cut.extend(f"{path}: {line!r}" for line in lines[:-1] if not line.rstrip().endswith((".", ":", ")")))

    walk(get_command(app), "kitekit")
    assert cut == []


def test_login_if_needed_renews_a_session_with_less_than_an_hour_left(
    cli_home: Path, sim: SimServer, sim_clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from kitekit.cli.context import CliContext
    from kitekit.cli.session_cmds import login

    def login_if_needed() -> str:
        cli = CliContext(sim=True, sim_url=sim.url)  # its one clock: the simulator's, read from it
        try:
            login(SimpleNamespace(obj=cli), if_needed=True)  # type: ignore[arg-type]
        finally:
            cli.close()
        captured = capsys.readouterr()
        return captured.out + captured.err

    sim_clock.set(datetime(2026, 11, 27, 8, 0, tzinfo=IST))  # the cron job's morning login
    assert "Logged in" in login_if_needed()
    live_before = sim.sim.auth.live_sessions()
    sim_clock.set(datetime(2026, 11, 28, 4, 59, tzinfo=IST))
    assert "Nothing to do" in login_if_needed()  # 1h 01m left
    assert sim.sim.auth.live_sessions() == live_before
    sim_clock.set(datetime(2026, 11, 28, 5, 30, tzinfo=IST))
    said = login_if_needed()
    assert "expires at 06:00 IST (in 0h 30m), within the hour: logging in again" in said and "Logged in" in said
