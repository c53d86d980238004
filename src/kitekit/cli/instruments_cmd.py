"""``kitekit instruments sync|find|chain`` and ``kitekit tokens export``."""

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kitekit.cli import options
from kitekit.cli.context import CliContext
from kitekit.errors import KitekitError
from kitekit.wire.instruments_csv import Instrument

instruments_app = typer.Typer(help="The instruments dump: download, find, option chains.", no_args_is_help=True)
tokens_app = typer.Typer(help="Token files for scripts.", no_args_is_help=True)


def _table(rows: list[Instrument]) -> Table:
    table = Table("key", "token", "name", "type", "expiry", "strike", "lot", "tick")
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


@instruments_app.command("chain")
def chain(
    ctx: typer.Context,
    underlying: Annotated[str, typer.Argument(help="NIFTY, BANKNIFTY, RELIANCE, GOLD, USDINR…")],
    expiry: Annotated[str | None, typer.Option(help="yyyy-mm-dd (default: the nearest expiry).")] = None,
) -> None:
    """Show an option chain: strikes with the CE and PE symbols and tokens."""
    cli: CliContext = ctx.obj
    store = cli.store().load()
    try:
        frame = store.option_chain(underlying, expiry)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expiry") from None
    when = frame["expiry"].iloc[0]
    table = Table(
        "CE symbol",
        "CE token",
        "strike",
        "PE token",
        "PE symbol",
        title=f"{underlying.upper()} options expiring {when} (lot {frame['lot_size'].iloc[0]})",
    )
    for row in frame.itertuples():
        table.add_row(str(row.ce_symbol), str(row.ce_token), f"{row.strike:g}", str(row.pe_token), str(row.pe_symbol))
    cli.console.print(table)
    others = [d.isoformat() for d in store.expiries(underlying)[1:6]]
    if others:
        cli.console.print(f"Other expiries: {', '.join(others)}")


@tokens_app.command("export")
def export(
    ctx: typer.Context,
    symbols: Annotated[list[str] | None, typer.Argument(help="Extra instruments to include.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the JSON.")] = Path("tokens.json"),
) -> None:
    """Write tokens.json ({tradingsymbol: instrument_token}) with the usual indices, stocks and futures."""
    cli: CliContext = ctx.obj
    mapping = cli.store().load().build_token_cache(output, symbols or [])
    cli.console.print(f"Wrote {len(mapping)} tokens to {output}")
