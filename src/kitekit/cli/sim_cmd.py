"""``kitekit sim``: run the simulator in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kitekit.cli import embedded
from kitekit.clock import SystemClock
from kitekit.config import data_dir


def sim_command(
    host: Annotated[str, typer.Option(help="Interface to bind; keep 127.0.0.1 unless you know why.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind; 0 picks a free one and prints it.")] = 8000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated market.")] = 7,
    real_time: Annotated[
        bool,
        typer.Option("--real-time", help="Follow the wall clock (prices frozen outside 09:15-15:30 IST)."),
    ] = False,
    speed: Annotated[float, typer.Option(help="Speed of the virtual session (1 = real time).")] = 1.0,
    auto_login: Annotated[bool, typer.Option("--auto-login", help="Approve logins without the login form.")] = False,
    state_file: Annotated[
        Path | None, typer.Option(help="Where access tokens persist (default: the kitekit data dir).")
    ] = None,
    latency_ms: Annotated[float, typer.Option(help="Fault: added latency per request.")] = 0.0,
    network_error_rate: Annotated[float, typer.Option(help="Fault: share of 503 NetworkException.")] = 0.0,
    data_error_rate: Annotated[float, typer.Option(help="Fault: share of 502 DataException.")] = 0.0,
    html_502_rate: Annotated[float, typer.Option(help="Fault: share of HTML 502 pages.")] = 0.0,
    drop_rate: Annotated[float, typer.Option(help="Fault: share of dropped connections.")] = 0.0,
) -> None:
    """Run the Kite-compatible simulator until Ctrl-C. Its data is simulated, never real."""
    from kitekit.sim.config import FaultConfig, LoginMode, SimConfig

    wall = SystemClock()
    clock = embedded.market_clock(wall, speed, real_time)
    config = SimConfig(
        seed=seed,
        login_mode=LoginMode.AUTO if auto_login else LoginMode.FORM,
        state_file=state_file or embedded.state_file(data_dir()),
        faults=FaultConfig(
            latency_ms=latency_ms,
            network_error_rate=network_error_rate,
            data_error_rate=data_error_rate,
            html_502_rate=html_502_rate,
            drop_rate=drop_rate,
        ),
    )
    server = embedded.sim_server(config, clock, wall, host=host, port=port)
    try:
        server.bind()
    except OSError as exc:
        typer.echo(f"Cannot listen on {host}:{port}: {exc.strerror}. Try --port 0 for a free port.", err=True)
        raise typer.Exit(1) from None
    moment = clock.now()
    typer.echo(f"kitekit simulator listening on {server.url}  (SIMULATED DATA — nothing here is real)")
    typer.echo(f"  REST root / KiteConnect(root=…): {server.url}")
    typer.echo(f"  api_key: {config.api_key}   user: {config.user_id}   (defaults documented in docs/simulator.md)")
    clock_note = "wall clock" if real_time else f"virtual session from {moment:%Y-%m-%d %H:%M} IST at {speed:g}x"
    typer.echo(f"  clock: {clock_note}")
    typer.echo(f"  use it from other shells: KITE_SIM_URL={server.url} kitekit status")
    server.serve_forever()
