"""``kitekit order buy|sell|show|modify|cancel``, ``orders``, ``positions``, ``holdings``, ``funds``, ``trades``.

Paper by default, and every command says so; ``--live`` trades on the Kite account (or the simulator's
account, with ``--sim``), printing each order in full and asking before it is sent unless ``--yes``.
"""

from typing import TYPE_CHECKING, Annotated

import typer

from kitekit.cli import options
from kitekit.cli.context import CliContext
from kitekit.wire.orders import OrderType, Product, Validity, Variety

if TYPE_CHECKING:
    from kitekit.orders import OrderGateway

__all__ = ["funds", "holdings", "order_app", "orders", "positions", "trades"]

order_app = typer.Typer(help="Place, show, modify and cancel orders (paper unless --live).", no_args_is_help=True)

Live = Annotated[bool, typer.Option("--live", help="Use the real Kite account instead of the paper one.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="With --live: send without asking first.")]


def _where(cli: CliContext, live: bool) -> str:
    if not live:
        return "the PAPER account"
    return "the simulator's account (LIVE mode)" if cli.sim else "your Kite account (LIVE)"


def _gateway(cli: CliContext, live: bool) -> "OrderGateway":
    """Return the paper broker (saying so) or, with ``--live``, the live one."""
    from kitekit.orders import LiveBroker, PaperBroker

    kite, store, clock = cli.kite(), cli.store().load(), cli.clock
    if live:
        return LiveBroker(kite, store, folder=cli.data_dir / "orders", clock=clock)
    cli.err.print(
        "[bold yellow]PAPER[/] — kitekit's local matching engine at "
        f"{'simulated' if cli.sim else 'live Kite'} prices; nothing reaches the exchange. Add --live to trade for real."
    )
    return PaperBroker(kite, store, folder=cli.data_dir / "paper", clock=clock)


def _confirm(cli: CliContext, live: bool, yes: bool, what: str) -> None:
    """Ask before a live change unless ``--yes``; stop the command if the answer is no."""
    if not live or yes:
        return
    from rich.prompt import Confirm

    if not Confirm.ask(f"{what} — send it?", console=cli.console, default=False):
        cli.console.print("Nothing was sent.")
        raise typer.Exit(1)


def _order_type(
    limit: float | None, market: bool, sl: float | None, trigger: float | None, sl_m: float | None
) -> dict[str, object]:
    """Return the order type and prices the flags describe, before anything is fetched.

    Raises:
        typer.BadParameter: order type flags that contradict each other.
    """
    given = [name for name, on in (("--limit", limit is not None), ("--market", market), ("--sl", sl is not None),
                                   ("--sl-m", sl_m is not None)) if on]  # fmt: skip
    if len(given) > 1:
        raise typer.BadParameter(f"{' and '.join(given)} contradict each other: choose one order type")
    if (trigger is not None) != (sl is not None):
        raise typer.BadParameter("--sl P needs --trigger T (and --trigger goes with --sl); for SL-M use --sl-m T")
    if sl is not None:
        return {"order_type": OrderType.SL, "price": sl, "trigger_price": trigger}
    if sl_m is not None:
        return {"order_type": OrderType.SL_M, "trigger_price": sl_m}
    if limit is not None:
        return {"order_type": OrderType.LIMIT, "price": limit}
    return {"order_type": OrderType.MARKET}


def _place(
    ctx: typer.Context, side: str, symbol: str, quantity: int, limit: float | None, market: bool, sl: float | None,
    trigger: float | None, sl_m: float | None, product: Product | None, variety: Variety, validity: Validity,
    ttl: int | None,
    legs: int | None, disclosed: int | None, protection: int | None, tag: str | None, slice_: bool, live: bool,
    yes: bool,
) -> None:  # fmt: skip
    from kitekit.orders import OrderRequest

    cli: CliContext = ctx.obj
    terms: dict[str, object] = {
        **_order_type(limit, market, sl, trigger, sl_m),
        "variety": variety,
        "validity": validity,
        "product": product,
        "validity_ttl": ttl,
        "iceberg_legs": legs,
        "disclosed_quantity": disclosed,
        "market_protection": protection,
    }
    key = cli.store().load().key(symbol)
    request = OrderRequest.of(key, side, quantity, **terms)
    gateway = _gateway(cli, live)
    quote = None
    if live:
        from kitekit.cli.order_view import request_table

        # One quote (GET /quote) lets the circuit limits and stop triggers be checked before anything is sent.
        quote = cli.kite().quote(key).get(key)
        checked = gateway.check(request, quote)
        cli.console.print(f"[bold red]LIVE[/] order for {_where(cli, live)}:")
        cli.console.print(request_table(checked, tag))
        _confirm(cli, live, yes, f"{side} {quantity} {key}")
    placed = gateway.place_sliced(request, tag) if slice_ else [gateway.place(request, tag, tag=tag, quote=quote)]
    for p in placed:
        state = gateway.order(p.order_id)
        how = " (placed earlier with this intent; nothing sent)" if p.replayed else ""
        cli.console.print(
            f"{'LIVE' if live else 'PAPER'} order {p.order_id}: {side} {state.quantity} {key} {state.order_type} "
            f"— {state.status}{': ' + state.status_message if state.status_message else ''} (tag {p.tag}){how}"
        )


_SIDE_HELP = "Instrument: RELIANCE, NSE:INFY, NIFTY26DECFUT…"


def _side(side: str) -> None:
    @order_app.command(side.lower(), help=f"{side.title()} an instrument (paper unless --live). MARKET by default.")
    def command(
        ctx: typer.Context,
        symbol: Annotated[str, typer.Argument(help=_SIDE_HELP)],
        quantity: Annotated[int, typer.Argument(help="Quantity in units (a multiple of the lot).")],
        limit: Annotated[
            float | None, typer.Option("--limit", help="LIMIT at this price.", callback=options.finite_positive)
        ] = None,
        market: Annotated[bool, typer.Option("--market", help="MARKET (the default).")] = False,
        sl: Annotated[
            float | None,
            typer.Option("--sl", help="SL: limit price (with --trigger).", callback=options.finite_positive),
        ] = None,
        trigger: Annotated[
            float | None, typer.Option("--trigger", help="SL: trigger price.", callback=options.finite_positive)
        ] = None,
        sl_m: Annotated[
            float | None, typer.Option("--sl-m", help="SL-M at this trigger price.", callback=options.finite_positive)
        ] = None,
        product: Annotated[
            Product | None, typer.Option(help="Default: CNC, or NRML in F&O.", case_sensitive=False)
        ] = None,
        variety: Annotated[Variety, typer.Option(help="The order variety.", case_sensitive=False)] = Variety.REGULAR,
        validity: Annotated[Validity, typer.Option(help="The order validity.", case_sensitive=False)] = Validity.DAY,
        ttl: Annotated[int | None, typer.Option("--ttl", help="TTL minutes.", callback=options.at_least(1))] = None,
        legs: Annotated[
            int | None, typer.Option("--iceberg-legs", help="Iceberg legs (2-10).", callback=options.at_least(1))
        ] = None,
        disclosed: Annotated[
            int | None, typer.Option("--disclosed", help="Disclosed quantity.", callback=options.at_least(1))
        ] = None,
        protection: Annotated[
            int | None, typer.Option("--protection", help="Market protection %, or -1 (auto).")
        ] = None,
        tag: Annotated[
            str | None,
            typer.Option(
                help="Tag (and intent id): up to 20 letters and digits. The same "
                "tag again today returns the first order."
            ),
        ] = None,
        slice_: Annotated[bool, typer.Option("--slice", help="Above the freeze quantity, send it in slices.")] = False,
        live: Live = False,
        yes: Yes = False,
    ) -> None:
        _place(ctx, side, symbol, quantity, limit, market, sl, trigger, sl_m, product, variety, validity, ttl, legs,
               disclosed, protection, tag, slice_, live, yes)  # fmt: skip


_side("BUY")
_side("SELL")


@order_app.command("show")
def show(
    ctx: typer.Context, order_id: Annotated[str, typer.Argument(help="The order id.")], live: Live = False
) -> None:
    """Show every state an order went through."""
    from kitekit.cli.order_view import history_table

    cli: CliContext = ctx.obj
    cli.console.print(history_table(_gateway(cli, live).order_history(order_id)))


@order_app.command("modify")
def modify(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The order id.")],
    quantity: Annotated[int | None, typer.Option("--qty", help="New quantity.", callback=options.at_least(1))] = None,
    price: Annotated[float | None, typer.Option(help="New price.", callback=options.finite_positive)] = None,
    trigger: Annotated[float | None, typer.Option(help="New trigger price.", callback=options.finite_positive)] = None,
    order_type: Annotated[
        OrderType | None, typer.Option("--type", help="New order type.", case_sensitive=False)
    ] = None,
    live: Live = False,
    yes: Yes = False,
) -> None:
    """Change a live order; a change already in place sends nothing."""
    from kitekit.orders import OrderChange

    cli: CliContext = ctx.obj
    change = OrderChange(quantity=quantity, price=price, trigger_price=trigger, order_type=order_type)
    if change.is_empty():
        raise typer.BadParameter("give at least one of --qty, --price, --trigger, --type")
    gateway = _gateway(cli, live)
    _confirm(cli, live, yes, f"modify {order_id}: {change.to_kite()}")
    gateway.modify(order_id, change)
    state = gateway.order(order_id)
    cli.console.print(f"Order {order_id}: {state.status}, {state.quantity} @ {state.price or state.order_type}")


@order_app.command("cancel")
def cancel(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The order id.")],
    live: Live = False,
    yes: Yes = False,
) -> None:
    """Cancel an order; one already cancelled is fine."""
    cli: CliContext = ctx.obj
    gateway = _gateway(cli, live)
    _confirm(cli, live, yes, f"cancel {order_id}")
    gateway.cancel(order_id)
    cli.console.print(f"Order {order_id}: {gateway.order(order_id).status}")


def orders(ctx: typer.Context, live: Live = False) -> None:
    """List today's orders."""
    from kitekit.cli.order_view import orders_table

    cli: CliContext = ctx.obj
    cli.console.print(orders_table(_gateway(cli, live).orders(), f"Orders — {_where(cli, live)}"))


def positions(ctx: typer.Context, live: Live = False) -> None:
    """Show net positions with their P&L."""
    from kitekit.cli.order_view import positions_table

    cli: CliContext = ctx.obj
    cli.console.print(positions_table(_gateway(cli, live).positions(), f"Positions — {_where(cli, live)}"))


def holdings(ctx: typer.Context, live: Live = False) -> None:
    """Show holdings with their value and P&L."""
    from kitekit.cli.order_view import holdings_table

    cli: CliContext = ctx.obj
    cli.console.print(holdings_table(_gateway(cli, live).holdings(), f"Holdings — {_where(cli, live)}"))


def funds(ctx: typer.Context, live: Live = False) -> None:
    """Show funds and margins per segment."""
    from kitekit.cli.order_view import funds_table

    cli: CliContext = ctx.obj
    cli.console.print(funds_table(_gateway(cli, live).margins(), f"Funds — {_where(cli, live)}"))


def trades(ctx: typer.Context, live: Live = False) -> None:
    """List today's fills."""
    from kitekit.cli.order_view import trades_table

    cli: CliContext = ctx.obj
    cli.console.print(trades_table(_gateway(cli, live).trades(), f"Trades — {_where(cli, live)}"))
