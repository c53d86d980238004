"""``kitekit feed serve``: the one feed owner of an account, publishing every frame to a Redis bus."""

from typing import Annotated

import typer

from kitekit.cli import options
from kitekit.cli.context import CliContext
from kitekit.cli.stream_cmd import StreamMode

__all__ = ["feed_app", "serve"]

_KEEP = "Frames the stream keeps: how far a consumer may fall behind."
_LEASE = "Seconds before a standby takes over from an owner that stopped answering."
_CONNECTIONS = (
    "WebSocket connections this owner may open (Kite allows 3 per api_key in all: with a standby, share them)."
)

feed_app = typer.Typer(help="One feed for many consumers: the owner that publishes Kite's ticks to a Redis bus.")


@feed_app.command()
def serve(
    ctx: typer.Context,
    bus: Annotated[str, typer.Option("--bus", help="The Redis server to publish to: redis://host:6379/0.")],
    instruments: Annotated[
        list[str] | None, typer.Argument(help="Instruments to carry whatever the consumers ask (optional).")
    ] = None,
    mode: Annotated[StreamMode, typer.Option(help="The mode of those instruments.")] = StreamMode.FULL,
    name: Annotated[str, typer.Option(help="The feed's name (one per account).")] = "default",
    keep: Annotated[int, typer.Option(help=_KEEP, callback=options.at_least(1))] = 1000,
    lease: Annotated[float, typer.Option(help=_LEASE, callback=options.finite_positive)] = 3.0,
    connections: Annotated[int, typer.Option(help=_CONNECTIONS, callback=options.at_least(1))] = 3,
) -> None:
    """Hold the account's ticker connections and publish every frame to the bus; run a second one as a standby.

    Consumers read it with `kitekit ticks --bus`, `kitekit record --bus` or `kitekit.bus.BusTicker`.
    The first owner to start is active; another on the same bus and name waits hot.
    It takes over within `--lease` seconds when the active one dies, with no frame lost or repeated.
    Ctrl-C hands over at once.
    """
    from kitekit.bus.connect import check_bus_url
    from kitekit.bus.feed import FeedOwner
    from kitekit.ticker import Ticker
    from kitekit.wire.ticks import Mode

    cli: CliContext = ctx.obj
    cli.require_kite("The Redis feed owner (feed serve)", "data")
    store = cli.store()
    ticker = Ticker.from_kite(cli.kite(), store, login_hint=cli.login_hint, max_connections=connections)
    pinned = {store.token(i) if not i.isdigit() else int(i): Mode(mode.value) for i in instruments or []}
    owner = FeedOwner(check_bus_url(bus), ticker, name=name, lease_ttl=lease, keep=keep, pinned=pinned)
    cli.err.print(
        f"Feed owner {owner.owner_id} for feed {name!r}: active when it holds the lease, standby otherwise. "
        "Ctrl-C stops and hands over.",
        highlight=False,
    )
    try:
        owner.run()
    except KeyboardInterrupt:
        owner.stop()
        raise
    finally:
        info = owner.info()
        cli.err.print(
            f"Published {info['published']:,} frames; took over {info['takeovers']} time(s).", highlight=False
        )
