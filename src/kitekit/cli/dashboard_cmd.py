"""``kitekit dashboard``: serve the browser dashboard on 127.0.0.1 and open it (the URL carries this start's token).

On Kite alone it runs on Kite's own client, store and ticker, as always; with another data or order broker
(``--broker``, ``--data``, ``--orders``) its market data comes through the data broker's neutral feed, instruments
and candles, and its orders and positions through the order broker's neutral gateway.
"""

from pathlib import Path
from typing import Annotated

import typer

from kitekit.cli import options
from kitekit.cli.context import CliContext

__all__ = ["dashboard"]

#: The dashboard's port unless --port says otherwise (5055 is the login callback's).
DEFAULT_PORT = 5056


def dashboard(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="The port to serve on (0: any free one).", callback=options.at_least(0))] = (
        DEFAULT_PORT
    ),
    no_open: Annotated[bool, typer.Option("--no-open", help="Print the URL without opening a browser.")] = False,
    live: Annotated[
        bool, typer.Option("--live", help="Show the real account's orders (default: the paper account's).")
    ] = False,
    watch: Annotated[
        list[str] | None, typer.Option("--watch", help="Keep these instruments subscribed too (repeat the option).")
    ] = None,
    mode: Annotated[str, typer.Option(help="Ticker mode of --watch: ltp, quote or full.")] = "quote",
    host: Annotated[
        str, typer.Option(help="The address to bind. Keep 127.0.0.1 and put a reverse proxy in front to share it.")
    ] = "127.0.0.1",
    public_url: Annotated[
        str | None,
        typer.Option("--public-url", help="The URL users open through a reverse proxy, e.g. https://host/kite."),
    ] = None,
    root_path: Annotated[
        str, typer.Option("--root-path", help="The path prefix the reverse proxy serves it under.")
    ] = "",
) -> None:
    """Serve the dashboard (positions, P&L, orders, charts, option chain, strategies) until Ctrl-C.

    It binds 127.0.0.1 and prints a URL carrying a fresh access token; opening it sets a cookie.
    Controls (cancel, modify, square off, kill) ask for confirmation in the page and are accepted only from the page.
    """
    import webbrowser

    from kitekit.dashboard import DashboardServer, Desk
    from kitekit.dashboard.runs import Runs
    from kitekit.dashboard.source import source_for
    from kitekit.orders import LiveBroker, PaperBroker
    from kitekit.orders.gateway import BrokerOrders
    from kitekit.runner import runs_root
    from kitekit.wire.ticks import Mode

    cli: CliContext = ctx.obj
    try:
        tick_mode = Mode(mode)
    except ValueError:
        raise typer.BadParameter("choose ltp, quote or full", param_hint="--mode") from None
    if public_url is not None:
        from kitekit.config import check_url

        check_url(public_url, "--public-url")
    clock = cli.clock
    candles = cli.data_dir / "candles.duckdb"
    gateway: BrokerOrders
    if cli.on_kite:  # Kite's own client, instrument store and ticker, as the dashboard always ran
        kite, store = cli.kite(), cli.store().load()
        folder: Path = cli.data_dir / ("orders" if live else "paper")
        gateway = (LiveBroker if live else PaperBroker)(kite, store, folder=folder, clock=clock)
        saved = cli.manager().valid()
        desk = Desk(
            kite,
            gateway,
            store,
            clock,
            mode="live" if live else "paper",
            simulated=cli.sim,
            login_hint=cli.login_hint,
            expires_at=saved.expires_at if saved is not None else None,
            watch=[store.token(w) for w in watch or []],
            watch_mode=tick_mode,
            candles=candles,
        )
    else:  # the neutral layer: the data broker's feed and candles, the order broker's rules and journal
        chosen = cli.brokers()
        pair = cli.broker_pair()
        gateway = pair.orders(paper=not live, folder=cli.orders_folder(chosen.orders, live))
        hint = cli.login_hint_for(chosen.data)
        source = source_for(pair.data, clock, hint, candles)
        session = pair.data.session.valid()
        desk = Desk(
            None,
            gateway,
            None,
            clock,
            mode="live" if live else "paper",
            simulated=cli.sim,
            login_hint=hint,
            expires_at=session.expires_at if session is not None else None,
            watch=[source.instrument(w).token for w in watch or []],
            watch_mode=tick_mode,
            candles=candles,
            source=source,
        )
    try:
        runs = Runs(runs_root(cli.data_dir), clock)
        server = DashboardServer(desk, host=host, port=port, root_path=root_path, public_url=public_url, runs=runs)
    except OSError as exc:
        from kitekit.errors import KitekitError

        raise KitekitError(
            f"Cannot serve on {host}:{port}: {exc.strerror}. Choose another --port (0: any free one)."
        ) from None
    if host not in ("127.0.0.1", "::1", "localhost"):
        cli.err.print(f"[yellow]Warning:[/] serving on {host}: anyone who can reach it and has the URL can trade.")
    cli.err.print("The dashboard is at this URL (it carries this start's access token: treat it as a password):")
    cli.console.print(server.url, soft_wrap=True, highlight=False)
    cli.err.print("Ctrl-C stops it.")
    if not no_open:
        webbrowser.open(server.url)
    server.serve_forever()
