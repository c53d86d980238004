"""Shared fixtures: the simulator plugin, a rate-limit-free simulator, and a wait-for-condition helper."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kitekit.bus.server import RedisServer
from kitekit.cli.embedded import sim_settings as settings_for
from kitekit.clock import ManualClock, SystemClock
from kitekit.config import Settings
from kitekit.errors import BusUnavailableError
from kitekit.instruments import InstrumentStore
from kitekit.sim.config import SimConfig
from kitekit.sim.market import Market
from kitekit.sim.server import SimServer

pytest_plugins = ["kitekit.sim.pytest_plugin"]

T = TypeVar("T")


def eventually(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.01) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def sim_settings(server: SimServer) -> Settings:
    """Return client settings that log in to ``server`` with the simulator's own credentials."""
    return settings_for(server.sim.config, server.url)


@pytest.fixture(scope="session", autouse=True)
def kept_simulator_builds(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the simulators' day builds (universe, dumps) in one folder for the whole run, every worker's and child's.

    Each test gets its own cache folder (``private_dirs``), where a simulator would build a day's universe and
    dumps again in every process; these builds depend only on the seed, the day and the code.
    """
    from kitekit.sim.market.stored import ENV

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, which the workers' own folders are in
    os.environ.setdefault(ENV, str(root / "simulator-builds"))


@pytest.fixture(autouse=True)
def private_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's sessions, caches and pacer state out of the user's real directories.

    Every embedded simulated world a test starts (``--sim``, ``KITE_SIM=1``) begins at ``SIM_NOW``, a Friday
    mid-session, whatever today is: a test that needs another instant sets ``KITE_SIM_AT`` itself.
    """
    from kitekit.sim.pytest_plugin import SIM_NOW  # here: importing the plugin before pytest registers it warns

    base = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("KITEKIT_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("KITEKIT_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("KITEKIT_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("KITE_SIM_AT", SIM_NOW.isoformat())
    for name in ("KITE_SIM", "KITE_SIM_URL", "KITE_SIM_STATE"):
        monkeypatch.delenv(name, raising=False)


def empty_cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columns: int) -> Path:
    """Make ``tmp_path`` a new user's working directory: private kitekit dirs in it, no Kite variables set."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATA", "CONFIG", "CACHE"):
        monkeypatch.setenv(f"KITEKIT_{name}_DIR", str(tmp_path / name.lower()))
    monkeypatch.setenv("COLUMNS", str(columns))
    for name in ("KITE_API_KEY", "KITE_API_SECRET", "KITE_SIM", "KITE_SIM_URL", "KITE_CONFIG", "KITE_ROOT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


#: Runs one command on the broker under test; returns (exit code, stdout, stderr).
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[[str], Cli]:
    """Return, for a broker's name, a runner of ``kitekit --sim --broker NAME ARGS...`` in a new user's home."""
    from kitekit.cli import run

    empty_cli_home(tmp_path, monkeypatch, 200)
    monkeypatch.setenv("KITE_SIM_STATE", str(tmp_path / "world"))
    for name in ("KITEKIT_BROKER", "KITEKIT_DATA_BROKER", "KITEKIT_ORDER_BROKER"):
        monkeypatch.delenv(name, raising=False)

    def on(broker: str) -> Cli:
        def command(*args: str) -> tuple[int, str, str]:
            capsys.readouterr()
            code = run(["--sim", "--broker", broker, *args])
            out, err = capsys.readouterr()
            assert "Traceback" not in out + err
            return code, out, err

        return command

    return on


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real ``redis-server`` on 127.0.0.1 at a free port, in a temporary folder, with no persistence.

    It fails the test (never skips it) when the server cannot be started: the bus is part of kitekit, and
    ``./dev test`` and ``.ci/run`` install Debian's redis-server on a fresh machine.
    """
    try:
        server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    except BusUnavailableError as exc:
        pytest.fail(f"this test needs a real Redis: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def unlimited(sim_config: SimConfig) -> SimConfig:
    """Turn the simulator's rate limits off for tests that call quotes back to back."""
    sim_config.rate_limit_enabled = False
    return sim_config


@pytest.fixture(scope="session")
def sim_dump(sim_market: Market) -> bytes:
    """The simulator's full instruments dump at ``SIM_NOW`` (built once per test session)."""
    from kitekit.sim.pytest_plugin import SIM_NOW  # here: importing the plugin before pytest registers it warns

    return sim_market.universe(SIM_NOW).dump()[0]


@pytest.fixture
def sim_instruments(sim_dump: bytes, sim_clock: ManualClock) -> InstrumentStore:
    """An instrument store over the simulator's dump, on the simulator's clock (no download)."""
    return InstrumentStore.from_bytes(sim_dump, sim_clock.now().date(), clock=sim_clock)


@pytest.fixture
def cli_sim(sim_market: Market) -> Iterator[SimServer]:
    """A simulator for clients of their own (the CLI, other processes), which make TOTP codes from the wall clock.

    Its market (and so the time every client reads from it) stays on ``SIM_NOW``, a frozen Friday mid-session.
    """
    from kitekit.sim.pytest_plugin import SIM_NOW

    with SimServer(SimConfig(), ManualClock(SIM_NOW), market=sim_market, totp_clock=SystemClock()) as server:
        yield server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests that start Redis ``redis``; skip tests marked ``live`` unless KITE_LIVE=1 and credentials are set."""
    import os

    for item in items:
        if "redis_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis)

    if os.environ.get("KITE_LIVE") == "1" and os.environ.get("KITE_API_KEY"):
        return
    skip = pytest.mark.skip(reason="live test: set KITE_LIVE=1 and KITE_API_KEY/KITE_API_SECRET and log in first")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


# -- which tests read the wall clock ---------------------------------------------------------------------------
# CI runs the whole suite today with --wall-clock-report, then only the tests it names at every instant of the
# calendar matrix (./dev matrix): a test that never reads the wall clock, nor starts a process that could, cannot
# change with the date. Reads go through kitekit.clock.SystemClock (tests/test_wall_clock.py keeps it that way).
_reading: list[str | None] = [None]
_wall_readers: set[str] = set()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--wall-clock-report FILE``."""
    parser.addoption(
        "--wall-clock-report",
        metavar="FILE",
        help="write the tests that read the wall clock or start a process to FILE (@FILE for pytest)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Watch wall-clock reads and new processes when a report is asked for."""
    config.addinivalue_line("markers", "calendar: read the wall clock on purpose; always in the calendar matrix")
    if not config.getoption("--wall-clock-report"):
        return
    import subprocess

    def noted(original: Callable[..., T], counts: Callable[..., bool] = lambda *a, **k: True) -> Callable[..., T]:
        def wrapper(*args: object, **kwargs: object) -> T:
            if _reading[0] is not None and counts(*args, **kwargs):
                _wall_readers.add(_reading[0])
            return original(*args, **kwargs)

        return wrapper

    SystemClock.now = noted(SystemClock.now)  # type: ignore[method-assign]
    subprocess.Popen.__init__ = noted(subprocess.Popen.__init__, _runs_python)  # type: ignore[method-assign]


def _runs_python(popen: object, args: object = None, *rest: object, **kwargs: object) -> bool:
    """Return whether a new process runs Python (kitekit's code, which reads KITEKIT_NOW's clock).

    A redis-server, Chromium or Playwright's driver cannot tell kitekit's time, so a test that starts only those
    does not join the calendar matrix for it.
    """
    argv = args if args is not None else kwargs.get("args")
    first = argv if isinstance(argv, str | bytes) else next(iter(argv), "") if isinstance(argv, list | tuple) else ""
    name = Path(os.fsdecode(str(kwargs.get("executable") or first).split()[0] if first else "")).name
    return name.startswith("python") or name in ("kitekit", Path(sys.executable).name) or name.endswith(".py")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Note which test is running, for the wall-clock report."""
    node = item.nodeid.split("[")[0]
    _reading[0] = node
    if item.get_closest_marker("calendar"):
        _wall_readers.add(node)
    try:
        return (yield)
    finally:
        _reading[0] = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the wall-clock report, one test id a line.

    Under pytest-xdist each worker writes its own part (``FILE.gw0``…) as it finishes, and the controller, which
    finishes last, joins them into FILE.
    """
    path = session.config.getoption("--wall-clock-report")
    if not path:
        return
    report = Path(path)
    report.parent.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        report.with_name(f"{report.name}.{worker}").write_text("".join(f"{node}\n" for node in _wall_readers))
        return
    found = set(_wall_readers)
    for part in report.parent.glob(f"{report.name}.gw*"):
        found.update(part.read_text().split())
        part.unlink()
    report.write_text("".join(f"{node}\n" for node in sorted(found)))


@pytest.fixture
def smartapi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The official smartapi-python SDK's modules, kept in the test: loopback only, its log folders in tmp_path.

    See tests/angel_sdk.py. After the test, its log file is closed and nothing was written to the folder the
    test started in.
    """
    from tests.angel_sdk import close_sdk_logs, closing_logfile, load_sdk, loopback_only

    started_in = Path.cwd()
    before = set(started_in.iterdir())
    work = tmp_path / "sdk-cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    with loopback_only():
        try:
            modules = load_sdk()
            import logzero  # the SDK's dependency: each of its instances points logzero at a new file

            monkeypatch.setattr(logzero, "logfile", closing_logfile(logzero.logfile))
            yield dict(modules)
        finally:
            close_sdk_logs()
    assert set(started_in.iterdir()) == before, "the SDK wrote into the test's starting folder"
