"""Entry point of the ``kitekit`` command: global options, error reporting, and the command table."""

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from kitekit import redact
from kitekit.cli import (
    alerts_cmd,
    chain_cmd,
    dashboard_cmd,
    demo,
    doctor_cmd,
    failures,
    feed_cmd,
    history_cmd,
    instruments_cmd,
    monitor_cmd,
    options,
    orders_cmd,
    postbacks_cmd,
    quote_cmd,
    run_cmd,
    session_cmds,
    sim_cmd,
    stream_cmd,
)
from kitekit.cli.context import CliContext

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="kitekit: sessions, instruments and paced market data for Zerodha Kite Connect, with a simulator.",
    pretty_exceptions_enable=False,
)


@app.callback()
def _global(
    ctx: typer.Context,
    sim: Annotated[
        bool | None,
        typer.Option("--sim/--no-sim", help="Use the built-in simulator (also KITE_SIM=1). Data is simulated."),
    ] = None,
    sim_url: Annotated[
        str | None,
        typer.Option("--sim-url", help="Use a running `kitekit sim` at this URL (also KITE_SIM_URL)."),
    ] = None,
    sim_state: Annotated[
        Path | None,
        typer.Option("--sim-state", help="The folder the embedded simulator's world lives in (also KITE_SIM_STATE)."),
    ] = None,
    sim_at: Annotated[
        str | None,
        typer.Option(
            "--sim-at",
            help="Start a new embedded world at this instant, e.g. 2027-01-26T10:00+05:30 (also KITE_SIM_AT).",
        ),
    ] = None,
    sim_fresh: Annotated[
        bool,
        typer.Option("--sim-fresh", help="Start the embedded simulator's world over: clock, accounts, sessions."),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Config file (JSON) to read credentials from (also KITE_CONFIG)."),
    ] = None,
    broker: Annotated[
        str | None,
        typer.Option("--broker", help="The broker: kite, upstox or angel (also KITEKIT_BROKER; default kite)."),
    ] = None,
    data_broker: Annotated[
        str | None,
        typer.Option("--data", help="Take market data from this broker (also KITEKIT_DATA_BROKER; default --broker)."),
    ] = None,
    order_broker: Annotated[
        str | None,
        typer.Option("--orders", help="Send orders to this broker (also KITEKIT_ORDER_BROKER; default --broker)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what kitekit does.")] = False,
) -> None:
    _state["verbose"] = verbose
    _log_to_terminal(logging.INFO if verbose else logging.WARNING)
    cli = CliContext.from_env(
        sim, sim_url, config, sim_state=sim_state, sim_at=options.instant(sim_at), sim_fresh=sim_fresh
    )
    cli.broker_flags = (broker, data_broker, order_broker)
    ctx.obj = cli
    ctx.call_on_close(cli.close)


#: What the global options said, for the error handler (which runs after the command's context is gone).
_state: dict[str, bool] = {"verbose": False}


def _log_to_terminal(level: int | None) -> None:
    """Show kitekit's log records at ``level`` on stderr; None removes the CLI's handler again."""
    # Only kitekit's own loggers print, so a library's debug output (URLs, headers) never reaches the terminal.
    from rich.logging import RichHandler

    logger = logging.getLogger("kitekit")
    for handler in [h for h in logger.handlers if getattr(h, "kitekit_cli", False)]:
        logger.removeHandler(handler)
    if level is None:
        logger.setLevel(logging.NOTSET)
        return
    handler = RichHandler(show_time=False, show_path=False, markup=False, console=CliContext().err)
    handler.kitekit_cli = True  # type: ignore[attr-defined]  # marks ours, so a second run replaces it
    handler.addFilter(redact.SecretFilter())
    logger.addHandler(handler)
    logger.setLevel(level)


# The command table: every command is registered here, explicitly, from the module that implements it.
# Command modules skip `from __future__ import annotations`: typer reads every command's signature on each
# start, and a string annotation costs an eval there (~10 ms a run over the whole table).
app.command()(session_cmds.login)
app.command()(session_cmds.logout)
app.command()(session_cmds.status)
app.command()(session_cmds.profile)
app.command()(doctor_cmd.doctor)
app.command()(monitor_cmd.monitor)
app.command()(quote_cmd.quote)
app.command()(stream_cmd.ticks)
app.command()(stream_cmd.record)
app.add_typer(feed_cmd.feed_app, name="feed")
app.command()(demo.demo)
app.command("sim")(sim_cmd.sim_command)
app.command("chain")(chain_cmd.chain)
app.add_typer(instruments_cmd.instruments_app, name="instruments")
app.add_typer(instruments_cmd.tokens_app, name="tokens")
app.add_typer(history_cmd.history_app, name="history")
app.command()(history_cmd.chart)
app.add_typer(orders_cmd.order_app, name="order")
app.command()(orders_cmd.orders)
app.command()(orders_cmd.positions)
app.command()(orders_cmd.holdings)
app.command()(orders_cmd.funds)
app.command()(orders_cmd.trades)
app.command()(alerts_cmd.alerts)
app.add_typer(alerts_cmd.alert_app, name="alert")
app.command()(postbacks_cmd.postbacks)
app.command()(run_cmd.run)
app.command()(run_cmd.kill)
app.command()(run_cmd.report)
app.command()(run_cmd.runs)
app.command()(dashboard_cmd.dashboard)


def run(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` and return the exit code (see :mod:`kitekit.cli.failures`).

    A failure prints one line saying what went wrong and what to do; ``-v`` adds the traceback.
    """
    _state["verbose"] = False
    try:
        return _run(argv)
    finally:
        _log_to_terminal(None)


def _run(argv: list[str] | None) -> int:
    err = CliContext().err
    try:
        result = app(args=argv, standalone_mode=False)
        return result if isinstance(result, int) else 0
    except (typer.Abort, KeyboardInterrupt):
        err.print("Aborted.")
        return failures.INTERRUPTED
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: typer shows them the way click would
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        return int(getattr(exc, "exit_code", failures.USAGE))
    except Exception as exc:  # the edge: whatever a command lets out becomes one line and an exit code
        failure = failures.describe(exc)
        if _state["verbose"]:
            err.print_exception(show_locals=False)
        err.print(failure.message, highlight=False, soft_wrap=True)
        return failure.code


def main() -> None:
    """Console-script entry point of ``kitekit``."""
    sys.exit(run(sys.argv[1:]))
