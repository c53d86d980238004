"""``kitekit alerts``, ``kitekit alert add|rm|history``: Kite's price alerts, and alerts that place orders.

Alerts live on the Kite account (or the simulator's, with ``--sim``): there is no paper version of them.
An alert that places orders when it fires (``--then-buy``/``--then-sell``, an ``ato`` alert) is shown in
full and asked about before it is sent, unless ``--yes``; every alert is checked first the way Kite checks
it, its orders against the pre-trade rules, so a refusal costs nothing (exit 2).
"""

from typing import TYPE_CHECKING, Annotated

import typer

from kitekit.cli import failures, options
from kitekit.cli.context import CliContext
from kitekit.wire.alerts import AlertStatus
from kitekit.wire.orders import OrderType, Product

if TYPE_CHECKING:
    from kitekit.alerts import Alert, Alerts
    from kitekit.cli.fit import FitTable

__all__ = ["alert_app", "alerts"]

alert_app = typer.Typer(
    help="Add, remove and inspect Kite alerts (on the Kite account, or the simulator's).", no_args_is_help=True
)


@alert_app.callback()
def _kite_only(ctx: typer.Context) -> None:
    """Refuse every ``alert`` subcommand on a broker other than Kite (alerts are Kite's own)."""
    cli: CliContext = ctx.obj
    cli.require_kite("Alerts", "data")


def _alerts(cli: CliContext) -> "Alerts":
    from kitekit.alerts import Alerts
    from kitekit.orders import Validator
    from kitekit.orders.validator import day_of

    store = cli.store().load()
    return Alerts(
        cli.kite(), instruments=store.instrument, validator=Validator(store.instrument, today=day_of(cli.clock.now))
    )


def _where(cli: CliContext) -> str:
    return "the simulator's account" if cli.sim else "your Kite account"


def alerts(
    ctx: typer.Context,
    status: Annotated[
        AlertStatus | None, typer.Option(help="Only enabled or only disabled alerts.", case_sensitive=False)
    ] = None,
) -> None:
    """List the alerts, newest first."""
    cli: CliContext = ctx.obj
    cli.require_kite("Alerts", "data")
    if status is AlertStatus.DELETED:
        raise typer.BadParameter("deleted alerts are gone; list enabled or disabled ones", param_hint="--status")
    listed = _alerts(cli).list(status)
    cli.console.print(_table(listed, f"Alerts — {_where(cli)}"))


def _table(listed: "list[Alert]", title: str) -> "FitTable":
    from rich.text import Text

    from kitekit.cli.fit import ALWAYS, Col, FitTable

    table = FitTable(
        Col("uuid", whole=True, keep=ALWAYS),
        Col("name", keep=2),
        Col("type", keep=3),
        Col("condition", whole=True, keep=ALWAYS),
        Col("status", keep=ALWAYS),
        Col("fired", justify="right", keep=4),
        Col("created", whole=True, keep=1),
        title=title,
    )
    for a in listed:
        status = Text(str(a.status), style="green" if a.enabled else "yellow")
        if a.disabled_reason:
            status.append(f" ({a.disabled_reason})")
        created = f"{a.created_at:%Y-%m-%d %H:%M}" if a.created_at else ""
        table.add_row(a.uuid, a.name, str(a.type), a.terms.condition(), status, str(a.alert_count), created)
    return table


@alert_app.command("add")
def add(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Instrument watched: RELIANCE, NSE:INFY, 'NIFTY 50'…")],
    above: Annotated[
        float | None,
        typer.Option("--above", help="Fire when the last price is at or above this.", callback=options.finite_positive),
    ] = None,
    below: Annotated[
        float | None,
        typer.Option("--below", help="Fire when the last price is at or below this.", callback=options.finite_positive),
    ] = None,
    then_buy: Annotated[
        int | None, typer.Option("--then-buy", help="When it fires, BUY this many units.", callback=options.at_least(1))
    ] = None,
    then_sell: Annotated[
        int | None,
        typer.Option("--then-sell", help="When it fires, SELL this many units.", callback=options.at_least(1)),
    ] = None,
    order_symbol: Annotated[
        str | None, typer.Option("--order-symbol", help="Trade this instrument instead of SYMBOL (e.g. a future).")
    ] = None,
    limit: Annotated[
        float | None,
        typer.Option(
            "--limit",
            help="The order is a LIMIT at this price (default MARKET, auto protection).",
            callback=options.finite_positive,
        ),
    ] = None,
    product: Annotated[
        Product | None, typer.Option(help="The order's product (default: CNC, or NRML in F&O).", case_sensitive=False)
    ] = None,
    name: Annotated[str | None, typer.Option(help="The alert's name (default: symbol and condition).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Send an alert that places orders without asking.")] = False,
) -> None:
    """Add an alert on SYMBOL's last price; with --then-buy/--then-sell it places that order when it fires."""
    from kitekit.alerts import price_alert
    from kitekit.orders import OrderRequest

    cli: CliContext = ctx.obj
    if (above is None) == (below is None):
        raise typer.BadParameter("give exactly one of --above P and --below P")
    if then_buy is not None and then_sell is not None:
        raise typer.BadParameter("--then-buy and --then-sell contradict each other: choose one")
    quantity, side = (then_buy, "BUY") if then_buy is not None else (then_sell, "SELL")
    idle = [
        flag
        for flag, given in (("--order-symbol", order_symbol), ("--limit", limit), ("--product", product))
        if given is not None
    ]
    if quantity is None and idle:
        raise typer.BadParameter(f"{', '.join(idle)} describe the order of --then-buy/--then-sell; give one of those")
    if yes and quantity is None:
        raise typer.BadParameter(
            "--yes skips the question asked before an alert that places orders; this one places none",
            param_hint="--yes",
        )
    store = cli.store().load()
    watched = store.instrument(symbol)
    # Kite names an index on INDICES in alerts; the dump lists it on NSE or BSE.
    exchange = "INDICES" if watched.segment == "INDICES" else watched.exchange
    terms = price_alert(exchange, watched.tradingsymbol, above=above, below=below, name=name)
    then = []
    if quantity is not None:
        traded = store.instrument(order_symbol) if order_symbol else watched
        if traded.segment == "INDICES":
            raise typer.BadParameter(
                f"{traded.tradingsymbol} is an index, which cannot be traded: give --order-symbol, e.g. its future"
            )
        order_type = {"order_type": OrderType.LIMIT, "price": limit} if limit is not None else {}
        then.append(OrderRequest.of(traded.key, side, quantity, product=product, **order_type))
    client = _alerts(cli)
    terms = client.check(terms, then)
    if then:
        cli.console.print(
            f"[bold red]LIVE[/] alert for {_where(cli)}: when {terms.condition()}, "
            f"{side} {quantity} {then[0].exchange}:{then[0].tradingsymbol} "
            f"{'LIMIT ' + format(limit, 'g') if limit is not None else 'MARKET'}."
        )
        _confirm(cli, yes)
    alert = client.create(terms)
    cli.console.print(
        f"Alert {alert.uuid} added: {alert.terms.condition()} ({alert.type}, {alert.status}).", highlight=False
    )


def _confirm(cli: CliContext, yes: bool) -> None:
    """Ask before an alert that will place orders unless ``--yes``; stop (exit 1) unless the answer is yes."""
    if yes:
        return
    from rich.prompt import Confirm

    try:
        answer = Confirm.ask(
            "It places that order on its own when it fires — send it?", console=cli.console, default=False
        )
    except EOFError:
        cli.console.print()
        cli.console.print("Nothing was sent: the input ended before an answer (give --yes to send without asking).")
        raise typer.Exit(failures.FAILED) from None
    if not answer:
        cli.console.print("Nothing was sent.")
        raise typer.Exit(failures.FAILED)


@alert_app.command("rm")
def rm(
    ctx: typer.Context, uuids: Annotated[list[str], typer.Argument(help="The alert uuids (see `kitekit alerts`).")]
) -> None:
    """Remove alerts."""
    cli: CliContext = ctx.obj
    _alerts(cli).delete(*uuids)
    cli.console.print(
        f"Removed {len(uuids)} alert{'s' if len(uuids) != 1 else ''}: {', '.join(uuids)}.", highlight=False
    )


@alert_app.command("history")
def history(ctx: typer.Context, uuid: Annotated[str, typer.Argument(help="The alert's uuid.")]) -> None:
    """Show when an alert fired, at what price, and the orders it placed."""
    cli: CliContext = ctx.obj
    firings = _alerts(cli).history(uuid)
    if not firings:
        cli.console.print(f"Alert {uuid} has not fired.", highlight=False)
    for f in firings:
        price = f.meta[0].get("last_price") if f.meta else None
        when = f"{f.created_at:%Y-%m-%d %H:%M:%S}" if f.created_at else "?"
        line = f"{when}  {f.condition}  (last price {price})"
        for placed in f.order_meta or []:
            if placed.get("order_id"):
                line += f"\n    order {placed['order_id']} on {placed.get('exchange')}:{placed.get('tradingsymbol')}"
            else:
                error = placed.get("error") or {}
                line += f"\n    order refused: {error.get('message', error) if isinstance(error, dict) else error}"
        cli.console.print(line, highlight=False)
