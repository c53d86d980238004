"""Upstox and Angel One sessions on their embedded simulators behave as Kite's do (one test body, both brokers).

Every ``kitekit --sim --broker NAME`` command starts its own simulator process over one simulated world: the
world keeps the simulator's sessions as it keeps Kite's, so a session saved by one command is accepted by the
next; ``status`` asks the simulator rather than trusting the file; a session the simulator no longer accepts is
made again by ``--sim`` itself; and two commands at once share the session under file locks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Cli
from .test_cli_brokers import OTHERS

#: Each test runs several commands, each starting its broker's embedded simulator.
pytestmark = pytest.mark.timeout(360)


def session_file(tmp_path: Path, broker: str) -> Path:
    """Return where ``--sim --broker NAME`` saves its session (beside the world under test)."""
    found = list((tmp_path / "world" / "sessions").glob("upstox.json" if broker == "upstox" else "angel-*.json"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def upstox_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the Upstox simulator's instruments cached once for the module: its order gateway reads them.

    Building and parsing the day's dump takes most of a first Upstox command; every test here would pay it.
    """
    from kitekit.sim.pytest_plugin import SIM_NOW  # here: importing the plugin before pytest registers it warns

    home = tmp_path_factory.mktemp("upstox-dump")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("KITE_", "KITEKIT_"))}
    env |= {f"KITEKIT_{name}_DIR": str(home / name.lower()) for name in ("DATA", "CONFIG", "CACHE")}
    env |= {"KITE_SIM_STATE": str(home / "world"), "KITE_SIM_AT": SIM_NOW.isoformat()}
    argv = [sys.executable, "-m", "kitekit.cli", "--sim", "--broker", "upstox", "instruments", "sync"]
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=300)
    return home / "world" / "cache" / "instruments" / "upstox"


@pytest.fixture
def sim_cli(cli: Callable[[str], Cli], tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], Cli]:
    """Return :func:`cli`'s runner for a broker, its world holding the broker's instruments already (Upstox's)."""

    def on(broker: str) -> Cli:
        if broker == "upstox":
            cache: Path = request.getfixturevalue("upstox_cache")
            shutil.copytree(cache, tmp_path / "world" / "cache" / "instruments" / "upstox")
        return cli(broker)

    return on


def logging_in(err: str) -> bool:
    """Return whether a command said it logged in to the broker's simulator by itself."""
    return "Logging in to the" in err


@pytest.mark.parametrize("broker", OTHERS)
def test_the_next_simulator_accepts_the_saved_session_and_status_logout_and_sim_handle_a_refused_one(
    broker: str, sim_cli: Callable[[str], Cli], tmp_path: Path
) -> None:
    kk = sim_cli(broker)
    assert kk("login")[0] == 0
    saved = session_file(tmp_path, broker)
    kept = saved.read_bytes()
    code, out, err = kk("funds", "--live")  # a new simulator process, on the same world
    assert code == 0 and "equity" in out
    assert not logging_in(err)  # the world kept the session: no second login
    assert kk("logout")[0] == 0  # the simulator ends the token…
    saved.write_bytes(kept)  # …which a file restored from a copy still holds, unexpired by its own dates
    code, out, _ = kk("status")
    assert code == 3 and "dead (the simulator ended it)" in out  # asked, not read from the file
    assert f"Log in again with: kitekit --sim --broker {broker} login" in out
    code, out, _ = kk("logout")  # of a session the simulator refused: the file goes all the same
    assert code == 0 and "Logged out" in out and not saved.exists()
    saved.write_bytes(kept)  # not even marked dead now: only the simulator knows
    code, out, err = kk("funds", "--live")  # --sim makes a new session, without a word of the refusal
    assert code == 0 and "equity" in out and logging_in(err)
    code, out, _ = kk("status")
    assert code == 0 and "valid" in out
    code, out, _ = kk("--sim-fresh", "status")  # a new world: its sessions are gone with it
    assert code == 3 and f"Log in with: kitekit --sim --broker {broker} login" in out


@pytest.mark.parametrize("broker", OTHERS)
def test_two_commands_at_once_make_one_session_and_neither_loses_it(
    broker: str, sim_cli: Callable[[str], Cli], tmp_path: Path
) -> None:
    kk = sim_cli(broker)
    command = [sys.executable, "-m", "kitekit.cli", "--sim", "--broker", broker, "funds", "--live"]
    logs = [tmp_path / f"run{n}.log" for n in range(2)]
    children = []
    for log in logs:
        with log.open("wb") as sink:  # to files: a full pipe would stall a child
            children.append(subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=dict(os.environ)))
    codes = [child.wait(timeout=240) for child in children]
    said = [log.read_text() for log in logs]
    assert codes == [0, 0], said
    assert all("equity" in text and "Traceback" not in text for text in said), said
    assert sum(logging_in(text) for text in said) == 1, said  # one login, under the lock; the other kept it
    code, out, _ = kk("status")
    assert code == 0 and "valid" in out  # the session both used is still the saved one, and accepted
