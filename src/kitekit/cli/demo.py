"""``kitekit demo``: the main job — log in, show the profile, monitor live prices, then trade a strategy on paper.

The strategy part runs ``examples/ema_cross.py`` (from the source tree) on the paper broker against live ticks
for a short while, with the run's live status, then prints where its report is. On the embedded simulator the
simulated market runs faster for the demo (``--speed``), so minute bars close within seconds.
"""

from pathlib import Path
from typing import Annotated

import typer

from kitekit.cli import options
from kitekit.cli.context import CliContext

DEMO_KEYS = ("NIFTY 50", "NIFTY BANK", "RELIANCE")
#: The example the demo trades, where a source checkout (./dev demo) has it.
DEMO_STRATEGY = Path(__file__).resolve().parents[3] / "examples" / "ema_cross.py"


def demo(
    ctx: typer.Context,
    readings: Annotated[
        int, typer.Option(help="How many readings the monitor takes.", callback=options.at_least(1))
    ] = 3,
    every: Annotated[float, typer.Option(help="Seconds between readings.", callback=options.finite_positive)] = 1.0,
    trade_for: Annotated[
        float,
        typer.Option(
            "--trade-for",
            help="Minutes of market time the strategy trades on paper (0: skip).",
            callback=options.non_negative,
        ),
    ] = 12.0,
    speed: Annotated[
        float,
        typer.Option(help="How much faster the embedded simulator's market runs.", callback=options.finite_positive),
    ] = 40.0,
    strategy: Annotated[
        Path | None, typer.Option(help="The strategy file to trade (default: the EMA example).")
    ] = None,
) -> None:
    """Log in (if needed), print the profile, monitor NIFTY 50, NIFTY BANK and RELIANCE, then paper-trade a strategy."""
    from kitekit.cli.monitor_view import run_monitor
    from kitekit.monitor import Monitor

    cli: CliContext = ctx.obj
    cli.require_kite("The demo")
    if cli.sim and not cli.sim_url and trade_for:
        cli.sim_speed = speed  # the embedded world's market runs faster from now on (the next command slows it)
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
    if trade_for:
        _trade(cli, strategy or DEMO_STRATEGY, trade_for)


def _trade(cli: CliContext, path: Path, minutes: float) -> None:
    """Trade ``path`` on paper for ``minutes`` of market time with the live status; print where the report is."""
    from datetime import timedelta

    from kitekit.cli.run_view import LiveStatus, stats_table
    from kitekit.history import CandleStore, History
    from kitekit.runner import load_strategy, trade

    if not path.is_file():
        cli.err.print(f"(No strategy at {path}: the paper-trading part needs a source checkout; skipped.)")
        return
    strategy = load_strategy(path, {"fast": "3", "slow": "8"} if path == DEMO_STRATEGY else {})
    cli.console.print(
        f"\n[bold]Paper-trading {path.name}[/] on {', '.join(strategy.symbols)} for {minutes:g} market minutes "
        "(PAPER: kitekit's engine at the simulator's prices; nothing reaches an exchange)…"
    )
    store = cli.store().load()
    kite = cli.kite()
    history = History(kite, store, CandleStore(cli.data_dir / "candles.duckdb"), clock=cli.clock)
    with LiveStatus(cli.console) as view:
        result = trade(
            strategy, kite=kite, instruments=store, name="demo-ema_cross", data=cli.data_dir, source=str(path),
            history=history, clock=cli.clock, duration=timedelta(minutes=minutes), status=view,
        )  # fmt: skip
    cli.console.print(stats_table(result.stats, title=f"{result.name}: {result.reason}"))
    report = result.report.html if result.report is not None else result.folder.path
    cli.console.print(
        f"Report: {report}  (again: kitekit --sim report {result.name} --open)", highlight=False, soft_wrap=True
    )
