"""The official KiteTicker (Twisted, in a subprocess) against the simulator's ticker: it gets what was sent."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from kiteconnect import KiteConnect

from kitekit.clock import ManualClock
from kitekit.sim.server import SimServer
from kitekit.wire.ticks import decode_ticks

from .conftest import eventually
from .stream_helpers import NIFTY, RELIANCE

PROBE = Path(__file__).with_name("sdk_ticker_probe.py")
NIFTY_FUT, USDINR_FUT = 18200578, 9496579


def start_probe(root: str, kite: KiteConnect, mode: str, frames: int, tokens: list[int]) -> subprocess.Popen[str]:
    """Start the official KiteTicker in a process of its own (Twisted's reactor runs once per process)."""
    argv = [sys.executable, str(PROBE), root, kite.api_key, str(kite.access_token), mode, str(frames)]
    return subprocess.Popen([*argv, *map(str, tokens)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def probe_result(probe: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = probe.communicate(timeout=60)
    assert probe.returncode == 0, err[-3000:]
    result: dict[str, Any] = json.loads(out)
    result["frames"] = [base64.b64decode(frame) for frame in result["frames"]]
    return result


def plain(ticks: list[dict[str, Any]]) -> Any:
    """Return ticks as JSON sees them (datetimes as text), to compare across processes."""
    return json.loads(json.dumps(ticks, default=str))


def test_the_official_kiteticker_receives_exactly_what_the_simulator_sent(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    sent: list[bytes] = []
    sim.sim.feed.tap = lambda connection, frame: sent.append(frame)
    tokens = [RELIANCE, NIFTY, NIFTY_FUT, USDINR_FUT]
    with start_probe(sim.ws_url, sim_kite, "full", 5, tokens) as probe:
        eventually(lambda: [c["modes"] for c in sim.sim.feed.info()["connections"]] == [{"full": 4}], timeout=60)
        update = {"order_id": "260112000000101", "status": "OPEN", "user_id": "KK1234", "unfilled_quantity": 1}
        sim.sim.order_updates.publish("KK1234", update)
        for _ in range(20):  # a new market second at a time, until the probe has its frames and leaves
            count = len(sent)
            sim_clock.advance(1)
            eventually(lambda: len(sent) > count or probe.poll() is not None)  # noqa: B023 - called at once
            if probe.poll() is not None:
                break
        result = probe_result(probe)
    frames = result["frames"]
    assert len(frames) >= 5 and frames == sent[: len(frames)]
    assert plain(result["ticks"]) == plain([tick for frame in frames for tick in decode_ticks(frame)])
    assert {t["instrument_token"] for t in result["ticks"][-4:]} == set(tokens)
    assert result["orders"] == [update] and result["errors"] == [] and result["connects"] == 1


def test_the_official_kiteticker_reports_the_403_of_a_dead_token(sim: SimServer, sim_kite: KiteConnect) -> None:
    sim_kite.access_token = "dead-token"
    with start_probe(sim.ws_url, sim_kite, "quote", 1, [RELIANCE]) as probe:
        eventually(lambda: sim.sim.feed.refused[403] >= 2, timeout=60)  # refused, and the SDK tries again (§15.9)
        probe.kill()
        probe.communicate(timeout=30)
