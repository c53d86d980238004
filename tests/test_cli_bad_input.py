"""Every command against a table of bad inputs: one clear line, a documented exit code, never a traceback."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from kitekit.cli import run
from kitekit.sim.server import SimServer
from tests.conftest import empty_cli_home

#: Exit codes documented in the README (see kitekit.cli.failures).
FAILED, USAGE, SESSION, FILES, CONFIG = 1, 2, 3, 4, 5

BAD_OPTIONS = [
    (["monitor", "NIFTY 50", "--every", "0"], "above 0"),
    (["monitor", "NIFTY 50", "--every", "-2"], "above 0"),
    (["monitor", "NIFTY 50", "--every", "nan"], "finite"),
    (["monitor", "NIFTY 50", "--every", "inf"], "finite"),
    (["monitor", "NIFTY 50", "--every", "soon"], "valid number"),
    (["monitor", "NIFTY 50", "--count", "-1"], "1 or more"),
    (["monitor", "NIFTY 50", "--count", "many"], "valid integer"),
    (["demo", "--readings", "0"], "1 or more"),
    (["demo", "--every", "nan"], "finite"),
    (["history", "RELIANCE", "--days", "1000000000000"], "from 1 to 36,525"),
    (["chart", "RELIANCE", "--days", "99999999"], "from 1 to 36,525"),
    (["history", "RELIANCE", "--to", "0001-01-01", "--days", "5"], "reaches before the year 1"),
    (["history", "RELIANCE", "--from", "0001-01-01T00:00+14:00"], "is not a date"),
    (["sim", "--port", "70000"], "port"),
    (["sim", "--port", "-1"], "port"),
    (["sim", "--port", "http"], "valid integer"),
    (["sim", "--speed", "0"], "above 0"),
    (["sim", "--speed", "nan"], "finite"),
    (["sim", "--drop-rate", "1.5"], "between 0 and 1"),
    (["sim", "--network-error-rate", "-0.1"], "between 0 and 1"),
    (["sim", "--html-502-rate", "nan"], "between 0 and 1"),
    (["sim", "--latency-ms", "-5"], "0 or more"),
    (["sim", "--latency-ms", "inf"], "0 or more"),
    (["sim", "--order-drop-rate", "2"], "between 0 and 1"),
    (["sim", "--order-reject-rate", "nan"], "between 0 and 1"),
    (["sim", "--order-ack-delay-ms", "-1"], "0 or more"),
    (["sim", "--order-error-status", "418"], "error_status must be one of 500, 502, 503, 504"),
    (["sim", "--order-drop-rate", "0.6", "--order-error-rate", "0.6"], "order fault rates add up to 1.2"),
    (["sim", "--allowed-ips", "127.0.0.1,10.0.0.300"], "'10.0.0.300' is not an IP address"),
    (["instruments", "find", "RELIANCE", "--limit", "0"], "1 or more"),
    (["login", "--timeout", "0"], "above 0"),
    (["history", "RELIANCE", "--from", "2024-13-45"], "'2024-13-45' is not a date: give yyyy-mm-dd"),
    (["history", "RELIANCE", "--from", "yesterday"], "is not a date"),
    (["history", "RELIANCE", "--to", "2024-01-01 25:00"], "is not a date"),
    (["history", "RELIANCE", "--from", "2024-02-01", "--to", "2024-01-01"], "--from 2024-02-01 is after --to"),
    (["history", "RELIANCE", "--from", "2024-02-01 10:00", "--to", "2024-02-01 09:59"], "is after --to"),
    (["history", "RELIANCE", "-i", "hour", "--from", "2024-01-01"], "'hour' is not one of 'minute', '3minute'"),
    (["history", "RELIANCE"], "--from DATE or --days N"),
    (["history", "RELIANCE", "--from", "2024-01-01", "--days", "3"], "not both"),
    (["history", "RELIANCE", "--days", "0"], "from 1 to 36,525"),
    (["history", "RELIANCE", "--days", "a year"], "valid integer"),
    (["history", "RELIANCE", "--from", "2024-01-01", "--out", "candles.xlsx"], "neither .csv nor .parquet"),
    (["history", "backfill"], "Missing argument"),
    (["history", "backfill", "RELIANCE", "--days", "0"], "from 1 to 36,525"),
    (["history", "backfill", "RELIANCE", "--interval", "2minute"], "'2minute' is not one of"),
    (["chart", "RELIANCE", "--days", "-3"], "from 1 to 36,525"),
    (["chart", "RELIANCE", "--from", "2024-01-01", "--to", "2023-12-31"], "is after --to"),
    (["chart", "RELIANCE", "--interval", "week"], "'week' is not one of"),
    (["order", "buy", "INFY", "1", "--limit", "0"], "above 0"),
    (["order", "buy", "INFY", "1", "--limit", "nan"], "finite"),
    (["order", "buy", "INFY", "1", "--limit", "2000", "--market"], "--limit and --market contradict each other"),
    (["order", "buy", "INFY", "1", "--limit", "2000", "--sl-m", "1990"], "--limit and --sl-m contradict"),
    (["order", "buy", "INFY", "1", "--sl", "2000"], "--sl P needs --trigger T"),
    (["order", "sell", "INFY", "1", "--trigger", "2000"], "--sl P needs --trigger T"),
    (["order", "buy", "INFY", "1", "--product", "XYZ"], "is not one of"),
    (["order", "buy", "INFY", "1", "--variety", "bracket"], "is not one of"),
    (["order", "buy", "INFY", "1", "--validity", "GTC"], "is not one of"),
    (["order", "buy", "INFY", "1", "--ttl", "0"], "1 or more"),
    (["order", "buy", "INFY", "1", "--iceberg-legs", "0"], "1 or more"),
    (["order", "buy", "INFY", "many"], "valid integer"),
    (["order", "buy", "INFY"], "Missing argument"),
    (["order", "modify", "123"], "give at least one of --qty, --price, --trigger, --type"),
    (["order", "modify", "123", "--price", "-1"], "above 0"),
    (["order", "modify", "123", "--qty", "0"], "1 or more"),
    (["order", "modify", "123", "--type", "STOP"], "is not one of"),
    (["order", "cancel"], "Missing argument"),
    (["order", "show"], "Missing argument"),
    (["ticks"], "Missing argument"),
    (["ticks", "RELIANCE", "--mode", "fast"], "'fast' is not one of 'ltp', 'quote', 'full'"),
    (["ticks", "RELIANCE", "--count", "0"], "1 or more"),
    (["record", "RELIANCE"], "Missing option '--out'"),
    (["record", "RELIANCE", "--out", "rec", "--flush-every", "0"], "above 0"),
    (["record", "RELIANCE", "--out", "rec", "--flush-every", "inf"], "finite"),
    (["record", "RELIANCE", "--out", "rec", "--mode", "depth"], "'depth' is not one of"),
    (["record", "RELIANCE", "--out", "rec", "--count", "-5"], "1 or more"),
    (["monitor", "NIFTY 50", "--stream", "--count", "0"], "1 or more"),
    (["sim", "--replay", "rec", "--speed", "0"], "above 0"),
    (["no-such-command"], "No such command"),
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and private kitekit dirs, with no Kite variables set."""
    return empty_cli_home(tmp_path, monkeypatch, columns=250)


def outcome(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = run(argv)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text, text
    return code, text


@pytest.mark.parametrize(("argv", "says"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_a_bad_option_is_a_usage_error_naming_the_rule(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, text = outcome(capsys, argv)
    assert code == USAGE
    assert says in text


def write(path: Path, data: bytes) -> Callable[[Path], None]:
    def setup(home: Path) -> None:
        (home / path).parent.mkdir(parents=True, exist_ok=True)
        (home / path).write_bytes(data)

    return setup


def directory(path: str) -> Callable[[Path], None]:
    return lambda home: (home / path).mkdir(parents=True)


BAD_FILES: list[tuple[str, Callable[[Path], None], list[str], int, str]] = [
    ("undecodable config.json", write(Path("config.json"), b'{"api_key": "\xff\xfe"}'), ["status"], CONFIG, "UTF-8"),
    ("config.json of the wrong shape", write(Path("config.json"), b"[1, 2]"), ["status"], CONFIG, "JSON object"),
    ("a number for api_key", write(Path("config.json"), b'{"api_key": 5}'), ["status"], CONFIG, "must be a string"),
    ("undecodable .env", write(Path(".env"), b"KITE_API_KEY=\xff\xfe\n"), ["status"], CONFIG, "UTF-8"),
    ("--config naming a directory", directory("conf.d"), ["--config", "conf.d", "status"], CONFIG, "a directory"),
    ("--config naming nothing", lambda home: None, ["--config", "nope.json", "status"], CONFIG, "does not exist"),
    (
        "a malformed API root",
        write(Path("config.json"), b'{"api_key": "k", "root": "api.kite.trade"}'),
        ["profile"],
        CONFIG,
        "malformed",
    ),
    (
        "a line break in the api_key",
        write(Path("config.json"), b'{"api_key": "abc\\ndef", "api_secret": "s"}'),
        ["profile"],
        CONFIG,
        "api_key 'abc\\ndef' (from",
    ),
    (
        "a space in the access_token",
        write(Path("config.json"), b'{"api_key": "abc", "api_secret": "s", "access_token": "tok en"}'),
        ["profile"],
        CONFIG,
        "access_token (from",
    ),
    (
        "a malformed simulator URL",
        lambda home: None,
        ["--sim-url", "http://127.0.0.1:99999", "status"],
        CONFIG,
        "malformed",
    ),
    ("--replay naming nothing", lambda home: None, ["sim", "--port", "0", "--replay", "nope"], FILES, "nope does not"),
    (
        "--replay naming a file",
        write(Path("afile"), b"x"),
        ["sim", "--port", "0", "--replay", "afile"],
        FILES,
        "a file",
    ),
    (
        "--replay without recordings",
        directory("empty"),
        ["sim", "--replay", "empty"],
        FAILED,
        "holds no tick recording",
    ),
    (
        "--replay of a foreign file",
        write(Path("rec/ticks-2026-11-27.parquet"), b"not parquet"),
        ["sim", "--replay", "rec"],
        FAILED,
        "is not a tick recording",
    ),
    (
        "a data dir that is a file",
        write(Path("data"), b"x"),
        ["--sim", "status"],  # the embedded simulator: a --sim-url where none runs fails first, on that
        FILES,
        "data",
    ),
]


@pytest.mark.parametrize(("setup", "argv", "code", "says"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_files_and_settings_say_what_is_wrong(
    home: Path, capsys: pytest.CaptureFixture[str], setup: Callable[[Path], None], argv: list[str], code: int, says: str
) -> None:
    setup(home)
    got, text = outcome(capsys, argv)
    assert (got, says in text) == (code, True), text


@pytest.fixture
def on_sim(home: Path, cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    return cli_sim


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["monitor", "NIFTY 50", "--count", "1", "--csv", "out"], "is a directory"),
        (["monitor", "NIFTY 50", "--count", "1", "--csv", "afile/readings.csv"], "is a file, where a directory"),
        (["record", "NIFTY 50", "--out", "afile", "--count", "1"], "is a file, where a directory"),
        (["record", "NIFTY 50", "--out", "afile/rec", "--count", "1"], "is a file, where a directory"),
        (["tokens", "export", "-o", "out"], "is a directory"),
        (["tokens", "export", "-o", "afile/tokens.json"], "is a file"),
        (["tokens", "export", "-o", "/dev/full"], "not a regular file"),
        (["monitor", "NIFTY 50", "--count", "1", "--csv", "/dev/full"], "the disk is full"),
    ],
)
def test_unwritable_output_paths_are_file_errors(
    on_sim: SimServer, home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    (home / "out").mkdir()
    (home / "afile").write_text("x")
    code, text = outcome(capsys, argv)
    assert (code, says in text) == (FILES, True), text
    assert Path("/dev/full").is_char_device()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["history", "RELIANCE", "--from", "2026-11-20", "--out", "out.csv"], "out.csv is a directory"),
        (["history", "RELIANCE", "--from", "2026-11-20", "--out", "afile/c.parquet"], "is a file, where a directory"),
        (["chart", "RELIANCE", "--from", "2026-11-20", "--out", "out.html", "--no-open"], "out.html is a directory"),
        (["chart", "RELIANCE", "--from", "2026-11-20", "--out", "afile/c.html", "--no-open"], "is a file, where a"),
    ],
)
def test_unwritable_candle_files_fail_before_anything_is_fetched(
    on_sim: SimServer, home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    (home / "out.csv").mkdir()
    (home / "out.html").mkdir()
    (home / "afile").write_text("x")
    code, text = outcome(capsys, argv)
    assert (code, says in text) == (FILES, True), text
    assert not any(route.startswith("GET /instruments/historical") for route in on_sim.sim.requests)


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["history", "ZZZQQQ", "--from", "2026-11-20"], FAILED, "Unknown instrument 'ZZZQQQ'"),
        (["chart", "NSE:RELIANCEX", "--no-open"], FAILED, "Did you mean: NSE:RELIANCE"),
        (["history", "RELIANCE", "--from", "2026-11-20", "--continuous"], USAGE, "continuous=True is for futures"),
        (["history", "RELIANCE", "-i", "minute", "--from", "2010-01-01", "--to", "2014-06-30"], USAGE, "from 2015-01"),
        (["history", "RELIANCE", "--from", "2099-01-01"], USAGE, "is in the future"),
        (["chart", "RELIANCE", "--from", "2099-01-01", "--no-open"], USAGE, "is in the future"),
        (["history", "backfill", "RELIANCE", "--days", "5", "-i", "minute", "--continuous"], USAGE, "continuous="),
        (
            ["history", "backfill", "RELIANCE", "NOSUCHSYMBOL", "--days", "5"],
            FAILED,
            "Unknown instrument 'NOSUCHSYMBOL'",
        ),
    ],
)  # fmt: skip
def test_requests_kite_would_refuse_are_refused_first_saying_what_is_allowed(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, says: str
) -> None:
    got, text = outcome(capsys, argv)
    assert (got, says in text) == (code, True), text
    assert not any(route.startswith("GET /instruments/historical") for route in on_sim.sim.requests)


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["order", "buy", "INFY", "1", "--limit", "2101.03"], USAGE, "not a multiple of tick 0.05; nearest 2101.05"),
        (["order", "buy", "INFY", "1", "--limit", "1e308"], USAGE, "price 1e+308 is beyond any real price"),
        (["order", "buy", "INFY", "1", "--limit", "1e-300"], USAGE, "not a multiple of tick 0.05; nearest 0.05"),
        (["order", "buy", "INFY", "1", "--sl", "2000", "--trigger", "1e300"], USAGE, "trigger_price 1e+300 is beyond"),
        (["order", "buy", "INFY", "0"], USAGE, "quantity 0 is not above 0; nearest 1"),
        (["order", "buy", "NIFTY 50", "1"], USAGE, "is an index and cannot be traded"),
        (["order", "buy", "INFY", "1", "--product", "NRML"], USAGE, "product NRML is not allowed on NSE"),
        (["order", "buy", "INFY", "1", "--tag", "not-a-tag"], USAGE, "nearest 'notatag'"),
        (["order", "buy", "NOSUCHSYMBOL", "1"], FAILED, "Unknown instrument 'NOSUCHSYMBOL'"),
        (["order", "buy", "INFY", "1", "--live", "--yes", "--limit", "1"], USAGE, "below the lower circuit"),
        (["order", "cancel", "999", "--live", "--yes"], FAILED, "Order not found"),
    ],
)
def test_orders_kite_would_refuse_are_refused_first_and_nothing_is_sent(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, says: str
) -> None:
    got, text = outcome(capsys, argv)
    assert (got, says in text) == (code, True), text
    assert not any(route.startswith("POST /orders") for route in on_sim.sim.requests)


def test_monitor_exits_non_zero_when_every_reading_failed(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    requests.put(f"{on_sim.url}/__sim/faults", json={"data_error_rate": 1.0, "paths": ["/quote"]}, timeout=5)
    code, text = outcome(capsys, ["monitor", "NIFTY 50", "--every", "0.01", "--count", "2"])
    assert code == FAILED and "All 2 readings failed" in text


def test_an_unknown_symbol_and_a_bad_expiry_are_clear(on_sim: SimServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = outcome(capsys, ["instruments", "chain", "NIFTY", "--expiry", "2026-13-45"])
    assert code == USAGE and "not a date" in text
    code, text = outcome(capsys, ["instruments", "find", "zzzqqq"])
    assert code == FAILED and "Nothing matches" in text
    code, text = outcome(capsys, ["monitor", "NSE:NO-SUCH-THING", "--count", "1"])
    assert code == FAILED and "no data" in text


def test_brackets_in_a_message_are_printed_not_taken_for_markup(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Messages quote what the user typed and name extras (pip install 'kitekit[scale]'): rich must not eat them.
    code, text = outcome(capsys, ["ticks", "RELIANCE", "--bus", "http://host/[scale]"])
    assert code == CONFIG and "got 'http://host/[scale]'" in text


def test_a_feed_owner_on_a_bus_nobody_serves_says_so_in_one_line_without_the_password(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nothing listens there once closed
    code, text = outcome(capsys, ["feed", "serve", "--bus", f"redis://:hunter2@127.0.0.1:{port}/0"])
    assert code == FAILED and f"the bus at redis://127.0.0.1:{port}/0 cannot be reached" in text
    assert "hunter2" not in text


def test_verbose_shows_the_traceback_for_those_who_want_it(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "config.json").write_bytes(b"[1]")
    assert run(["-v", "status"]) == CONFIG
    assert "Traceback" in capsys.readouterr().err


def test_a_full_disk_during_a_sync_is_a_file_error_and_keeps_the_old_cache(
    on_sim: SimServer, home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _ = outcome(capsys, ["instruments", "sync"])
    assert code == 0
    cached = sorted((home / "cache").rglob("*.kkdump"))

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", full)
        code, text = outcome(capsys, ["instruments", "sync", "--force"])
    assert code == FILES and "the disk is full" in text
    assert sorted((home / "cache").rglob("*.kkdump")) == cached and not list((home / "cache").rglob("*.tmp"))
    code, text = outcome(capsys, ["instruments", "find", "RELIANCE"])
    assert code == 0 and "738561" in text


def test_a_full_disk_while_saving_a_session_is_a_file_error_not_a_session_error(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", full)  # the disk fills up as the new session is written
        code, text = outcome(capsys, ["profile"])  # on a simulator it logs in by itself first
    assert (code, "the session could not be saved" in text) == (FILES, True), text
    code, text = outcome(capsys, ["profile"])
    assert code == 0, text


def test_a_sim_on_a_port_in_use_fails_leaving_the_running_ones_admin_token_alone(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        running = home / "data" / "sim" / f"127.0.0.1_{port}" / "admin-token"
        running.parent.mkdir(parents=True)
        running.write_text("the running simulator's token")
        code, text = outcome(capsys, ["sim", "--port", str(port)])
        assert (code, "Address already in use" in text) == (FAILED, True), text
        assert running.read_text() == "the running simulator's token"
        # An address this machine does not have (TEST-NET-1): the bind fails and no folder is left behind.
        code, text = outcome(capsys, ["sim", "--host", "192.0.2.1", "--port", str(port)])
        assert (code, "Cannot listen on 192.0.2.1" in text) == (FAILED, True), text
        assert sorted(p.name for p in (home / "data" / "sim").iterdir()) == [f"127.0.0.1_{port}"]
