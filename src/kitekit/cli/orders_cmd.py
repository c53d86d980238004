"""``kitekit order buy|sell|show|modify|cancel``, ``orders``, ``positions``, ``holdings``, ``funds``, ``trades``.

Paper by default, and every command says so; ``--live`` trades on the Kite account (or the simulator's
account, with ``--sim``), printing each order in full and asking before it is sent unless ``--yes``.
"""

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from kitekit.cli import failures, options
from kitekit.cli.context import CliContext
from kitekit.errors import OrderValidationError
from kitekit.wire.orders import OrderStatus, OrderType, Product, Validity, Variety

if TYPE_CHECKING:
    from kitekit.orders import Order, OrderGateway, Placement

__all__ = ["funds", "holdings", "order_app", "orders", "positions", "trades"]

T = TypeVar("T")

order_app = typer.Typer(help="Place, show, modify and cancel orders (paper unless --live).", no_args_is_help=True)

Live = Annotated[bool, typer.Option("--live", help="Use the broker's real account instead of the paper one.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="With --live: send without asking first.")]


def _where(cli: CliContext, live: bool) -> str:
    if not live:
        return "the PAPER account"
    if cli.on_kite:
        return "the simulator's account (LIVE mode)" if cli.sim else "your Kite account (LIVE)"
    label = _order_label(cli)
    return f"the {label} simulator's account (LIVE mode)" if cli.sim else f"your {label} account (LIVE)"


def _order_label(cli: CliContext) -> str:
    from kitekit.brokers.registry import entry

    return entry(cli.brokers().orders).label


def _gateway(cli: CliContext, live: bool) -> "OrderGateway":
    """Return the paper broker (saying so) or, with ``--live``, the live one."""
    from kitekit.orders import LiveBroker, PaperBroker

    if not cli.on_kite:
        return _neutral_gateway(cli, live)
    kite, store, clock = cli.kite(), cli.store().load(), cli.clock
    if live:
        return LiveBroker(kite, store, folder=cli.data_dir / "orders", clock=clock)
    cli.err.print(
        "[bold yellow]PAPER[/] — kitekit's local matching engine at "
        f"{'simulated' if cli.sim else 'live Kite'} prices; nothing reaches the exchange. Add --live to trade for real."
    )
    return PaperBroker(kite, store, folder=cli.data_dir / "paper", clock=clock)


def _neutral_gateway(cli: CliContext, live: bool) -> "OrderGateway":
    """Return the order broker's gateway through the neutral layer: paper unless ``--live``, as on Kite."""
    from kitekit.brokers.registry import entry

    pair = cli.broker_pair()
    chosen = cli.brokers()
    if not live:
        prices = entry(chosen.data).label
        cli.err.print(
            f"[bold yellow]PAPER[/] — kitekit's local matching engine at {'simulated ' if cli.sim else ''}{prices} "
            "prices; nothing reaches the exchange. Add --live to trade for real."
        )
    gateway = pair.orders(paper=not live, folder=cli.orders_folder(chosen.orders, live))
    return gateway  # type: ignore[return-value]  # every BrokerOrders is an OrderGateway (Paper/LiveBroker)


def _instrument_key(cli: CliContext, symbol: str) -> str:
    """Return the neutral key (``EXCHANGE:SYMBOL``) of ``symbol`` on the order broker's list."""
    if cli.on_kite:
        return cli.store().load().key(symbol)
    return cli.broker_pair().instruments().load().key(symbol)


def _confirm(cli: CliContext, live: bool, yes: bool, what: str) -> None:
    """Ask before a live change unless ``--yes``; stop the command (exit 1) unless the answer is yes.

    The end of input (a closed or empty stdin) is a "no", not an interruption: nothing was sent, and the exit
    code says the command did not do its job (1), not that someone pressed Ctrl-C (130).
    """
    if not live or yes:
        return
    from rich.prompt import Confirm

    try:
        answer = Confirm.ask(f"{what} — send it?", console=cli.console, default=False)
    except EOFError:
        cli.console.print()
        cli.console.print("Nothing was sent: the input ended before an answer (give --yes to send without asking).")
        raise typer.Exit(failures.FAILED) from None
    if not answer:
        cli.console.print("Nothing was sent.")
        raise typer.Exit(failures.FAILED)


def _refuse_idle_flags(live: bool, yes: bool, legs: int | None = None, variety: Variety = Variety.REGULAR) -> None:
    """Refuse flags that would do nothing here, before anything is fetched: a user who gave one meant something.

    Raises:
        typer.BadParameter: ``--yes`` without ``--live``, or ``--iceberg-legs`` on an order that is not an iceberg.
    """
    if yes and not live:
        raise typer.BadParameter(
            "--yes skips the confirmation of a --live order; a paper order is never asked about, so it does nothing "
            "here. Drop --yes, or add --live to trade for real.",
            param_hint="--yes",
        )
    if legs is not None and variety is not Variety.ICEBERG:
        raise typer.BadParameter(
            f"--iceberg-legs splits an iceberg order; this one is {variety.value}. Add --variety iceberg, or drop "
            "--iceberg-legs.",
            param_hint="--iceberg-legs",
        )


@contextlib.contextmanager
def _in_cli_words() -> Iterator[None]:
    """Say ``--slice`` where a refusal names the Python API's ``place_sliced``: a CLI user has only the flag."""
    try:
        yield
    except OrderValidationError as exc:
        if "place_sliced" not in str(exc):
            raise
        text = re.sub(r"place_sliced(\(\))?", "--slice", str(exc))
        raise OrderValidationError(exc.rule, text, exc.field, exc.nearest) from None


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
    legs: int | None, disclosed: int | None, protection: float | None, tag: str | None, slice_: bool, live: bool,
    yes: bool,
) -> None:  # fmt: skip
    from kitekit.orders import OrderRequest

    cli: CliContext = ctx.obj
    _refuse_idle_flags(live, yes, legs, variety)
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
    key = _instrument_key(cli, symbol)
    request = OrderRequest.of(key, side, quantity, **terms)
    gateway = _gateway(cli, live)
    with _in_cli_words():
        quote = None
        if live:
            from kitekit.cli.order_view import request_table

            # One quote (GET /quote) lets the circuit limits and stop triggers be checked before anything is
            # sent, and values a MARKET order; POST /margins/orders says what the order will block.
            quote = _live_quote(cli, key)
            checked = gateway.check(request, quote)
            last = float(quote["last_price"]) if quote and quote.get("last_price") else None
            margin = _besides(cli, "the margin it needs", lambda: gateway.margin_required(checked))
            cli.console.print(f"[bold red]LIVE[/] order for {_where(cli, live)}:")
            cli.console.print(request_table(checked, tag, last, margin))
            _confirm(cli, live, yes, f"{side} {quantity} {key}")
        placed = gateway.place_sliced(request, tag) if slice_ else [gateway.place(request, tag, tag=tag, quote=quote)]
    states = _report(cli, gateway, placed, side, key, live)
    if slice_:
        cli.console.print(_slice_summary(states), highlight=False)
    rejected = [s for s in states if s.status == OrderStatus.REJECTED]
    if rejected:
        cli.err.print(
            f"[red]Error:[/] {len(rejected)} of {len(states)} orders {'was' if len(rejected) == 1 else 'were'} "
            "rejected; the reason is on its line above.",
            highlight=False,
        )
        raise typer.Exit(failures.FAILED)


def _live_quote(cli: CliContext, key: str) -> "dict[str, Any] | None":
    """Return the quote a live order is checked and valued by: Kite's, or the data broker's in Kite's shape."""
    if cli.on_kite:
        found: dict[str, Any] | None = cli.kite().quote(key).get(key)
        return found
    from kitekit.cli.neutral import quote_dict

    got = cli.broker_pair().quotes().quote(key, strict=False)
    return quote_dict(got[key]) if key in got else None


def _report(
    cli: CliContext, gateway: "OrderGateway", placed: "list[Placement]", side: str, key: str, live: bool
) -> "list[Order]":
    """Print each placed order's state, and for a fill its average price, value and charges; return the states."""
    from rich.text import Text

    from kitekit.cli.money import status_style
    from kitekit.cli.order_view import fill_line

    states = [gateway.order(p.order_id) for p in placed]
    filled = [s for s in states if s.filled_quantity]
    # POST /charges/orders (the paper broker: its engine) for every fill at once.
    costs = _besides(cli, "the charges", lambda: gateway.charges(filled)) if filled else []
    charges = dict(zip((s.order_id for s in filled), costs or [], strict=False))
    for p, state in zip(placed, states, strict=True):
        how = " (placed earlier with this intent; nothing sent)" if p.replayed else ""
        line = Text(f"{'LIVE' if live else 'PAPER'} order {p.order_id}: {side} {state.quantity} {key} ")
        line.append(f"{state.order_type} — ")
        line.append(f"{state.status}{': ' + state.status_message if state.status_message else ''}",
                    style=status_style(str(state.status)))  # fmt: skip
        line.append(f" (tag {p.tag}){how}")
        cli.console.print(line)
        if state.order_id in charges:
            cli.console.print(fill_line(state, charges[state.order_id]), highlight=False)
    return states


def _besides(cli: CliContext, what: str, fetch: "Callable[[], T]") -> "T | None":
    """Return what ``fetch`` gets, or None after saying it is not available.

    The calculators (margins, charges) are asked besides the order: before it, their failure must not stop an
    order the user may still send; after it, it must not read as the order's own failure.
    """
    try:
        return fetch()
    except Exception as exc:  # any failure of a calculator: the order goes on, and this line says why
        cli.err.print(f"[yellow]Could not get {what}[/] ({type(exc).__name__}: {exc}).", highlight=False)
        return None


def _slice_summary(states: "list[Order]") -> str:
    """Return how the slices of one order ended: placed, filled, rejected, open (and cancelled, if any)."""
    count = {
        "filled": sum(s.status == OrderStatus.COMPLETE for s in states),
        "rejected": sum(s.status == OrderStatus.REJECTED for s in states),
        "open": sum(s.is_live for s in states),
    }
    others = len(states) - sum(count.values())
    rest = f", {others} cancelled or other" if others else ""
    return (
        f"Slices: {len(states)} placed, {count['filled']} filled, {count['rejected']} rejected, "
        f"{count['open']} open{rest}."
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
            float | None,
            typer.Option("--protection", help="Market protection: a percentage above 0 up to 100 (2.5), or -1 (auto)."),
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
    _refuse_idle_flags(live, yes)
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
    _refuse_idle_flags(live, yes)
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
