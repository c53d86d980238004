"""``kitekit postbacks --listen``: receive Kite's order postbacks and print each verified order update.

A forgery (a post not signed with the app's api_secret) is refused and said so; a repeat or a late arrival
is set aside; every so often the order book is read to fill what was dropped (:mod:`kitekit.orders.postbacks`).
Kite posts to a public HTTPS URL registered with the app: put a proxy or a tunnel in front of this listener.
Against a simulator, start it with ``kitekit sim --postback-url http://HOST:PORT/postback``.
"""

from typing import Annotated

import typer

from kitekit.cli import options
from kitekit.cli.context import CliContext


def postbacks(
    ctx: typer.Context,
    listen: Annotated[bool, typer.Option("--listen", help="Listen for postbacks until Ctrl-C.")] = False,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.", callback=options.port)] = 5056,
    path: Annotated[str, typer.Option(help="The path Kite posts to.")] = "/postback",
    reconcile_every: Annotated[
        float,
        typer.Option(
            help="Seconds between reads of the order book that fill dropped postbacks.",
            callback=options.finite_positive,
        ),
    ] = 30.0,
) -> None:
    """Receive Kite's order postbacks: verified, de-duplicated, gaps filled from the order book."""
    from kitekit.orders import OrderEvents, OrderUpdate
    from kitekit.orders.postbacks import KiteOrderBook, PostbackInbox
    from kitekit.web.postbacks import postback_app, serve

    cli: CliContext = ctx.obj
    cli.require_kite("Order postbacks", "orders")
    if not listen:
        raise typer.BadParameter("add --listen to receive postbacks (it is the one thing this command does)")
    if not path.startswith("/"):
        raise typer.BadParameter("the path starts with /, e.g. /postback", param_hint="--path")
    settings = cli.settings()
    settings.require("api_secret")
    book = KiteOrderBook(cli.kite())
    events = OrderEvents(book)

    def show(update: OrderUpdate) -> None:
        o = update.order
        cli.console.print(
            f"{cli.clock.now():%H:%M:%S}  {o.order_id}  {o.transaction_type} {o.filled_quantity}/{o.quantity} "
            f"{o.key}  {update.previous or '-'} → {o.status}  ({update.source})",
            highlight=False,
        )

    events.on_update(show)
    inbox = PostbackInbox(settings.api_secret or "", events, book=book)

    def listening() -> None:
        cli.console.print(
            f"Listening for Kite postbacks on http://{host}:{port}{path} ({'the simulator' if cli.sim else 'Kite'}); "
            f"the order book fills gaps every {reconcile_every:g}s. Ctrl-C stops.",
            highlight=False,
        )

    try:
        # Said once the port is bound: a postback sent on the word of this line must find it open.
        serve(postback_app(inbox, path, reconcile_every), host, port, on_listening=listening)
    finally:  # Ctrl-C reaches here after uvicorn has shut down (and then ends the command with 130)
        counts = ", ".join(f"{n} {k}" for k, n in sorted(inbox.counts.items())) or "none"
        cli.console.print(f"Stopped. Postbacks: {counts}.", highlight=False)
