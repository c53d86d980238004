"""``kitekit instruments sync|find|chain`` and ``kitekit tokens export``."""

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from kitekit.cli import options
from kitekit.cli.context import CliContext
from kitekit.cli.fit import ALWAYS, Col, FitTable
from kitekit.cli.money import group_indian
from kitekit.cli.neutral import instrument_columns
from kitekit.errors import KitekitError
from kitekit.wire.instruments_csv import Instrument

instruments_app = typer.Typer(help="The instruments dump: download, find, option chains.", no_args_is_help=True)
tokens_app = typer.Typer(help="Token files for scripts.", no_args_is_help=True)


def _table(rows: list[Instrument]) -> FitTable:
    table = FitTable(*instrument_columns(Col("token", whole=True, keep=5, justify="right")))
    for i in rows:
        table.add_row(
            i.key,
            str(i.instrument_token),
            i.name,
            i.instrument_type,
            i.expiry.isoformat() if i.expiry else "",
            f"{i.strike:g}" if i.strike else "",
            str(i.lot_size),
            f"{i.tick_size:g}",
        )
    return table


@instruments_app.command("sync")
def sync(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Download even if today's dump is cached.")] = False,
) -> None:
    """Download today's dump if it is not cached yet (at most once per trading day, after 08:30 IST)."""
    cli: CliContext = ctx.obj
    if not cli.on_kite:
        name = cli.brokers().data
        listing = cli.online(name, login=False).instruments()  # a public file: no session needed
        label = cli.broker(name).capabilities.label
        done = "Downloaded" if listing.sync(force=force) else "Already cached:"
        cli.console.print(f"{done} {label}'s instrument list of {cli.clock.now():%Y-%m-%d}.")
        return
    store = cli.store()
    if store.sync(force=force):
        cli.console.print(f"Downloaded the instruments dump of {store.dump_day()} into {store.cache_dir}.")
    else:
        cli.console.print(f"The instruments dump of {store.dump_day()} is already cached; nothing to do.")
    store.load()
    cli.console.print(
        f"{len(store):,} instruments; cached days: {', '.join(d.isoformat() for d in store.cached_days())}"
    )


@instruments_app.command("find")
def find(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help='A symbol, part of one, a name or a token: "relian", NIFTY, 738561.')],
    limit: Annotated[int, typer.Option(help="Most results to show.", callback=options.at_least(1))] = 15,
) -> None:
    """Find instruments by symbol, name or token; an exact match comes first."""
    cli: CliContext = ctx.obj
    if not cli.on_kite:
        _find_neutral(cli, query, limit)
        return
    store = cli.store().load()
    rows: list[Instrument] = []
    with contextlib.suppress(KitekitError):
        rows.append(store.instrument(query))
    for hit in store.search(query, limit=limit):
        if hit not in rows:
            rows.append(hit)
    if not rows:
        cli.console.print(f"Nothing matches {query!r}.")
        raise typer.Exit(1)
    cli.console.print(_table(rows[:limit]))


def _find_neutral(cli: CliContext, query: str, limit: int) -> None:
    from kitekit.brokers.model import BrokerInstrument
    from kitekit.cli.neutral import instruments_table

    listing = cli.online(cli.brokers().data, login=False).instruments().load()
    rows: list[BrokerInstrument] = []
    with contextlib.suppress(KitekitError):
        rows.append(listing.instrument(query))
    rows += [hit for hit in listing.search(query, limit=limit) if hit not in rows]
    if not rows:
        cli.console.print(f"Nothing matches {query!r}.")
        raise typer.Exit(1)
    cli.console.print(instruments_table(rows[:limit]))


@instruments_app.command("chain")
def chain(
    ctx: typer.Context,
    underlying: Annotated[str, typer.Argument(help="NIFTY, BANKNIFTY, RELIANCE, GOLD, USDINR…")],
    expiry: Annotated[str | None, typer.Option(help="yyyy-mm-dd (default: the nearest expiry).")] = None,
) -> None:
    """Show an option chain: per strike, the CE and PE symbols, last prices and open interest."""
    cli: CliContext = ctx.obj
    if not cli.on_kite:
        _chain_neutral(cli, underlying, expiry)
        return
    store = cli.store().load()
    try:
        frame = store.option_chain(underlying, expiry)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expiry") from None
    when = frame["expiry"].iloc[0]
    tokens = [int(t) for side in ("ce_token", "pe_token") for t in frame[side].dropna()]
    # One batched call (GET /quote, 500 instruments a call) for every strike's prices and open interest.
    quotes = cli.market_data().quote(*tokens, strict=False)
    table = FitTable(
        Col("CE symbol", whole=True, keep=ALWAYS),
        Col("CE token", whole=True, keep=0, justify="right"),
        Col("CE OI", whole=True, keep=2, justify="right"),
        Col("CE LTP", whole=True, keep=ALWAYS, justify="right"),
        Col("strike", whole=True, keep=ALWAYS, justify="right"),
        Col("PE LTP", whole=True, keep=ALWAYS, justify="right"),
        Col("PE OI", whole=True, keep=2, justify="right"),
        Col("PE token", whole=True, keep=0, justify="right"),
        Col("PE symbol", whole=True, keep=ALWAYS),
        title=f"{underlying.upper()} options expiring {when} (lot {frame['lot_size'].iloc[0]})",
    )
    for row in frame.itertuples():
        ce, pe = _quoted(quotes, row.ce_token), _quoted(quotes, row.pe_token)
        table.add_row(
            _text(row.ce_symbol), _text(row.ce_token), _oi(ce), _ltp(ce), f"{row.strike:g}",
            _ltp(pe), _oi(pe), _text(row.pe_token), _text(row.pe_symbol),
        )  # fmt: skip
    cli.console.print(table)
    if quotes.missing:
        cli.err.print(f"No quote for {len(quotes.missing)} of {len(tokens)} options; their prices are blank.")
    others = [d.isoformat() for d in store.expiries(underlying)[1:6]]
    if others:
        cli.console.print(f"Other expiries: {', '.join(others)}")


def _chain_neutral(cli: CliContext, underlying: str, expiry: str | None) -> None:
    """Show the data broker's chain, priced by its quotes, keyed by the neutral identity."""
    from kitekit.cli.neutral import quote_dict

    pair = cli.broker_pair()
    listing = pair.data.instruments().load()
    try:
        frame = listing.option_chain(underlying, expiry)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expiry") from None
    if frame.empty:
        raise KitekitError(f"{pair.data.capabilities.label} lists no options of {underlying.upper()} expiring then.")
    when = frame["expiry"].iloc[0]
    keys = [str(k) for side in ("ce_key", "pe_key") for k in frame[side].dropna()]
    got = pair.quotes().quote(*keys, strict=False)
    quotes = {k: quote_dict(q) for k, q in got.items()}
    table = FitTable(
        Col("CE", whole=True, keep=ALWAYS),
        Col("CE OI", whole=True, keep=2, justify="right"),
        Col("CE LTP", whole=True, keep=ALWAYS, justify="right"),
        Col("strike", whole=True, keep=ALWAYS, justify="right"),
        Col("PE LTP", whole=True, keep=ALWAYS, justify="right"),
        Col("PE OI", whole=True, keep=2, justify="right"),
        Col("PE", whole=True, keep=ALWAYS),
        title=f"{underlying.upper()} options expiring {when} (lot {frame['lot_size'].iloc[0]}, "
        f"{pair.data.capabilities.label})",
    )
    for row in frame.itertuples():
        ce = {} if _missing(row.ce_key) else quotes.get(str(row.ce_key), {})
        pe = {} if _missing(row.pe_key) else quotes.get(str(row.pe_key), {})
        table.add_row(
            _text(row.ce_key), _oi(ce), _ltp(ce), f"{row.strike:g}", _ltp(pe), _oi(pe), _text(row.pe_key)
        )  # fmt: skip
    cli.console.print(table)
    if got.missing:
        cli.err.print(f"No quote for {len(got.missing)} of {len(keys)} options; their prices are blank.")


def _missing(value: Any) -> bool:
    """Return True for a side the strike does not list (None, or pandas' NA in a nullable column)."""
    import pandas as pd  # loaded already: the chain is a DataFrame

    return value is None or bool(pd.isna(value))


def _quoted(quotes: dict[Any, Any], token: Any) -> dict[str, Any]:
    """Return the quote of a chain's token, or an empty one for a strike without that side or without data."""
    return {} if _missing(token) else dict(quotes.get(int(token)) or {})


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def _ltp(quote: dict[str, Any]) -> str:
    return f"{quote['last_price']:,.2f}" if "last_price" in quote else ""


def _oi(quote: dict[str, Any]) -> str:
    return group_indian(int(quote["oi"])) if quote.get("oi") is not None and "last_price" in quote else ""


@tokens_app.command("export")
def export(
    ctx: typer.Context,
    symbols: Annotated[list[str] | None, typer.Argument(help="Extra instruments to include.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the JSON.")] = Path("tokens.json"),
) -> None:
    """Write tokens.json ({tradingsymbol: instrument_token}) with the usual indices, stocks and futures."""
    from kitekit.history.export import check_writable

    cli: CliContext = ctx.obj
    cli.require_kite("tokens.json (Kite's instrument tokens)", "data")
    check_writable(output)  # before the instruments dump is downloaded, not after
    mapping = cli.store().load().build_token_cache(output, symbols or [])
    cli.console.print(f"Wrote {len(mapping)} tokens to {output}")
