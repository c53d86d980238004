"""``kitekit login``, ``logout``, ``status`` and ``profile``."""

import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from kitekit.cli import failures, options
from kitekit.cli.context import CliContext
from kitekit.clock import IST

if TYPE_CHECKING:
    from kitekit.brokers.session import SessionInfo
    from kitekit.session import SavedSession

#: ``login --if-needed`` renews a session with less than this left: a cron job that finds one about to die
#: (05:30, Kite's 06:00 flush) must not leave the day without a login.
RENEW_WITHIN = timedelta(hours=1)


def _until(later: datetime, now: datetime) -> str:
    seconds = int((later - now).total_seconds())
    if seconds <= 0:
        return "expired"
    hours, rest = divmod(seconds, 3600)
    return f"in {hours}h {rest // 60:02d}m"


def _describe(session: "SavedSession | SessionInfo", now: datetime) -> str:
    return (
        f"{session.user_id} ({session.user_name}), logged in {session.login_time.astimezone(IST):%Y-%m-%d %H:%M} "
        f"IST, expires {session.expires_at.astimezone(IST):%Y-%m-%d %H:%M} IST ({_until(session.expires_at, now)})"
    )


def login(
    ctx: typer.Context,
    paste: Annotated[
        str | None,
        typer.Option(
            "--paste",
            help="Paste the request_token or the whole redirect URL instead of catching the redirect "
            "(give '-' to be prompted).",
        ),
    ] = None,
    totp: Annotated[
        bool,
        typer.Option(
            "--totp",
            help="Log in unattended with KITE_USER_ID, KITE_PASSWORD and KITE_TOTP_SECRET (your choice and risk).",
        ),
    ] = False,
    if_needed: Annotated[
        bool,
        typer.Option(
            "--if-needed", help="Do nothing while the saved session is valid for another hour or more (for cron)."
        ),
    ] = False,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only print the login URL.")] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the redirect.", callback=options.finite_positive)
    ] = 300.0,
) -> None:
    """Log in and save the session (0600) until the broker ends it (Kite: 06:00 IST)."""
    cli: CliContext = ctx.obj
    for name in cli.brokers().names:
        if name != "kite":
            _login_neutral(cli, name, paste, totp, if_needed, no_browser, timeout)
    if "kite" in cli.brokers().names:
        _login_kite(cli, paste, totp, if_needed, no_browser, timeout)


def _login_neutral(
    cli: CliContext, name: str, paste: str | None, totp: bool, if_needed: bool, no_browser: bool, timeout: float
) -> None:
    """Log in to a broker other than Kite through its neutral session (the same flags, its own flows)."""
    broker = cli.broker(name)
    session, label = broker.session, broker.capabilities.label
    now = cli.clock.now()
    if if_needed:
        current = session.valid(for_at_least=RENEW_WITHIN)
        if current is not None:
            cli.console.print(f"{label} session still valid: {_describe(current, now)}. Nothing to do.")
            return
    if paste is not None:
        info = session.login_with_paste(_pasted(cli) if paste == "-" else paste)
    elif totp or cli.sim:
        # A simulator's credentials are public: its unattended login needs no browser.
        cli.online(name, login=False)  # on a simulator: its server started
        cli.err.print(f"Logging in to {label} unattended…")
        info = session.login_unattended()
    else:

        def show(url: str) -> None:
            cli.err.print(f"Open this URL to log in to {label}:")
            cli.console.print(url, soft_wrap=True, highlight=False)

        info = session.login_with_redirect(
            timeout=timeout, open_browser=None if no_browser else _open_browser, show_url=show
        )
    cli.console.print(f"[green]Logged in to {label}:[/] {_describe(info, now)}")


def _login_kite(
    cli: CliContext, paste: str | None, totp: bool, if_needed: bool, no_browser: bool, timeout: float
) -> None:
    manager = cli.manager()
    now = cli.clock.now()
    if if_needed:
        current = manager.valid(for_at_least=RENEW_WITHIN)
        if current is not None:
            cli.console.print(f"Session still valid: {_describe(current, now)}. Nothing to do.")
            return
        dying = manager.valid()
        if dying is not None:
            cli.err.print(
                f"The saved session expires at {dying.expires_at.astimezone(IST):%H:%M} IST "
                f"({_until(dying.expires_at, now)}), within the hour: logging in again."
            )
    # Every way of logging in ends by exchanging the request_token with the api_secret: without one, say so
    # now rather than after a browser login (or five minutes of waiting for its redirect).
    manager.settings.require("api_secret")
    if paste is not None:
        session = manager.login_with_paste(_pasted(cli) if paste == "-" else paste)
    elif totp or cli.sim:
        # The simulator's TOTP secret is public: its login needs no browser.
        cli.err.print("Logging in with password and TOTP…")
        session = manager.login_with_totp()
    else:

        def show(url: str) -> None:
            cli.err.print(f"Open this URL to log in (waiting for the redirect on {manager.settings.redirect_url}):")
            cli.console.print(url, soft_wrap=True, highlight=False)

        session = manager.login_with_redirect(
            timeout=timeout, open_browser=None if no_browser else _open_browser, show_url=show
        )
    cli.console.print(f"[green]Logged in:[/] {_describe(session, now)}")
    cli.console.print(f"Session saved to {manager.store.path}")


def _pasted(cli: CliContext) -> str:
    """Return the redirect URL or request_token typed (hidden) at a terminal, or read from piped input.

    Raises:
        typer.Exit: the input ended, or the line was empty (exit 1: nothing was pasted, not Ctrl-C's 130).
    """
    prompt = "Paste the redirect URL or request_token"
    try:
        if sys.stdin.isatty():
            import getpass

            text = getpass.getpass(f"{prompt}: ")
        else:
            # getpass cannot hide what a pipe sends, and says so with a Python warning: read the line instead.
            cli.err.print(f"{prompt}:", highlight=False)
            text = sys.stdin.readline()
    except EOFError:
        text = ""
    if not text.strip():
        cli.err.print("Nothing was pasted, so nothing was sent: run the login again and paste the URL.")
        raise typer.Exit(failures.FAILED)
    return text.strip()


def _open_browser(url: str) -> bool:
    import webbrowser

    return webbrowser.open(url) if sys.stdout.isatty() else False


def status(ctx: typer.Context) -> None:
    """Show the saved session: user, login time and when it expires."""
    cli: CliContext = ctx.obj
    for name in cli.brokers().names:
        if name != "kite":
            _status_neutral(cli, name)
    if "kite" in cli.brokers().names:
        _status_kite(cli)


def _status_neutral(cli: CliContext, name: str) -> None:
    """Show the saved session of a broker other than Kite; exit 3 unless it is valid."""
    broker = cli.broker(name)
    session, label = broker.session, broker.capabilities.label
    info, now = session.saved(), cli.clock.now()
    if info is None:
        cli.console.print(f"No saved {label} session. Log in with: {session.login_hint}")
        raise typer.Exit(failures.SESSION)
    state = f"dead ({label} rejected it)" if info.dead else "valid" if not info.expired(now) else "expired"
    if cli.sim and state == "valid":
        cli.online(name, login=False)  # its server, to ask
        if not _simulator_accepts(lambda: session.client(verify=True)):
            state = "dead (the simulator ended it)"
    table = Table(show_header=False, box=None)
    table.add_row("broker", label)
    table.add_row("user", f"{info.user_id} ({info.user_name})")
    table.add_row("logged in", f"{info.login_time.astimezone(IST):%Y-%m-%d %H:%M:%S} IST")
    table.add_row("expires", f"{info.expires_at.astimezone(IST):%Y-%m-%d %H:%M} IST ({_until(info.expires_at, now)})")
    table.add_row("state", state)
    cli.console.print(table)
    if state != "valid":
        cli.console.print(f"Log in again with: {session.login_hint}")
        raise typer.Exit(failures.SESSION)


def _status_kite(cli: CliContext) -> None:
    store = cli.session_store()
    session = store.load()
    api_key = cli.api_key()
    if session is not None and session.api_key != api_key:
        session = None
    now = cli.clock.now()
    if session is None:
        why = f"The session file is damaged ({store.damage})" if store.damage else "No saved session"
        cli.console.print(f"{why}. Log in with: {cli.login_hint}")
        raise typer.Exit(failures.SESSION)
    state = "dead (Kite rejected it)" if session.dead else "valid" if not session.is_expired(now) else "expired"
    if cli.sim and state == "valid" and not _simulator_accepts(lambda: cli.manager().get_kite(verify=True)):
        # A simulator ends sessions on its own (a reset, --fresh, a forced expiry, a new day): ask it.
        state = "dead (the simulator ended it)"
    table = Table(show_header=False, box=None)
    table.add_row("user", f"{session.user_id} ({session.user_name})")
    table.add_row("logged in", f"{session.login_time.astimezone(IST):%Y-%m-%d %H:%M:%S} IST")
    table.add_row(
        "expires",
        f"{session.expires_at.astimezone(IST):%Y-%m-%d %H:%M} IST ({_until(session.expires_at, now)})",
    )
    table.add_row("state", state)
    table.add_row("file", str(store.path))
    cli.console.print(table)
    if state != "valid":
        cli.console.print(f"Log in again with: {cli.login_hint}")
        raise typer.Exit(failures.SESSION)


def _simulator_accepts(verified_client: Callable[[], object]) -> bool:
    """Return whether the simulator still accepts the saved token: ``verified_client`` asks it (the broker's profile).

    The session manager marks the session dead when it is refused.
    """
    from kitekit.errors import NoSessionError, SessionExpiredError

    try:
        verified_client()
    except (NoSessionError, SessionExpiredError):
        return False
    return True


def logout(ctx: typer.Context) -> None:
    """Invalidate the session at the broker and delete the saved session file."""
    cli: CliContext = ctx.obj
    for name in cli.brokers().names:
        if name != "kite":
            broker = cli.broker(name)
            if cli.sim and broker.session.saved() is not None:
                cli.online(name, login=False)  # its server must answer the logout (of the saved session, not a new one)
            label = broker.capabilities.label
            if broker.session.logout():
                cli.console.print(f"Logged out of {label}; the saved session is gone.")
            else:
                cli.console.print(f"No saved {label} session; nothing to do.")
    if "kite" not in cli.brokers().names:
        return
    if cli.manager().logout():
        cli.console.print("Logged out; the saved session is gone.")
    else:
        cli.console.print("No saved session; nothing to do.")


def profile(ctx: typer.Context) -> None:
    """Print the logged-in user's profile (GET /user/profile)."""
    cli: CliContext = ctx.obj
    cli.require_kite("The profile command", "data")
    data = cli.kite().profile()
    table = Table(show_header=False, box=None)
    for key in ("user_id", "user_name", "email", "broker", "user_type"):
        table.add_row(key, str(data.get(key, "")))
    table.add_row("exchanges", ", ".join(data.get("exchanges", [])))
    table.add_row("products", ", ".join(data.get("products", [])))
    cli.console.print(table)
