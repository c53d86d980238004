"""The README's Python snippets run as written, in order, on the embedded simulator with only ``KITE_SIM=1`` set."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kitekit.cli import library
from kitekit.config import ENV_VARS
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.server import SimServer

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    """Return the README's ```python blocks, dedented (some sit inside list items)."""
    return [textwrap.dedent(block) for block in re.findall(r"^[ \t]*```python\n(.*?)^[ \t]*```", text, re.M | re.S)]


@pytest.fixture
def on_the_simulator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A new user's folder with one variable set, ``KITE_SIM=1``: the README runs on the embedded simulator."""
    monkeypatch.chdir(tmp_path)
    for name in ENV_VARS.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KITE_SIM", "1")
    yield
    if library._context is not None:  # the process's embedded simulator: stopped, so the next test starts afresh
        library._context.close()
        library._context = None


def test_the_readme_python_snippets_run_as_written_with_kite_sim_set(
    on_the_simulator: None, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 3
    namespace: dict[str, Any] = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)  # noqa: S102 - our own README
    printed = capsys.readouterr().out
    assert "738561 256265 260105" in printed
    asked = {"NIFTY 50", "NSE:INFY", 408065, *namespace["many"][:1500]}
    assert namespace["prices"][408065]["last_price"] > 0 and set(namespace["prices"]) == asked
    daily, five = namespace["daily"], namespace["five"]
    assert len(daily) > 200 and daily.index.is_unique and str(five.index.tz) == "Asia/Kolkata"
    assert list(five.columns) == ["open", "high", "low", "close", "volume"] and len(five) > 1000
    # One clock: the simulated world pinned at SIM_NOW, not today, is what every class told time by.
    assert namespace["now"] - SIM_NOW < timedelta(minutes=10) and five.index[-1] <= namespace["now"]
    past = namespace["past"]  # the chain's ATM IV history, its last session today's
    assert past.sessions > 5 and past.days[-1] == SIM_NOW.date() and 0 <= past.percentile() <= 100
    placed, again, scalp = namespace["placed"], namespace["again"], namespace["scalp"]
    assert again.order_id == placed.order_id and again.replayed and "True COMPLETE" in printed
    assert library._context is not None and library._context._embedded is not None
    assert library._context._embedded.server is not None
    exchange = library._context._embedded.server.sim.exchange
    assert [o["tag"] for o in exchange.accepted_orders()] == [scalp.tag]  # paper never reached it
    ticks, bars, ticker = namespace["ticks"], namespace["bars"], namespace["ticker"]
    assert {t["instrument_token"] for t in ticks} == {256265, 738561} and bars.forming(256265) is not None
    assert ticker.stats.ticks > 0 and not ticker.running and ticker.subscriptions == {260105: "quote", 408065: "quote"}
    assert library._context._embedded.server.sim.limiter.rejected == 0


def cli_examples(text: str, *commands: str) -> list[list[str]]:
    """Return the README's ``kitekit COMMAND …`` lines of ```bash blocks, as argument lists (comments dropped)."""
    import shlex

    lines = [line for block in re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S) for line in block.splitlines()]
    return [
        shlex.split(line, comments=True)[1:]
        for line in lines
        if line.startswith("kitekit ") and shlex.split(line, comments=True)[1] in commands
    ]


def test_the_readme_order_and_quote_examples_are_accepted_by_the_simulator(
    cli_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from kitekit.cli import run
    from tests.conftest import empty_cli_home

    # The simulator's market stands at 11:00 on Friday 2026-11-27, the time the examples' prices were chosen for.
    empty_cli_home(tmp_path, monkeypatch, columns=200)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    examples = cli_examples(README.read_text(), "order", "orders", "positions", "quote")
    assert len(examples) >= 7
    for argv in examples:
        monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))  # the --live example asks first: say no
        code = run(argv)
        captured = capsys.readouterr()
        text = captured.out + captured.err
        assert "refused" not in text and "REJECTED" not in text, (argv, text)
        assert code == (1 if "--live" in argv else 0), (argv, text)
        if "--slice" in argv:
            assert "Slices: 2 placed" in text
