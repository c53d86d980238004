"""What a ``--sim`` command starts: nothing, unless it asks the simulator something (then on the first request).

``kitekit --sim instruments find`` on a warm cache, ``--help`` and ``status`` with no session read only local
state: they must not import the simulator's server (uvicorn, Starlette, the market model: ~0.5 s of a 0.3 s
budget, BENCHMARKS.md) nor start a thread (the server's, whose stop was waited on) nor take a lock, yet tell
time by the simulated world's clock as every ``--sim`` command does. Each command runs in a fresh interpreter,
which reports what it imported and started.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from kitekit import paths
from kitekit.cli.context import CliContext
from kitekit.clock import ManualClock
from kitekit.instruments import InstrumentStore
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.server import SimServer
from kitekit.sim.world import World

#: Runs the CLI with the arguments given, then prints its exit code, the threads it started and the heavy
#: modules it imported: the server's, and filelock (reading needs no lock; a lock taken may be waited on).
PROBE = """
import json, sys, threading

started = []
_start = threading.Thread.start


def start(self):
    started.append(self.name)
    _start(self)


threading.Thread.start = start
from kitekit.cli.main import run

code = run(sys.argv[1:])
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("starlette", "uvicorn", "filelock")
    or m.startswith(("kitekit.sim.server", "kitekit.sim.http", "kitekit.sim.market", "kitekit.sim.exchange"))
)
print(json.dumps({"code": code, "threads": started, "heavy": heavy}))
"""


def probe(*argv: str) -> dict[str, object]:
    """Run ``kitekit ARGV`` in a fresh interpreter; return its exit code, the threads it started, what it imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.strip(), done.stderr
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    report["out"] = done.stdout
    return report


@pytest.fixture
def warm_world(sim_dump: bytes) -> Path:
    """The embedded simulator's world begun at ``SIM_NOW``, with that day's dump cached in it (as a sync leaves it)."""
    home = paths.sim_home(None)
    World(home).open(at=SIM_NOW)
    # The dump day by the world's clock: a command that told time by the wall clock would find no dump here.
    InstrumentStore(
        home / "cache" / "instruments", lambda exchange, progress: sim_dump, clock=ManualClock(SIM_NOW)
    ).sync()
    return home


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--sim", "instruments", "find", "RELIANCE"], 0),
        (["--sim", "status"], 3),  # no session: says so, from the files alone
        (["--sim", "--help"], 0),
        (["--sim", "instruments", "--help"], 0),
    ],
    ids=["find-warm", "status-no-session", "help", "instruments-help"],
)
def test_a_sim_command_that_reads_local_state_imports_no_server_and_starts_nothing(
    warm_world: Path, argv: list[str], code: int
) -> None:
    report = probe(*argv)
    assert report["code"] == code, report["out"]
    assert report["heavy"] == [] and report["threads"] == []
    if argv[-1] == "RELIANCE":
        assert "NSE:RELIANCE" in str(report["out"]) and "738561" in str(report["out"])


def test_the_sim_clock_is_the_world_s_without_a_server(warm_world: Path) -> None:
    cli = CliContext.from_env(True, None, None)
    try:
        assert abs(cli.clock.now() - SIM_NOW) < timedelta(minutes=10)  # the world's time, not today's
        assert cli.store().load().token("NSE:RELIANCE") == 738561  # the world's day's dump, downloading nothing
        assert cli._embedded is None
    finally:
        cli.close()


def served_by(cli: CliContext) -> SimServer | None:
    """Return the server of the command's embedded simulator, None while it has none (read anew each time)."""
    return None if cli._embedded is None else cli._embedded.server


def test_the_embedded_simulator_starts_on_its_first_request_on_the_world_s_clock(warm_world: Path) -> None:
    cli = CliContext.from_env(True, None, None)
    try:
        url = cli.settings().root
        assert cli._embedded is not None and served_by(cli) is None  # an address, nothing served yet
        answer = requests.get(f"{url}/__sim/clock", timeout=30)  # the first request starts it, and is answered
        assert served_by(cli) is not None
        told, served = cli.clock.now(), answer.json()["data"]
        # One clock: the server runs on the world the command reads its time from.
        assert served["mode"] == "sessions" and served["anchor"] == SIM_NOW.isoformat()
        assert abs(datetime.fromisoformat(served["now"]) - told) < timedelta(seconds=30)
    finally:
        cli.close()
    assert served_by(cli) is None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/__sim/clock", timeout=5)  # stopped, its port released


def test_a_client_of_the_lazy_embedded_simulator_logs_in_and_is_served(warm_world: Path) -> None:
    cli = CliContext.from_env(True, None, None)
    try:
        cli.settings()
        assert served_by(cli) is None
        kite = cli.kite()  # logs in by itself: the simulator's credentials are public
        assert served_by(cli) is not None and kite.profile()["user_id"] == "KK1234"
    finally:
        cli.close()


def test_an_embedded_simulator_never_asked_anything_closes_at_once(warm_world: Path) -> None:
    cli = CliContext.from_env(True, None, None)
    cli.settings()
    embedded = cli._embedded
    assert embedded is not None
    cli.close()
    assert embedded.server is None  # never started: nothing to wait for at the end
