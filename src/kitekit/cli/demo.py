"""``kitekit demo``: the main job — log in, show the profile, then monitor live prices."""

from typing import Annotated

import typer

from kitekit.cli import options
from kitekit.cli.context import CliContext

DEMO_KEYS = ("NIFTY 50", "NIFTY BANK", "RELIANCE")


def demo(
    ctx: typer.Context,
    readings: Annotated[
        int, typer.Option(help="How many readings the monitor takes.", callback=options.at_least(1))
    ] = 5,
    every: Annotated[float, typer.Option(help="Seconds between readings.", callback=options.finite_positive)] = 1.0,
) -> None:
    """Log in (if needed), print the profile, then monitor NIFTY 50, NIFTY BANK and RELIANCE."""
    from kitekit.cli.monitor_view import run_monitor
    from kitekit.monitor import Monitor

    cli: CliContext = ctx.obj
    manager = cli.manager()
    if manager.valid() is None:
        if not cli.sim:
            cli.err.print("No valid session; logging in through the browser.")
            manager.login_with_redirect(show_url=lambda url: cli.console.print(url, highlight=False))
        else:
            cli.err.print("Logging in to the simulator through its login endpoints (password + TOTP)…")
            manager.login_with_totp()
    else:
        cli.err.print("Using the saved session.")
    data = cli.market_data()
    profile = data.kite.profile()
    cli.console.print(
        f"[bold]{profile['user_name']}[/] ({profile['user_id']}) · {profile['email']} · "
        f"exchanges: {', '.join(profile['exchanges'])}"
    )
    monitor = Monitor(data, DEMO_KEYS, every=every, count=readings, clock=cli.clock)
    run_monitor(monitor, cli.console, live=False, csv_path=None)
