"""``kitekit doctor``: a fresh home, a logged-in one and a damaged one, each diagnosed line by line with its fix."""

from __future__ import annotations

import io
import os
import re
import socket
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from rich.console import Console

from kitekit.cli import run
from kitekit.cli.doctor_cmd import _guarded, line_of
from kitekit.clock import ManualClock
from kitekit.config import ENV_VARS, Settings
from kitekit.doctor import Finding, Status
from kitekit.doctor.local import config_files, credentials, pacer_database, private_dirs
from kitekit.doctor.remote import ServerTime, clock_offset, parse_http_date, simulator_time
from kitekit.files import ensure_dir
from kitekit.rest.pacer import Pacer
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.server import SimServer
from kitekit.wire.routes import EndpointClass
from tests.conftest import empty_cli_home

CHECKS = ("target", "credentials", "config file", "session", "clock", "instruments", "pacer", "data folders")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new user's working directory and kitekit folders, nothing in them, no Kite variables set."""
    home = empty_cli_home(tmp_path, monkeypatch, columns=250)
    monkeypatch.delenv("KITE_ACCESS_TOKEN", raising=False)
    return home


def doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, str], str]:
    """Run ``kitekit doctor``; return the exit code, each check's text (mark, detail and fix) and all output."""
    code = run([*argv, "doctor"])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err, out.err
    lines: dict[str, str] = {}
    name = ""
    for raw in out.out.splitlines():
        match = re.match(r"^(\S) (\S.{11}) (.*)$", raw)
        if match and match.group(2).strip() in (*CHECKS, "static IP"):
            name = match.group(2).strip()
            lines[name] = f"{match.group(1)} {match.group(3).rstrip()}"
        elif name and raw.startswith(" " * 15):
            lines[name] += " " + raw.strip()
    return code, lines, out.out


def test_a_fresh_home_on_the_simulator_is_told_to_log_in_and_download_the_instruments(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, out = doctor(capsys, "--sim")
    assert code == 1
    assert lines["target"].startswith("✓ the embedded simulator at http://127.0.0.1:")
    assert lines["credentials"].startswith("✓ the simulator's own")
    assert lines["config file"].startswith("✓ none (looked for")
    assert lines["session"] == "✗ no saved session for api_key kitekit_sim → log in: `kitekit --sim login`"
    assert lines["clock"].startswith("✓ the client's clock of the simulator (one clock) agrees")
    # The embedded world starts at 11:00 and runs on with the wall clock: a loaded machine takes seconds to get here.
    assert "(2026-11-27 11:00:" in lines["clock"]
    assert lines["instruments"].startswith(
        "! the dump current at 2026-11-27 11:00 IST (of 2026-11-27) is not downloaded"
    )
    assert "→ `kitekit --sim instruments sync`" in lines["instruments"]
    assert lines["pacer"].startswith("✓") and "not created yet" in lines["pacer"]
    # The simulator's world was just made in the data folder: its lock files too are the user's alone.
    assert lines["data folders"].startswith("✓"), lines["data folders"]
    assert lines["static IP"].startswith("i the simulator accepts orders from any address")
    assert "2 of 9 checks need attention (session, instruments)" in out


def test_a_logged_in_home_is_all_green(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--sim", "login"]) == 0
    assert run(["--sim", "instruments", "sync"]) == 0
    capsys.readouterr()
    code, lines, out = doctor(capsys, "--sim")
    assert code == 0, out
    assert all(lines[name].startswith("✓") for name in CHECKS), lines
    assert lines["session"].startswith("✓ KK1234 (Kitekit Simulator), expires 2026-11-28 06:00 IST (in 18h")
    assert "Kite accepted it just now (GET /user/profile)" in lines["session"]
    assert re.search(r"the dump of 2026-11-27 is cached and intact: [\d,]{7,} instruments", lines["instruments"])
    assert re.search(r"pacing\.sqlite3: intact, \d+ rate-limit bucket", lines["pacer"])
    assert out.rstrip().endswith("All green.")


def test_a_damaged_home_gets_each_damage_named_with_its_fix(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = home / "data" / "sim" / "embedded"
    ensure_dir(world / "sessions")
    (world / "sessions" / "kitekit_sim.json").write_text("{not json")
    ensure_dir(world / "cache" / "instruments")
    (world / "cache" / "instruments" / "2026-11-27.kkdump").write_bytes(b"half a download")
    (home / "data" / "pacing.sqlite3").write_bytes(b"these bytes are not a SQLite database" * 4)
    os.chmod(home / "data", 0o755)  # noqa: S103 - the damage under test
    os.chmod(world / "sessions" / "kitekit_sim.json", 0o644)
    (home / "config.json").write_text('{"api_key": "abc123", "api_secret": "s3cr3t"}')
    os.chmod(home / "config.json", 0o644)
    subprocess.run(["git", "init", "-q", str(home)], check=True)

    code, lines, out = doctor(capsys, "--sim")
    assert code == 1
    config = lines["config file"]
    assert config.startswith(f"✗ {home / 'config.json'} is in the git work tree {home} and not ignored")
    assert f"add the line /config.json to {home / '.gitignore'}" in config
    assert f"`chmod 600 {home / 'config.json'}`" in config
    assert lines["session"].startswith(f"✗ the session file {world / 'sessions' / 'kitekit_sim.json'} is damaged (")
    assert "log in again, which replaces it: `kitekit --sim login`" in lines["session"]
    assert lines["instruments"].startswith("✗ the cached dump of 2026-11-27 is damaged (")
    assert "`kitekit --sim instruments sync` downloads it again" in lines["instruments"]
    assert lines["pacer"].startswith(f"✗ {home / 'data' / 'pacing.sqlite3'} is damaged (file is not a database)")
    assert f"`rm {home / 'data' / 'pacing.sqlite3'}`" in lines["pacer"]
    folders = lines["data folders"]
    assert folders.startswith("✗ readable by other users: ")
    assert f"{home / 'data'} (0755)" in folders and "kitekit_sim.json (0644)" in folders
    assert f"`chmod -R go-rwx {home / 'data'}`" in folders
    assert "s3cr3t" not in out
    # Nothing was repaired behind the user's back: the doctor only reads.
    assert (world / "sessions" / "kitekit_sim.json").read_text() == "{not json"
    assert (world / "cache" / "instruments" / "2026-11-27.kkdump").read_bytes() == b"half a download"


def test_a_session_the_simulator_ended_is_reported_as_rejected(
    home: Path, cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    assert run(["login"]) == 0
    requests.post(f"{cli_sim.url}/__sim/expire-tokens", timeout=5)
    capsys.readouterr()
    code, lines, _ = doctor(capsys)
    assert code == 1
    assert lines["target"].startswith(f"✓ the simulator at {cli_sim.url} (kitekit sim)")
    assert lines["session"] == (
        "✗ Kite rejected the saved token of KK1234 (Kitekit Simulator) just now → log in again: `kitekit --sim login`"
    )


def test_against_kite_it_says_where_credentials_came_from_and_explains_the_static_ip_rule(
    home: Path, cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The simulator stands in for Kite: credentials in the environment, no --sim.
    for name, value in cli_sim.sim.config.client_credentials(cli_sim.url).items():
        monkeypatch.setenv(ENV_VARS[name], value)
    code, lines, out = doctor(capsys)
    assert code == 1
    assert lines["target"] == f"✓ live Kite at {cli_sim.url} (KITE_ROOT from env KITE_ROOT): real money"
    assert lines["credentials"] == (
        "✓ api_key kitekit_sim from env KITE_API_KEY; api_secret from env KITE_API_SECRET; "
        "unattended login (--totp) configured"
    )
    assert lines["session"] == "✗ no saved session for api_key kitekit_sim → log in: `kitekit login`"
    assert lines["static IP"].startswith("i since 1 April 2026 Kite accepts orders (place, modify, cancel) only from")
    assert "developers.kite.trade › Profile › IP Whitelist" in lines["static IP"]
    assert cli_sim.sim.config.api_secret not in out


def test_without_credentials_it_names_both_ways_in_and_skips_the_session(
    home: Path, cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KITE_ROOT", cli_sim.url)  # no request reaches the real Kite from a test
    code, lines, _ = doctor(capsys)
    assert code == 1
    assert lines["credentials"].startswith("✗ no api_key in the environment, a .env file or a config file")
    assert "set KITE_API_KEY and KITE_API_SECRET" in lines["credentials"] and "--sim" in lines["credentials"]
    assert lines["session"] == "– not checked: no api_key"


# -- the checks one by one -----------------------------------------------------------------------------------------


def test_credentials_half_configured_for_the_totp_login_name_what_is_missing(tmp_path: Path) -> None:
    given = Settings(api_key="k", api_secret="s", user_id="AB1234", sources={"api_key": "env KITE_API_KEY"})
    found = credentials(given, tmp_path / "config.json")
    assert found.status is Status.WARN and "set KITE_PASSWORD, KITE_TOTP_SECRET too" in found.fix
    no_secret = credentials(Settings(api_key="k"), tmp_path / "config.json")
    assert no_secret.status is Status.FAIL and "no api_secret" in no_secret.detail
    assert f'add "api_secret" to {tmp_path / "config.json"}' in no_secret.fix


def test_a_committed_config_file_must_leave_the_history_not_only_be_ignored(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}")
    os.chmod(config, 0o600)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "add", "config.json"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "oops"], check=True)
    found = config_files([config], [config])
    assert found.status is Status.FAIL and "is committed to the git repository" in found.detail
    assert f"`git -C {tmp_path} rm --cached config.json`" in found.fix and "change the credentials" in found.fix
    (tmp_path / ".gitignore").write_text("/config.json\n")
    subprocess.run([*git, "rm", "-q", "--cached", "config.json"], check=True)
    assert config_files([config], [config]).status is Status.OK


def test_private_folders_pass_and_an_open_file_deep_inside_is_named(tmp_path: Path) -> None:
    root = tmp_path / "data"
    ensure_dir(root / "a" / "b")
    secret = root / "a" / "b" / "session.json"
    secret.write_text("{}")
    os.chmod(secret, 0o600)
    assert private_dirs([root, tmp_path / "missing"]).status is Status.OK
    os.chmod(secret, 0o640)
    found = private_dirs([root])
    assert found.status is Status.FAIL and f"{secret} (0640)" in found.detail


def test_a_pacer_database_in_use_is_intact_and_one_with_a_wrong_row_is_not(tmp_path: Path) -> None:
    path = tmp_path / "pacing.sqlite3"
    with Pacer(path) as pacer:
        pacer.reserve("key", EndpointClass.QUOTE)
    assert pacer_database(path) == Finding.ok("pacer", f"{path}: intact, 1 rate-limit bucket")
    con = sqlite3.connect(path)
    con.execute("UPDATE buckets SET tat = 'soon'")
    con.commit()
    con.close()
    assert pacer_database(path).status is Status.FAIL


def test_the_clock_check_allows_for_the_round_trip_and_the_whole_second_date_header() -> None:
    told = SIM_NOW
    # Sent at :00.2, answered at :00.8: the Date header's second [:00, :01) holds the middle, :00.5.
    fine = ServerTime(told, 1.0, told + timedelta(seconds=0.2), told + timedelta(seconds=0.8), "Kite's Date header")
    assert clock_offset(fine, on_simulator=False).status is Status.OK
    late = told + timedelta(seconds=42.5)
    found = clock_offset(ServerTime(told, 1.0, late, late, "Kite's Date header"), on_simulator=False)
    assert found.status is Status.FAIL
    assert found.detail == "this machine's clock is 42.0 s ahead of Kite's Date header (2026-11-27 11:00:00 IST)"
    assert "timedatectl set-ntp true" in found.fix
    behind = ServerTime(told, 1.0, told - timedelta(seconds=5), told - timedelta(seconds=5), "Kite's Date header")
    assert clock_offset(behind, on_simulator=False).status is Status.WARN
    assert "5.5 s behind" in clock_offset(behind, on_simulator=False).detail
    # A slow answer widens what cannot be told apart: the stamp may come from any moment of the 12 s it took.
    slow = ServerTime(told, 1.0, told - timedelta(seconds=3), told + timedelta(seconds=9), "Kite's Date header")
    assert clock_offset(slow, on_simulator=False).status is Status.OK


def test_an_http_date_header_is_read_as_an_aware_instant_and_a_malformed_one_as_none() -> None:
    assert parse_http_date("Fri, 27 Nov 2026 05:30:00 GMT") == SIM_NOW.replace(hour=11)
    assert parse_http_date("Fri, 27 Nov 2026 05:30:00 GMT").tzinfo is not None  # type: ignore[union-attr]
    for bad in (None, "", "yesterday", "Fri, 27 Nov 2026 05:30:00 -0000", "Fri, 99 Nov 2026 05:30:00 GMT"):
        assert parse_http_date(bad) is None, bad


def test_a_client_whose_clock_of_the_simulator_drifted_is_told_how_far(cli_sim: SimServer) -> None:
    client = ManualClock(SIM_NOW + timedelta(seconds=42))
    found = clock_offset(simulator_time(cli_sim.url, client), on_simulator=True)
    assert found.status is Status.FAIL
    assert found.detail == (
        "the client's clock of the simulator (one clock) is 42.0 s ahead of the simulator's clock "
        "(2026-11-27 11:00:00 IST)"
    )
    assert clock_offset(simulator_time(cli_sim.url, ManualClock(SIM_NOW)), on_simulator=True).status is Status.OK


def test_each_line_shows_its_mark_in_its_colour_and_the_fix_below_it() -> None:
    console = Console(record=True, force_terminal=True, color_system="standard", width=120, file=io.StringIO())
    console.print(line_of(Finding.ok("clock", "agrees")))
    console.print(line_of(Finding.fail("session", "no saved session", "log in: `kitekit login`")))
    console.print(line_of(Finding("static IP", Status.INFO, "orders only from registered IPs")))
    styled = console.export_text(styles=True, clear=False)
    assert "\x1b[32m✓\x1b[0m \x1b[32mclock" in styled
    assert "\x1b[31m✗\x1b[0m \x1b[31msession" in styled
    assert "\x1b[36mi\x1b[0m \x1b[36mstatic IP" in styled
    plain = console.export_text()
    assert re.search(r"✗ session\s+no saved session\s*\n\s{15}→ log in: `kitekit login`", plain)


def test_kite_out_of_reach_is_a_line_with_its_fix_not_a_traceback(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KITE_API_KEY", "abc123")
    monkeypatch.setenv("KITE_API_SECRET", "not-shown")
    monkeypatch.setenv("KITE_ROOT", f"http://127.0.0.1:{port}")
    code, lines, out = doctor(capsys)
    assert code == 1
    assert lines["clock"] == (
        f"✗ Kite could not be reached at http://127.0.0.1:{port} (ConnectionError) → check the network "
        "(a proxy, a firewall) and KITE_ROOT; every Kite call needs it"
    )
    assert "not-shown" not in out


def test_a_check_that_breaks_becomes_its_own_line_in_plain_words() -> None:
    def broken() -> Finding:
        raise requests.ConnectionError("refused")

    found = _guarded("clock", broken)
    assert found.status is Status.FAIL and found.detail.startswith(
        "could not be checked: Network error talking to Kite"
    )
    assert "[" not in found.detail and found.fix == "run `kitekit -v doctor` for the details"
