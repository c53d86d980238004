"""``kitekit sim``: run the simulator in the foreground: Kite's API, or Angel One's or Upstox's (``--broker``)."""

import socket
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kitekit import paths
from kitekit.cli import embedded, options
from kitekit.clock import Clock, SystemClock

if TYPE_CHECKING:
    from kitekit.sim.config import SimConfig


class SimBroker(StrEnum):
    """Whose API the simulator speaks; every broker trades on the same simulated market."""

    KITE = "kite"
    ANGEL = "angel"
    UPSTOX = "upstox"


def sim_command(
    host: Annotated[str, typer.Option(help="Interface to bind; keep 127.0.0.1 unless you know why.")] = "127.0.0.1",
    broker: Annotated[
        SimBroker, typer.Option(help="Whose API to speak: kite, angel (Angel One SmartAPI) or upstox.")
    ] = SimBroker.KITE,
    port: Annotated[
        int, typer.Option(help="Port to bind; 0 picks a free one and prints it.", callback=options.port)
    ] = 8000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated market.")] = 7,
    real_time: Annotated[
        bool,
        typer.Option("--real-time", help="Follow the wall clock (prices frozen outside 09:15-15:30 IST)."),
    ] = False,
    speed: Annotated[
        float,
        typer.Option(
            help="Speed of the simulated market and of a --replay (1 = real time).", callback=options.finite_positive
        ),
    ] = 1.0,
    at: Annotated[
        str | None,
        typer.Option(
            help="Start a new world at this instant, e.g. 2027-01-26T10:00+05:30 (IST if no offset); a world that "
            "began elsewhere needs --fresh."
        ),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start the simulated world over: clock, accounts and sessions.")
    ] = False,
    state: Annotated[
        Path | None,
        typer.Option(help="The folder the simulated world lives in (default: per host and port in the data dir)."),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(help="Serve the ticks recorded in this folder (`kitekit record`) on the ticker, at --speed."),
    ] = None,
    auto_login: Annotated[bool, typer.Option("--auto-login", help="Approve logins without the login form.")] = False,
    no_rate_limits: Annotated[
        bool,
        typer.Option("--no-rate-limits", help="Lift Kite's rate limits (for load tests and benchmarks)."),
    ] = False,
    allowed_ips: Annotated[
        str | None,
        typer.Option(
            "--allowed-ips",
            help="The app's static IPs, comma-separated: orders placed, modified or cancelled from any other "
            "address are refused, as on Kite since April 2026 (default: from anywhere).",
        ),
    ] = None,
    latency_ms: Annotated[
        float, typer.Option(help="Fault: added latency per request, in ms.", callback=options.non_negative)
    ] = 0.0,
    network_error_rate: Annotated[
        float, typer.Option(help="Fault: share of 503 NetworkException.", callback=options.share)
    ] = 0.0,
    data_error_rate: Annotated[
        float, typer.Option(help="Fault: share of 502 DataException.", callback=options.share)
    ] = 0.0,
    html_502_rate: Annotated[float, typer.Option(help="Fault: share of HTML 502 pages.", callback=options.share)] = 0.0,
    drop_rate: Annotated[
        float, typer.Option(help="Fault: share of dropped connections.", callback=options.share)
    ] = 0.0,
    order_drop_rate: Annotated[
        float,
        typer.Option(help="Order fault: share of placements accepted, then the line cut.", callback=options.share),
    ] = 0.0,
    order_error_rate: Annotated[
        float,
        typer.Option(help="Order fault: share of placements accepted, then answered 5xx.", callback=options.share),
    ] = 0.0,
    order_error_status: Annotated[
        int, typer.Option(help="Order fault: the 5xx of --order-error-rate (500, 502, 503 or 504).")
    ] = 504,
    order_reject_rate: Annotated[
        float, typer.Option(help="Order fault: share of placements answered 429, not accepted.", callback=options.share)
    ] = 0.0,
    order_ack_delay_ms: Annotated[
        float,
        typer.Option(help="Order fault: accept every order, answer this many ms later.", callback=options.non_negative),
    ] = 0.0,
    postback_url: Annotated[
        str | None,
        typer.Option(help="POST each order update here, as Kite's postbacks (faults: PUT /__sim/postbacks)."),
    ] = None,
) -> None:
    """Run the Kite-compatible simulator until Ctrl-C. Its data is simulated, never real."""
    from kitekit.sim.config import FaultConfig, LoginMode, OrderFaultConfig, PostbackConfig, SimConfig
    from kitekit.sim.faults import OrderFaults
    from kitekit.sim.postbacks import checked_setting

    try:  # the same check as PUT /__sim/postbacks
        checked_setting("url", postback_url)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--postback-url") from None

    static_ips = options.addresses(allowed_ips)
    try:  # the same checks as PUT /__sim/order-faults, so the flags can never configure what the API refuses
        order_faults = OrderFaults.check(
            {
                "drop_rate": order_drop_rate,
                "error_rate": order_error_rate,
                "error_status": order_error_status,
                "reject_rate": order_reject_rate,
                "ack_delay_ms": order_ack_delay_ms,
            },
            OrderFaultConfig(),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None

    faults = order_faults != OrderFaultConfig()
    faults |= any((latency_ms, network_error_rate, data_error_rate, html_502_rate, drop_rate))
    if broker is SimBroker.ANGEL and (replay is not None or auto_login or faults):
        raise typer.BadParameter("--replay, --auto-login and the fault options apply to --broker kite only")
    if broker is SimBroker.UPSTOX and (replay is not None or faults):
        raise typer.BadParameter("--replay and the fault options are not modelled on the Upstox simulator yet")
    if at is not None and real_time:
        raise typer.BadParameter("--at starts a world of market sessions; it cannot go with --real-time")
    start = options.instant(at)
    if replay is not None:
        from kitekit.sim.feed import Recording

        recording = Recording.load(replay)  # a missing folder or one without recordings fails before listening
    from kitekit.sim.listen import listening_socket

    try:  # before the world: a port in use or a foreign address leaves nothing behind
        sock = listening_socket(host, port)
    except OSError as exc:
        typer.echo(f"Cannot listen on {host}:{port}: {exc.strerror}. Try --port 0 for a free port.", err=True)
        raise typer.Exit(1) from None
    # One world per host and port (every --port 0 shares one), or the folder given: it outlives restarts.
    home = state or paths.sim_home(f"http://{host}:{port}")
    try:
        clock = embedded.world_clock(home, SystemClock(), at=start, speed=speed, real_time=real_time, fresh=fresh)
    except BaseException:
        sock.close()  # refused (an --at the world has left): the port goes back at once
        raise
    if broker is SimBroker.ANGEL:
        _serve_angel(sock, clock, seed, home, no_rate_limits)
        return
    config = SimConfig(
        seed=seed,
        login_mode=LoginMode.AUTO if auto_login else LoginMode.FORM,
        rate_limit_enabled=not no_rate_limits,
        state_file=home / "state.json",
        faults=FaultConfig(
            latency_ms=latency_ms,
            network_error_rate=network_error_rate,
            data_error_rate=data_error_rate,
            html_502_rate=html_502_rate,
            drop_rate=drop_rate,
        ),
        order_faults=order_faults,
        allowed_ips=static_ips,
        postbacks=PostbackConfig(url=postback_url),
    )
    if broker is SimBroker.UPSTOX:
        _serve_upstox(config, clock, host, port, sock, auto_login)
        return
    config.admin_token_file = home / "admin-token"
    config.admin_token_required = not embedded.is_loopback(host)
    server = embedded.sim_server(config, clock, host=host, port=port, sock=sock)
    if replay is not None:
        server.sim.feed.replay(recording, speed)
    if not embedded.is_loopback(host):
        typer.secho(
            f"WARNING: the simulator listens on {host}, reachable from other machines. Its credentials are public "
            "and its admin endpoints change its behaviour: bind 127.0.0.1 unless you really mean it.",
            err=True,
            fg="red",
            bold=True,
        )
    moment = clock.now()
    typer.echo(f"kitekit simulator listening on {server.url}  (SIMULATED DATA — nothing here is real)")
    typer.echo(f"  REST root / KiteConnect(root=…): {server.url}")
    feed = "the market model" if replay is None else f"{len(recording):,} recorded frames from {replay} at {speed:g}x"
    typer.echo(f"  ticker / KiteTicker(root=…): {server.ws_url}  ({feed})")
    typer.echo(f"  api_key: {config.api_key}   user: {config.user_id}   (defaults documented in docs/simulator.md)")
    clock_note = "wall clock" if real_time else f"market sessions, now {moment:%Y-%m-%d %H:%M} IST, at {speed:g}x"
    typer.echo(f"  clock: {clock_note}; the world lives in {home} (--fresh starts it over)")
    if order_drop_rate or order_error_rate or order_reject_rate or order_ack_delay_ms:
        typer.echo(
            f"  order faults: drop {order_drop_rate:g}, {order_error_status} {order_error_rate:g}, "
            f"429 {order_reject_rate:g}, acknowledgement delay {order_ack_delay_ms:g} ms"
        )
    if postback_url:
        typer.echo(f"  postbacks: order updates are POSTed to {postback_url} as Kite posts them, signed")
    if no_rate_limits:
        typer.echo("  rate limits: lifted (--no-rate-limits); the real Kite answers 429 beyond its limits")
    if static_ips:
        typer.echo(f"  static IPs: orders only from {', '.join(static_ips)} (--allowed-ips)")
    typer.echo(f"  use it from other shells: KITE_SIM_URL={server.url} kitekit status")
    typer.echo(
        f"  admin API {server.url}/__sim: send header X-Kitekit-Admin: {server.sim.admin_token} "
        f"(also in {config.admin_token_file}){'; required' if config.admin_token_required else ''}"
    )
    server.serve_forever()


def _serve_angel(sock: socket.socket, clock: Clock, seed: int, home: Path, no_rate_limits: bool) -> None:
    """Serve the Angel One simulator on ``sock`` in the world at ``home`` until Ctrl-C."""
    from kitekit.sim.angel.config import AngelSimConfig
    from kitekit.sim.angel.server import AngelSimServer

    config = AngelSimConfig(seed=seed, rate_limit_enabled=not no_rate_limits, state_file=home / "angel-state.json")
    host, port = sock.getsockname()[:2]
    server = AngelSimServer(config, clock, host=host, port=port, sock=sock)
    typer.echo(f"kitekit Angel One simulator listening on {server.url}  (SIMULATED DATA — nothing here is real)")
    typer.echo(f"  REST root / SmartConnect(root=…): {server.url}")
    typer.echo(f"  WebSocket 2.0: {server.stream_url}   order updates: {server.order_update_url}")
    typer.echo(f"  api_key: {config.api_key}   client code: {config.client_code}   (PIN, TOTP: docs/simulator.md)")
    typer.echo(f"  clock: market sessions, now {clock.now():%Y-%m-%d %H:%M} IST; the world lives in {home}")
    if no_rate_limits:
        typer.echo("  rate limits: lifted (--no-rate-limits); the real Angel answers 403 beyond its limits")
    server.serve_forever()


def _serve_upstox(config: "SimConfig", clock: Clock, host: str, port: int, sock: socket.socket, auto: bool) -> None:
    """Serve the Upstox simulator on the world's clock and accounts until Ctrl-C."""
    from kitekit.sim.upstox import UpstoxServer, UpstoxSimConfig

    # Its tokens beside the world's Kite tokens: every simulator and --sim command on the world accepts them.
    tokens = config.state_file.with_name("upstox-state.json") if config.state_file else None
    upstox = UpstoxSimConfig(shared=config, auto_approve=auto, state_file=tokens)
    server = UpstoxServer(upstox, clock, host=host, port=port, sock=sock)
    typer.echo(f"kitekit Upstox simulator listening on {server.url}  (SIMULATED DATA — nothing here is real)")
    typer.echo(f"  Configuration().host and .order_host: {server.url}   streamers: {server.ws_url}")
    typer.echo(f"  client_id: {upstox.client_id}   redirect_uri: {upstox.redirect_uri}   user: {config.user_id}")
    typer.echo("  (defaults documented in docs/simulator.md)")
    server.serve_forever()
