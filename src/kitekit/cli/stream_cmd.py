"""``kitekit ticks`` and ``kitekit record``: the data broker's live feed printed as it comes, or recorded to Parquet."""

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kitekit.cli import options
from kitekit.cli.context import CliContext

if TYPE_CHECKING:
    from kitekit.brokers.feed import LiveFeed
    from kitekit.brokers.recording import FeedRecorder
    from kitekit.bus.consumer import BusTicker
    from kitekit.cli.neutral import TickDicts
    from kitekit.ticker import Ticker

__all__ = ["StreamMode", "record", "ticks"]

_INSTRUMENTS = typer.Argument(help='Instruments: RELIANCE, "NIFTY 50", NSE:INFY, 408065…')
_Bus = Annotated[
    str | None,
    typer.Option(
        "--bus",
        help="Read the feed a `kitekit feed serve` publishes to this Redis (redis://host:6379/0) instead of "
        "opening a connection to Kite.",
    ),
]
_Count = Annotated[
    int | None, typer.Option(help="Stop after this many ticks (default: until Ctrl-C).", callback=options.at_least(1))
]


class StreamMode(StrEnum):
    """A subscription mode (the wire's; kept here so ``--help`` needs no numpy)."""

    LTP = "ltp"
    QUOTE = "quote"
    FULL = "full"


def ticks(
    ctx: typer.Context,
    instruments: Annotated[list[str], _INSTRUMENTS],
    mode: Annotated[StreamMode, typer.Option(help="ltp, quote (with change, volume) or full (depth, OI).")] = (
        StreamMode.QUOTE
    ),
    count: _Count = None,
    bus: _Bus = None,
) -> None:
    """Print ticks from Kite's WebSocket feed as they arrive; reconnects by itself, stops on an expired session."""
    import asyncio

    from kitekit.cli.stream_view import print_ticks

    cli: CliContext = ctx.obj
    if not cli.on_kite:
        if bus is not None:
            _refuse_bus(cli)
        feed, labels = _neutral_feed(cli, instruments, mode)
        asyncio.run(print_ticks(feed, labels, cli.console, cli.clock, count))
        return
    ticker, labels = _ticker(cli, instruments, mode, bus)
    asyncio.run(print_ticks(ticker, labels, cli.console, cli.clock, count))


def _refuse_bus(cli: CliContext) -> None:
    from kitekit.brokers.registry import entry
    from kitekit.errors import BrokerFeatureError

    label = entry(cli.brokers().data).label
    raise BrokerFeatureError(f"--bus carries Kite Connect's feed only, not {label}'s: drop --bus.")


def _neutral_feed(cli: CliContext, instruments: list[str], mode: "StreamMode") -> "tuple[TickDicts, dict[int, str]]":
    """Return the data broker's feed (another than Kite's) subscribed, and each token's label (its neutral key)."""
    from kitekit.cli.neutral import TickDicts

    feed = cli.broker_pair().feed()
    keys = feed.subscribe(instruments, mode.value)
    shaped = TickDicts(feed, keys)
    return shaped, {token: key for key, token in shaped.tokens.items()}  # labelled as Kite's ticks are: the key


def record(
    ctx: typer.Context,
    instruments: Annotated[list[str], _INSTRUMENTS],
    out: Annotated[Path, typer.Option("--out", help="Folder of the daily Parquet files (created if missing).")],
    mode: Annotated[StreamMode, typer.Option(help="ltp, quote or full.")] = StreamMode.FULL,
    flush_every: Annotated[
        float, typer.Option(help="Seconds between writes: the most a crash loses.", callback=options.finite_positive)
    ] = 1.0,
    count: _Count = None,
    bus: _Bus = None,
) -> None:
    """Record every tick to daily Parquet files (typed columns and the raw frames) until Ctrl-C or SIGTERM.

    On Upstox or Angel One (``--broker``, or ``--data``), their feed is recorded in the same columns.
    Their ticks keep their own tokens, and the files name the broker (no raw frames: see the README).

    A slow disk never holds up the feed: a tick that could not be buffered is counted and reported.
    When any was, the command exits with 1.
    """
    import asyncio

    from kitekit.cli.stream_view import record_feed, record_ticks
    from kitekit.files import writable_dir
    from kitekit.ticker.recorder import BufferedRecorder

    cli: CliContext = ctx.obj
    recorder: BufferedRecorder[Any]
    if cli.brokers().data != "kite":
        if bus is not None:
            _refuse_bus(cli)
        writable_dir(out)  # a folder that cannot be made or written fails before anything connects
        feed, on_feed = _feed_recorder(cli, instruments, mode, out, flush_every)
        recorder = on_feed
        stats = asyncio.run(record_feed(feed, on_feed, cli.err, count, cli.clock))
    else:
        from kitekit.ticker import TickRecorder

        writable_dir(out)
        on_kite = TickRecorder(out, flush_every=flush_every)
        recorder = on_kite
        ticker, _ = _ticker(cli, instruments, mode, bus)
        stats = asyncio.run(record_ticks(ticker, on_kite, cli.err, count))
    cli.console.print(
        f"Recorded {stats.written_ticks:,} ticks in {stats.written_frames:,} frames to {out} "
        f"(dropped {stats.dropped_ticks:,}).",
        highlight=False,
        soft_wrap=True,
    )
    if isinstance(recorder.last_error, OSError):
        # The disk refused the writes (permissions, full, read-only): a file error, which no faster disk fixes.
        raise recorder.last_error
    if stats.dropped_ticks:
        from kitekit.errors import TickerError

        raise TickerError(
            f"{stats.dropped_ticks:,} ticks in {stats.dropped_frames:,} frames were dropped: the disk could not keep "
            "up. Record to a faster disk, fewer instruments, or a lighter mode."
        )


def _feed_recorder(
    cli: CliContext, instruments: list[str], mode: StreamMode, out: Path, flush_every: float
) -> "tuple[LiveFeed, FeedRecorder]":
    """Return the data broker's feed subscribed (another than Kite's), and its recorder into ``out``."""
    from kitekit.brokers.recording import FeedRecorder

    data = cli.broker_pair().data
    feed = data.feed()
    keys = feed.subscribe(instruments, mode.value)
    listing = data.instruments()
    return feed, FeedRecorder(out, data.name, {key: listing.instrument(key) for key in keys}, flush_every)


def _ticker(
    cli: CliContext, instruments: list[str], mode: StreamMode, bus: str | None = None
) -> "tuple[Ticker | BusTicker, dict[int, str]]":
    """Return a subscribed ticker (direct, or on the bus), and each token's label as the user typed it."""
    from kitekit.bus.connect import check_bus_url
    from kitekit.bus.consumer import BusTicker as OnBus
    from kitekit.ticker import Ticker as Direct

    store = cli.store()
    ticker: Ticker | BusTicker
    if bus is not None:
        ticker = OnBus(check_bus_url(bus), store=store)
    else:
        ticker = Direct.from_kite(cli.kite(), store, login_hint=cli.login_hint)
    tokens = ticker.subscribe(instruments, mode.value)
    return ticker, {token: store.key(token) for token in tokens}
