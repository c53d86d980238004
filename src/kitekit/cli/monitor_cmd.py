"""``kitekit monitor``: LTP readings every N seconds, as lines, a live table, and/or a CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kitekit.cli import options
from kitekit.cli.context import CliContext
from kitekit.errors import KitekitError

__all__ = ["monitor"]


def monitor(
    ctx: typer.Context,
    instruments: Annotated[list[str], typer.Argument(help='Instruments: "NIFTY 50", RELIANCE, NSE:INFY, 408065…')],
    every: Annotated[float, typer.Option(help="Seconds between readings.", callback=options.finite_positive)] = 5.0,
    count: Annotated[
        int | None, typer.Option(help="Number of readings (default: until Ctrl-C).", callback=options.at_least(1))
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="A table that refreshes in place.")] = False,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also append readings to this CSV file.")] = None,
) -> None:
    """Print LTPs every few seconds; failed readings show as gaps with the reason, and the loop goes on.

    Exits with 1 when every reading failed for every instrument.
    """
    from kitekit.cli.monitor_view import run_monitor
    from kitekit.monitor import Monitor

    cli: CliContext = ctx.obj
    data = cli.market_data()
    mon = Monitor(data, instruments, every=every, count=count, with_ohlc=live, clock=cli.clock)
    run = run_monitor(mon, cli.console, live, csv)
    if run.readings and run.all_failed == run.readings:
        raise KitekitError(f"All {run.readings} readings failed; the reasons are shown above.")
