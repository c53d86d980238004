"""``kitekit history SYMBOL``, ``kitekit history backfill SYMBOL…`` and ``kitekit chart SYMBOL``."""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from kitekit.cli import options
from kitekit.cli.context import CliContext
from kitekit.clock import IST, Clock
from kitekit.wire.history import Interval

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.history import CandleStore, History

__all__ = ["backfill", "chart", "get", "history_app"]


class _SymbolFirst(TyperGroup):
    """Runs ``history get`` when the first word is not a subcommand: ``kitekit history RELIANCE …``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own (vendored) click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["get", *args]
        return super().parse_args(ctx, args)


history_app = typer.Typer(
    cls=_SymbolFirst,
    no_args_is_help=True,
    help="Historical candles of any length: `kitekit history SYMBOL …` fetches, `history backfill` fills the store.",
)

_FORMATS = "yyyy-mm-dd, or 'yyyy-mm-dd hh:mm[:ss]' in IST"


def _open_in_browser(url: str) -> None:
    import webbrowser  # here: it pulls in subprocess and shlex, which only `chart` needs

    webbrowser.open(url)


#: Opens a chart file; tests replace it, so no test ever opens a browser.
open_in_browser: Callable[[str], Any] = _open_in_browser


def _moment(text: str | None, flag: str) -> date | datetime | None:
    """Return a date (a whole IST day) or an aware datetime for an option's text."""
    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
        # In IST now: 0001-01-01T00:00+14:00 is still in year 0 there, which no datetime can hold.
        return moment.astimezone(IST) if moment.tzinfo is not None else moment.replace(tzinfo=IST)
    except (ValueError, OverflowError):
        raise typer.BadParameter(f"{text!r} is not a date: give {_FORMATS}", param_hint=flag) from None


def _range(
    clock: Callable[[], Clock], start: str | None, end: str | None, days: int | None
) -> tuple[date | datetime, date | datetime | None]:
    """Return (start, end or None for now) from ``--from``/``--to``/``--days``, checked as options.

    ``clock`` is asked for only when ``--days`` counts back from now, after the options are checked (a usage
    error needs no session).
    """
    first, last = _moment(start, "--from"), _moment(end, "--to")
    if first is not None and days is not None:
        raise typer.BadParameter("give --from or --days, not both", param_hint="--days")
    if first is None:
        if days is None:
            raise typer.BadParameter("give the range's start: --from DATE or --days N", param_hint="--from")
        anchor = _as_end(last) if last is not None else clock().now().astimezone(IST)
        try:
            first = anchor.astimezone(IST).date() - timedelta(days=days)
        except OverflowError:
            raise typer.BadParameter(f"{days} days back reaches before the year 1", param_hint="--days") from None
    if last is not None and _as_start(first) > _as_end(last):
        raise typer.BadParameter(
            f"--from {start} is after --to {end}; give --from on or before --to", param_hint="--to"
        )
    return first, last


def _as_start(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time(), tzinfo=IST)


def _as_end(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else _as_start(value) + timedelta(days=1, seconds=-1)


def _history(cli: CliContext, clock: Clock) -> "tuple[History, CandleStore]":
    """Return the history on ``clock`` (the data's clock, which decides which candles are stored as closed)."""
    from kitekit.history import CandleStore, History

    store = CandleStore(cli.data_dir / "candles.duckdb")
    return History(cli.kite(), cli.store(), store, clock=clock), store


def _fetch(cli: CliContext, label: str, run: Callable[[Callable[[int, int], None]], Any]) -> tuple[Any, int]:
    """Run a fetch under a windows progress bar (on stderr); return its result and the windows fetched."""
    from kitekit.cli.progress import WindowsBar

    with WindowsBar(cli.err, label) as bar:
        result = run(bar.update)
    return result, bar.total


_INTERVAL = typer.Option("--interval", "-i", help="Candle interval.", case_sensitive=False)
_FROM = typer.Option("--from", help=f"First day or moment: {_FORMATS}.")
_TO = typer.Option("--to", help=f"Last day or moment, inclusive (default: now): {_FORMATS}.")


@history_app.command("get")
def get(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help='A symbol, name or token: RELIANCE, "NIFTY 50", NSE:INFY, 738561.')],
    interval: Annotated[Interval, _INTERVAL] = Interval.DAY,
    start: Annotated[str | None, _FROM] = None,
    end: Annotated[str | None, _TO] = None,
    days: Annotated[
        int | None, typer.Option(help="Instead of --from: this many days back.", callback=options.days_back)
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the candles to FILE.csv or FILE.parquet.")
    ] = None,
    oi: Annotated[bool, typer.Option("--oi", help="Add open interest.")] = False,
    continuous: Annotated[bool, typer.Option("--continuous", help="A future's day candles across expiries.")] = False,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Fetch the whole stored range of this series again (and the range asked for), replacing the "
            "stored candles only once every window has landed.",
        ),
    ] = False,
) -> None:
    """Fetch candles of any length (only what the local store is missing) and show or save them."""
    from kitekit.history.export import check_output, write_candles

    cli: CliContext = ctx.obj
    if out is not None:
        try:
            check_output(out)  # before a minute of fetching, not after
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--out") from None
    first, last = _range(lambda: cli.clock, start, end, days)
    if not cli.on_kite:
        if continuous or refresh:
            _refuse_flag(cli, "--continuous" if continuous else "--refresh")
        frame, key = _neutral_candles(cli, symbol, interval, first, last, oi)
        summary = f"{len(frame):,} {interval.value} candles of {key}{_span(frame)}"
        if out is not None:
            write_candles(frame, out)
            cli.console.print(f"{summary}. Wrote {out}.")
            return
        cli.console.print(_table(frame.tail(10), title=f"{key} {interval.value}, the last {min(10, len(frame))}"))
        cli.console.print(summary + ".")
        return
    history, _ = _history(cli, cli.clock)  # the same clock: the range's and what counts as closed
    request = history.request(symbol, interval, first, last, oi=oi, continuous=continuous)
    label = f"{request.key} {request.interval.value}"
    frame, windows = _fetch(
        cli,
        label,
        lambda progress: history.candles(
            symbol, interval, first, last, oi=oi, continuous=continuous, progress=progress, refresh=refresh
        ),
    )
    summary = (
        f"{len(frame):,} {request.interval.value} candles of {request.key}{_span(frame)}; fetched {windows} windows"
    )
    if out is not None:
        write_candles(frame, out)
        cli.console.print(f"{summary}. Wrote {out}.")
        return
    cli.console.print(
        _table(frame.tail(10), title=f"{request.key} {request.interval.value}, the last {min(10, len(frame))}")
    )
    cli.console.print(summary + ".")


def _refuse_flag(cli: CliContext, flag: str) -> None:
    """Refuse a flag only Kite's history offers (exit 2), naming the broker chosen."""
    from kitekit.brokers.registry import entry
    from kitekit.errors import BrokerFeatureError

    label = entry(cli.brokers().data).label
    raise BrokerFeatureError(f"{flag} is offered on Kite Connect's candles only, not on {label}: drop {flag}.")


def _neutral_candles(
    cli: CliContext, symbol: str, interval: Interval, first: date | datetime, last: date | datetime | None, oi: bool
) -> "tuple[pd.DataFrame, str]":
    """Fetch candles from the data broker (another than Kite) and keep them in the candle store; return them."""
    from kitekit.brokers.candles_kept import keep_candles
    from kitekit.history import CandleStore

    pair = cli.broker_pair()
    found = pair.data.instruments().instrument(symbol)
    asked_at = cli.clock.now()
    frame = pair.history().candles(found.key, interval.value, first, last, oi=oi)
    keep_candles(CandleStore(cli.data_dir / "candles.duckdb"), found, interval.value, first, last, frame, asked_at)
    return frame, found.key


@history_app.command("backfill")
def backfill(
    ctx: typer.Context,
    symbols: Annotated[list[str], typer.Argument(help='Instruments: RELIANCE NSE:INFY "NIFTY 50" 738561…')],
    interval: Annotated[Interval, _INTERVAL] = Interval.MINUTE,
    days: Annotated[int, typer.Option(help="How many days back from now.", callback=options.days_back)] = 365,
    continuous: Annotated[bool, typer.Option("--continuous", help="Futures' day candles across expiries.")] = False,
) -> None:
    """Fill the local candle store for many instruments; a second run fetches only what is new."""
    from kitekit.history.client import series_of

    cli: CliContext = ctx.obj
    clock = cli.clock  # one clock for the range and for what counts as closed
    first = clock.now().astimezone(IST) - timedelta(days=days)
    names = list(dict.fromkeys(symbols))
    if not cli.on_kite:
        if continuous:
            _refuse_flag(cli, "--continuous")
        table = Table("instrument", "candles stored", "first", "last", title=f"{interval.value} backfill")
        for name in names:
            frame, key = _neutral_candles(cli, name, interval, first, None, False)
            table.add_row(key, f"{len(frame):,}", *_ends(frame))
        cli.console.print(table)
        cli.console.print(f"The candles are in {cli.data_dir / 'candles.duckdb'}.")
        return
    history, store = _history(cli, clock)
    filled, _ = _fetch(
        cli,
        f"{len(names)} instruments, {interval.value}",
        lambda progress: history.backfill(names, interval, first, continuous=continuous, progress=progress),
    )
    table = Table(
        "instrument", "windows fetched", "candles stored", "first", "last", title=f"{interval.value} backfill"
    )
    for item in filled:
        request = item.request
        frame = store.read(series_of(request), request.start, request.end)
        table.add_row(request.key, str(item.windows), f"{len(frame):,}", *_ends(frame))
    cli.console.print(table)
    cli.console.print(f"The candles are in {store.path}.")


def chart(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help='A symbol, name or token: RELIANCE, "NIFTY 50", NSE:INFY, 738561.')],
    interval: Annotated[Interval, _INTERVAL] = Interval.DAY,
    days: Annotated[
        int | None, typer.Option(help="This many days back (default 180).", callback=options.days_back)
    ] = None,
    start: Annotated[str | None, _FROM] = None,
    end: Annotated[str | None, _TO] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The HTML file (default: SYMBOL-INTERVAL.html).")
    ] = None,
    no_open: Annotated[bool, typer.Option("--no-open", help="Write the file without opening a browser.")] = False,
) -> None:
    """Write an interactive candlestick chart with volume (one HTML file) and open it in the browser."""
    from kitekit.history import write_chart
    from kitekit.history.export import check_writable

    cli: CliContext = ctx.obj
    if out is not None:
        check_writable(out)
    first, last = _range(lambda: cli.clock, start, end, days if days is not None or start is not None else 180)
    if not cli.on_kite:
        frame, key = _neutral_candles(cli, symbol, interval, first, last, False)
        out = out or Path(f"{key.partition(':')[2].replace(' ', '_').replace('/', '_')}-{interval.value}.html")
        write_chart(frame, out, f"{key}, {interval.value}: {len(frame):,} candles{_span(frame)}")
        cli.console.print(f"Wrote the chart of {len(frame):,} candles to {out}.")
        if not no_open:
            open_in_browser(out.resolve().as_uri())
        return
    history, _ = _history(cli, cli.clock)  # the same clock: the range's and what counts as closed
    request = history.request(symbol, interval, first, last)
    if out is None:
        out = Path(f"{request.instrument.tradingsymbol.replace(' ', '_').replace('/', '_')}-{interval.value}.html")
        check_writable(out)
    frame, _ = _fetch(
        cli,
        f"{request.key} {interval.value}",
        lambda progress: history.candles(symbol, interval, first, last, progress=progress),
    )
    title = f"{request.key}, {interval.value}: {len(frame):,} candles{_span(frame)}"
    write_chart(frame, out, title)
    cli.console.print(f"Wrote the chart of {len(frame):,} candles to {out}.")
    if not no_open:
        open_in_browser(out.resolve().as_uri())


def _span(frame: "pd.DataFrame") -> str:
    first, last = _ends(frame)
    return f" from {first} to {last}" if first else ""


def _ends(frame: "pd.DataFrame") -> tuple[str, str]:
    if not len(frame):
        return "", ""
    return str(frame.index[0]), str(frame.index[-1])


def _table(frame: "pd.DataFrame", title: str) -> Table:
    table = Table("date", *map(str, frame.columns), title=title)
    for stamp, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        table.add_row(str(stamp), *(f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" for v in row))
    return table
