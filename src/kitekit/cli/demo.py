"""``kitekit demo``: the main job — log in, show the profile and live prices."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from kitekit.cli.context import CliContext
from kitekit.cli.main import app
from kitekit.clock import IST

DEMO_KEYS = ("NSE:NIFTY 50", "NSE:NIFTY BANK", "NSE:RELIANCE")


@app.command()
def demo(
    ctx: typer.Context,
    readings: Annotated[int, typer.Option(help="How many LTP readings to take, one per second.")] = 3,
) -> None:
    """Log in (if needed), print the profile and live LTPs of NIFTY 50, NIFTY BANK and RELIANCE."""
    cli: CliContext = ctx.obj
    manager = cli.manager()
    if manager.valid() is None:
        if not cli.sim:
            cli.err.print("No valid session; logging in through the browser.")
            manager.login_with_redirect(show_url=lambda url: cli.console.print(url, highlight=False))
        else:
            cli.err.print("Logging in to the simulator through its login endpoints (password + TOTP)…")
            manager.login_with_totp()
    kite = manager.get_kite()
    profile = kite.profile()
    cli.console.print(
        f"[bold]{profile['user_name']}[/] ({profile['user_id']}) · {profile['email']} · "
        f"exchanges: {', '.join(profile['exchanges'])}"
    )
    table = Table("time (IST)", *(k.split(":", 1)[1] for k in DEMO_KEYS))
    for i in range(readings):
        if i:
            time.sleep(1.05)  # the quote API allows one call a second
        data = kite.ltp(*DEMO_KEYS)
        now = cli.clock.now().astimezone(IST)
        table.add_row(f"{now:%H:%M:%S}", *(f"{data[k]['last_price']:,.2f}" for k in DEMO_KEYS))
    cli.console.print(table)
