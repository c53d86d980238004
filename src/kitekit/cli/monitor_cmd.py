"""``kitekit monitor``: LTP readings every N seconds, as lines, a live table, and/or a CSV file; or ``--stream``."""

from pathlib import Path
from typing import Annotated, Any

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
    stream: Annotated[
        bool,
        typer.Option("--stream", help="The live table fed by the WebSocket ticker as ticks arrive (no --every)."),
    ] = False,
) -> None:
    """Print LTPs every few seconds; failed readings show as gaps with the reason, and the loop goes on.

    With --stream the live table follows Kite's WebSocket feed instead, and --count counts tick frames.
    Exits with 1 when every reading failed for every instrument.
    """
    cli: CliContext = ctx.obj
    if csv is not None:
        from kitekit.history.export import check_writable

        check_writable(csv)  # before the login and the first reading, not after them
    if stream:
        _stream(cli, instruments, count, csv)
        return
    from kitekit.cli.monitor_view import run_monitor
    from kitekit.monitor import Monitor

    data: Any
    if cli.on_kite:
        data = cli.market_data()
    else:
        from kitekit.cli.neutral import KiteShapedQuotes

        data = KiteShapedQuotes(cli.broker_pair().quotes())
    mon = Monitor(data, instruments, every=every, count=count, with_ohlc=live, clock=cli.clock)
    run = run_monitor(mon, cli.console, live, csv)
    if run.readings and run.all_failed == run.readings:
        raise KitekitError(f"All {run.readings} readings failed; the reasons are shown above.")


def _stream(cli: CliContext, instruments: list[str], count: int | None, csv: Path | None) -> None:
    import asyncio

    from kitekit.cli.stream_view import stream_monitor
    from kitekit.ticker import Ticker

    if not cli.on_kite:
        from kitekit.cli.neutral import TickDicts

        feed = cli.broker_pair().feed()
        keys = feed.subscribe(instruments, "quote")
        shaped = TickDicts(feed, keys)
        by_token: dict[int, list[str]] = {}
        for name, key in zip(instruments, keys, strict=True):
            by_token.setdefault(shaped.tokens[key], []).append(name)
        asyncio.run(stream_monitor(shaped, by_token, cli.console, cli.clock, count, csv))
        return
    ticker = Ticker.from_kite(cli.kite(), cli.store(), login_hint=cli.login_hint)
    labels: dict[int, list[str]] = {}
    for key, token in zip(instruments, ticker.subscribe(instruments, "quote"), strict=True):
        labels.setdefault(token, []).append(key)
    asyncio.run(stream_monitor(ticker, labels, cli.console, cli.clock, count, csv))
