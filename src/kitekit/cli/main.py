"""Entry point of the ``kitekit`` command: global options, error reporting, and the command table."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import requests
import typer
from kiteconnect.exceptions import KiteException
from rich.logging import RichHandler

from kitekit import redact
from kitekit.cli import demo, instruments_cmd, monitor_cmd, session_cmds, sim_cmd
from kitekit.cli.context import CliContext
from kitekit.errors import KitekitError

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
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Config file (JSON) to read credentials from (also KITE_CONFIG)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what kitekit does.")] = False,
) -> None:
    _log_to_terminal(logging.INFO if verbose else logging.WARNING)
    cli = CliContext.from_env(sim, sim_url, config)
    ctx.obj = cli
    ctx.call_on_close(cli.close)


class _CliHandler(RichHandler):
    """Marks the handler the CLI installed, so a second run in one process replaces it."""


def _log_to_terminal(level: int | None) -> None:
    """Show kitekit's log records at ``level`` on stderr; None removes the CLI's handler again."""
    # Only kitekit's own loggers print, so a library's debug output (URLs, headers) never reaches the terminal.
    logger = logging.getLogger("kitekit")
    for handler in [h for h in logger.handlers if isinstance(h, _CliHandler)]:
        logger.removeHandler(handler)
    if level is None:
        logger.setLevel(logging.NOTSET)
        return
    handler = _CliHandler(show_time=False, show_path=False, markup=False, console=CliContext().err)
    handler.addFilter(redact.SecretFilter())
    logger.addHandler(handler)
    logger.setLevel(level)


# The command table: every command is registered here, explicitly, from the module that implements it.
app.command()(session_cmds.login)
app.command()(session_cmds.logout)
app.command()(session_cmds.status)
app.command()(session_cmds.profile)
app.command()(monitor_cmd.monitor)
app.command()(demo.demo)
app.command("sim")(sim_cmd.sim_command)
app.add_typer(instruments_cmd.instruments_app, name="instruments")
app.add_typer(instruments_cmd.tokens_app, name="tokens")


def run(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` and return the exit code; local errors print a message, no traceback."""
    try:
        return _run(argv)
    finally:
        _log_to_terminal(None)


def _run(argv: list[str] | None) -> int:
    err = CliContext().err
    try:
        result = app(args=argv, standalone_mode=False)
        return result if isinstance(result, int) else 0
    except KitekitError as exc:
        err.print(f"[red]Error:[/] {exc}", highlight=False, soft_wrap=True)
    except KiteException as exc:
        err.print(
            f"[red]Kite answered {type(exc).__name__} (HTTP {exc.code}):[/] {exc}", highlight=False, soft_wrap=True
        )
    except requests.RequestException as exc:
        err.print(f"[red]Network error talking to Kite:[/] {type(exc).__name__}. Check the connection and retry.")
    except (typer.Abort, KeyboardInterrupt):
        err.print("Aborted.")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: typer shows them the way click would
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        return int(getattr(exc, "exit_code", 2))
    return 1


def main() -> None:
    """Console-script entry point of ``kitekit``."""
    sys.exit(run(sys.argv[1:]))
