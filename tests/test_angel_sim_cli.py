"""``kitekit sim --broker angel``: the Angel simulator in the foreground, in the simulated world's folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import requests
from typer.testing import CliRunner

from kitekit.cli.main import app
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.wire.angel.scrip import SCRIP_MASTER_PATH


def test_kitekit_sim_broker_angel_serves_the_scrip_master_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "KITEKIT_DATA_DIR": str(tmp_path)}
    argv = ["sim", "--broker", "angel", "--port", "0", "--state", str(tmp_path / "w"), "--at", SIM_NOW.isoformat()]
    with subprocess.Popen(
        [sys.executable, "-m", "kitekit.cli", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        serves_the_master_then_stops(proc, url_of(proc))
    assert (tmp_path / "w" / "world.json").exists()  # the same world a Kite simulator there would run in


def url_of(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "Angel One simulator listening on" in first, first
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain the rest of the banner
    return first.split("listening on ")[1].split()[0]


def serves_the_master_then_stops(proc: subprocess.Popen[str], url: str) -> None:
    try:
        master = requests.get(url + SCRIP_MASTER_PATH, timeout=60).json()
        assert any(row["symbol"] == "RELIANCE-EQ" for row in master)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_kite_only_options_are_a_usage_error_with_the_angel_broker(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sim", "--broker", "angel", "--port", "0", "--drop-rate", "0.5"])
    assert result.exit_code == 2
    assert "--broker kite only" in result.output
