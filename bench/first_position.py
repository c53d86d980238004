"""Fresh start to first position on the page: the README's two terminals, timed by the wall clock (issue 25).

In a new, empty data dir (as on a fresh clone), at once: ``kitekit --sim run examples/ema_cross.py --paper
--param fast=2 --param slow=3`` and ``kitekit --sim dashboard --no-open --port 0``; headless Chromium opens the
printed URL on the Positions page. Measured from the two starts to the first position row on the page, and to
the run's first fill in its event record (``events.jsonl``).

The baseline does the same with the same example made to wait for a bar to close before it acts (its
``on_start`` does nothing: what the example did before the runner's warm-up let it act at the start).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ema_cross.py"
KITEKIT = Path(sys.executable).parent / "kitekit"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip

#: The baseline strategy: the example, acting only when a bar closes (as before the warm-up).
WAITING = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("ema_cross_example", {str(EXAMPLE)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)


class WaitsForABar(module.EmaCross):
    def on_start(self):
        pass
"""

_URL = re.compile(r"http://127\.0\.0\.1:\d+/\?token=\S+")


def measure(waiting: bool = False, limit: float = 300.0) -> dict[str, float]:
    """Return seconds from a fresh start to the first fill (``fill_s``) and to the first row on the page (``page_s``).

    NaN for what did not happen within ``limit`` seconds; ``reloads``: how often the page was reloaded after a
    first load that did not finish in 30 s.
    """
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {**os.environ, "KITEKIT_DATA_DIR": str(home / "data"), "KITEKIT_CACHE_DIR": str(home / "cache"),
               "KITEKIT_CONFIG_DIR": str(home / "config"), "NO_COLOR": "1", "COLUMNS": "300"}  # fmt: skip
        env.pop("KITE_SIM_STATE", None)
        strategy = EXAMPLE
        if waiting:
            strategy = home / "waits_for_a_bar.py"
            strategy.write_text(WAITING)
        started = time.monotonic()
        run = subprocess.Popen([str(KITEKIT), "--sim", "run", str(strategy), "--paper", "--param", "fast=2", "--param",
                                "slow=3", "--for", "10m"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        dash = subprocess.Popen([str(KITEKIT), "--sim", "dashboard", "--no-open", "--port", "0"], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)  # fmt: skip
        procs: list[subprocess.Popen[Any]] = [run, dash]
        try:
            assert dash.stdout is not None  # noqa: S101 - piped above
            url = ""
            while not url:
                line = dash.stdout.readline()
                if not line:
                    raise RuntimeError("the dashboard ended before printing its URL")
                found = _URL.search(line)
                url = found.group(0) if found else ""
            events = list((home / "data").glob("sim/embedded/runs/*/events.jsonl"))
            fill = page = float("nan")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                tab: Any = browser.new_page()
                deadline = started + limit
                reloads = 0
                loaded = time.monotonic()
                tab.goto(url + "#/positions", wait_until="commit")
                while time.monotonic() < deadline and (page != page or fill != fill):
                    if fill != fill:
                        events = events or list((home / "data").glob("sim/embedded/runs/*/events.jsonl"))
                        if events and '"kind": "fill"' in events[0].read_text():
                            fill = time.monotonic() - started
                    if page != page and tab.locator("#positions-body tr[data-id]").count():
                        page = time.monotonic() - started
                    ready = tab.locator('#page[data-page="positions"][data-ready="1"]').count()
                    if not ready and time.monotonic() - loaded > 30:
                        # Seen once or twice under heavy load: a first load that never finished. A user would
                        # reload; so does the bench, and it says so.
                        reloads += 1
                        loaded = time.monotonic()
                        tab.reload(wait_until="commit")
                    time.sleep(0.1)
                browser.close()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return {"fill_s": fill, "page_s": page, "reloads": float(reloads)}
