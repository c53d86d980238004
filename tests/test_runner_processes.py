"""Real processes: the kill switch set from another process, and a run killed by SIGKILL mid-session that restarts
without a duplicate order. A simulator runs here, its market moving; the runs are ``kitekit`` commands talking to
it (``KITE_SIM_URL``), as they would on a server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kitekit import paths
from kitekit.runner import RunFolder
from kitekit.sim.market import Market
from kitekit.sim.server import SimServer
from tests.conftest import eventually
from tests.orders_helpers import accepted, order_faults
from tests.runner_helpers import EXAMPLES, running_sim

pytestmark = pytest.mark.slow  # real time passes: real processes against a market that runs

#: A minute bar a second.
SPEED = 60.0

RESTING = '''
from kitekit.orders import nearest_tick
from kitekit.runner import Strategy


class RestingBuy(Strategy):
    """Keeps one LIMIT buy resting 5% under the market while flat: its intents are numbered, not named."""

    symbols = ("NSE:INFY",)

    def on_bar(self, bar):
        if not self.open_orders(bar.key) and not self.position(bar.key):
            self.buy(bar.key, 1, price=nearest_tick(bar.close * 0.95, 0.05), product="CNC")
'''


@pytest.fixture
def market_sim(sim_market: Market, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimServer]:
    with running_sim(sim_market, SPEED) as server:
        monkeypatch.setenv("KITE_SIM_URL", server.url)
        yield server


def kitekit(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kitekit.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def finished(process: subprocess.Popen[bytes], timeout: float = 60) -> tuple[int, str]:
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out.decode(errors="replace")


def run_folder(server: SimServer, name: str) -> RunFolder:
    return RunFolder(paths.sim_home(server.url) / "runs" / name)


def lines(folder: RunFolder, name: str) -> list[dict[str, Any]]:
    path = folder.file(name)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def of_run(server: SimServer, folder: RunFolder) -> list[dict[str, Any]]:
    state = json.loads(folder.file("state.json").read_text())
    tags = {intent["tag"] for intent in state["intents"].values()}
    return [o for o in accepted(server) if o.get("tag") in tags]


def test_the_kill_switch_from_another_process_stops_the_run_cancels_and_flattens(market_sim: SimServer) -> None:
    run = kitekit("run", str(EXAMPLES / "ema_cross.py"), "--paper", "--name", "killme", "--param", "fast=2",
                  "--param", "slow=3", "--for", "10h", "--no-status", "--no-html")  # fmt: skip
    folder = run_folder(market_sim, "killme")
    try:
        eventually(lambda: any(r["outcome"] == "placed" for r in lines(folder, "orders.jsonl")), timeout=60)
        code, out = finished(kitekit("kill", "killme", "--flatten", "--reason", "from the test"))
        assert code == 0, out
        assert "stops new orders at once" in out
        code, out = finished(run, timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate(timeout=10)
    assert code == 0, out
    state = json.loads(folder.file("state.json").read_text())
    assert state["risk"]["state"] == "killed" and state["killed"]["flatten"] is True
    assert "from the test" in state["risk"]["reason"]
    lots = state["book"]["lots"]
    assert lots and all(lot["quantity"] == 0 for lot in lots)  # flattened
    assert all(o["status"] in ("COMPLETE", "CANCELLED", "REJECTED") for o in state["orders"].values())
    assert json.loads(folder.file("run.json").read_text())["status"] == "killed"
    # Killed stays killed: a restart refuses until the flag is cleared.
    code, out = finished(kitekit("run", str(EXAMPLES / "ema_cross.py"), "--paper", "--name", "killme", "--for", "1m",
                                 "--no-status"))  # fmt: skip
    assert code == 1 and "is killed" in out and "kitekit kill killme --clear" in out
    code, out = finished(kitekit("runs"))
    assert code == 0 and "killme" in out and "killed" in out
    code, out = finished(kitekit("kill", "killme", "--clear"))
    assert code == 0 and "Cleared" in out
    code, out = finished(kitekit("run", str(EXAMPLES / "ema_cross.py"), "--paper", "--name", "killme", "--for", "2m",
                                 "--no-status", "--no-html"))  # fmt: skip
    assert code == 0, out
    assert json.loads(folder.file("state.json").read_text())["risk"]["state"] == "active"


@pytest.mark.parametrize("in_flight", [False, True], ids=["after-the-answer", "mid-request"])
def test_a_run_killed_by_sigkill_mid_session_restarts_without_a_duplicate_order(
    market_sim: SimServer, tmp_path: Path, in_flight: bool
) -> None:
    strategy = tmp_path / "resting_buy.py"
    strategy.write_text(RESTING)
    folder = run_folder(market_sim, "resting")
    if in_flight:  # the order is accepted at once and answered 4 s later: the SIGKILL lands before the answer
        order_faults(market_sim, ack_delay_ms=4000)
    args = ("run", str(strategy), "--live", "--yes", "--name", "resting", "--no-status", "--no-html")
    first = kitekit(*args, "--for", "10h")
    try:
        eventually(lambda: len(accepted(market_sim)) >= 1, timeout=60)
        if in_flight:  # written ahead: the intent is in the run's state, its order id not yet
            intents = json.loads(folder.file("state.json").read_text())["intents"]
            assert [i.get("order_id") for i in intents.values()] == [None]
        first.send_signal(signal.SIGKILL)
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate(timeout=10)
    order_faults(market_sim, ack_delay_ms=0)
    assert len(accepted(market_sim)) == 1
    code, out = finished(kitekit(*args, "--for", "3m"), timeout=90)
    assert code == 0, out
    orders = of_run(market_sim, folder)
    assert len(accepted(market_sim)) == 1 and len(orders) == 1  # reconciled: the resting order is the run's
    state = json.loads(folder.file("state.json").read_text())
    assert [i.get("order_id") for i in state["intents"].values()] == [orders[0]["order_id"]]
    assert os.environ.get("KITE_SIM_URL") == market_sim.url


def test_ctrl_c_stops_a_paper_run_cleanly_cancelling_what_it_left_open(market_sim: SimServer, tmp_path: Path) -> None:
    strategy = tmp_path / "resting_buy.py"
    strategy.write_text(RESTING)
    folder = run_folder(market_sim, "interrupted")
    run = kitekit("run", str(strategy), "--paper", "--name", "interrupted", "--for", "10h", "--no-status")
    try:
        eventually(lambda: any(r["outcome"] == "placed" for r in lines(folder, "orders.jsonl")), timeout=60)
        run.send_signal(signal.SIGINT)
        code, out = finished(run, timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate(timeout=10)
    assert code == 130, out
    assert "interrupted (Ctrl-C)" in out and "Report:" in out and "Traceback" not in out
    state = json.loads(folder.file("state.json").read_text())
    assert state["orders"] and {o["status"] for o in state["orders"].values()} == {"CANCELLED"}
    assert folder.file("report.html").is_file()
