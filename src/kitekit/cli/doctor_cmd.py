"""``kitekit doctor``: check this machine's kitekit setup, a line per check, green or with the fix."""

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from kitekit import paths
from kitekit.cli import failures
from kitekit.cli.context import CliContext
from kitekit.doctor import Finding, Status
from kitekit.errors import ConfigError

if TYPE_CHECKING:
    from kitekit.config import Settings

log = logging.getLogger("kitekit.cli")

#: How each status is shown: its mark and style.
MARKS: dict[Status, tuple[str, str]] = {
    Status.OK: ("✓", "green"),
    Status.INFO: ("i", "cyan"),
    Status.WARN: ("!", "yellow"),
    Status.FAIL: ("✗", "red"),
    Status.SKIP: ("–", "dim"),
}


def doctor(ctx: typer.Context) -> None:
    """Check credentials, config files, the session, the clock, caches, folders and Kite's static-IP rule.

    Each check prints a line: green, or what is wrong and the fix. Exits 0 when every line is green, 1 otherwise.
    """
    cli: CliContext = ctx.obj
    cli.require_kite("kitekit doctor's checks")
    found: list[Finding] = []
    for finding in _run(cli):
        found.append(finding)
        cli.console.print(line_of(finding))
    bad = [f for f in found if not f.status.green]
    if not bad:
        cli.console.print("[green]All green.[/]")
        return
    checks = ", ".join(f.check for f in bad if f.status is not Status.SKIP)
    cli.console.print(f"[bold]{len(bad)} of {len(found)} checks need attention[/] ({checks}): see the fixes above.")
    raise typer.Exit(failures.FAILED)


def line_of(finding: Finding) -> Table:
    """Return one check as a grid row: its mark, its name, what it found and (below) the fix."""
    mark, style = MARKS[finding.status]
    body = Text(finding.detail)
    if finding.fix:
        body.append("\n→ " + finding.fix, style="bold" if not finding.status.green else "")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, width=1)
    grid.add_column(no_wrap=True, width=12)
    grid.add_column(overflow="fold")
    grid.add_row(Text(mark, style=style), Text(finding.check, style=style), body)
    return grid


def _run(cli: CliContext) -> Iterator[Finding]:
    """Yield each check's finding in order; a check that cannot run says why instead of stopping the others."""
    from kitekit.config import find_config_file, load_settings
    from kitekit.doctor import local, remote
    from kitekit.rest.client import pacer_path

    settings: Settings | None = None
    try:
        # On a simulator this starts the embedded one (or finds the one at --sim-url); on Kite it reads credentials.
        settings = cli.settings() if cli.sim else load_settings(config_file=cli.config_file)
        yield _target(cli, settings)
    except Exception as exc:  # whatever stops the settings is this check's finding
        yield Finding.fail(
            "target", _plain(failures.describe(exc).message), "fix what the line says, then run it again"
        )

    def credentials() -> Finding:
        if cli.sim:
            return Finding.ok("credentials", "the simulator's own, documented ones (real ones never go to a simulator)")
        if settings is None:
            return Finding.fail("credentials", "the configuration could not be read (above)", "fix it as said above")
        return local.credentials(settings, paths.config_dir() / "config.json")

    yield _guarded("credentials", credentials)

    def config_files() -> Finding:
        try:
            config = find_config_file(cli.config_file)
        except ConfigError as exc:
            return Finding.fail("config file", str(exc), "point --config or KITE_CONFIG at an existing JSON file")
        dotenv = Path.cwd() / ".env"
        present = [p for p in (config, dotenv) if p is not None and p.is_file()]
        looked = (
            [cli.config_file] if cli.config_file else [Path.cwd() / "config.json", paths.config_dir() / "config.json"]
        )
        return local.config_files(present, looked)

    yield _guarded("config file", config_files)

    def session() -> Finding:
        if settings is None or not settings.api_key:
            return Finding("session", Status.SKIP, "not checked: no api_key")
        store = cli.session_store()
        return remote.session(
            store,
            settings.api_key,
            cli.clock.now(),
            lambda: cli.manager().get_kite(verify=True),
            cli.login_hint,
        )

    yield _guarded("session", session)

    def clock() -> Finding:
        if settings is None:
            return Finding("clock", Status.SKIP, "not checked: no server to compare with")
        if cli.sim:
            return remote.clock_offset(remote.simulator_time(settings.root, cli.clock), on_simulator=True)
        import requests

        try:
            told = remote.kite_date(settings.root, cli.wall)
        except requests.RequestException as exc:
            return Finding.fail(
                "clock",
                f"Kite could not be reached at {settings.root} ({type(exc).__name__})",
                "check the network (a proxy, a firewall) and KITE_ROOT; every Kite call needs it",
            )
        if told is None:
            return Finding.warn(
                "clock", f"{settings.root} sent no Date header to compare with", "check KITE_ROOT: is it Kite?"
            )
        return remote.clock_offset(told, on_simulator=False)

    yield _guarded("clock", clock)

    prefix = "kitekit --sim" if cli.sim else "kitekit"
    yield _guarded(
        "instruments",
        lambda: local.instruments_cache(cli.instruments_dir, cli.clock.now(), f"{prefix} instruments sync"),
    )
    yield _guarded("pacer", lambda: local.pacer_database(pacer_path()))
    yield _guarded("data folders", lambda: local.private_dirs(_folders(cli)))

    def static_ip() -> Finding:
        if not cli.sim or settings is None:
            return remote.static_ip(on_simulator=cli.sim)
        info, _, _ = remote.simulator_info(settings.root, cli.clock)
        allowed = info.get("allowed_ips")
        return remote.static_ip(True, [str(a) for a in allowed] if isinstance(allowed, list) else None)

    yield _guarded("static IP", static_ip)


def _target(cli: CliContext, settings: "Settings") -> Finding:
    if not cli.sim:
        where = "" if settings.source_of("root") == "default" else f" (KITE_ROOT from {settings.source_of('root')})"
        return Finding.ok("target", f"live Kite at {settings.root}{where}: real money")
    if cli.sim_url:
        return Finding.ok("target", f"the simulator at {settings.root} (kitekit sim): everything is simulated")
    return Finding.ok(
        "target", f"the embedded simulator at {settings.root}, its world in {cli.data_dir}: everything is simulated"
    )


def _folders(cli: CliContext) -> list[Path]:
    """Return kitekit's folders, each once (a simulator's world inside the data folder is walked with it)."""
    folders = [paths.config_dir(), paths.base_data_dir(), paths.base_cache_dir(), cli.data_dir]
    resolved = [f.resolve() for f in folders]
    return [f for f in dict.fromkeys(resolved) if not any(o != f and f.is_relative_to(o) for o in resolved)]


def _guarded(check: str, step: Callable[[], Finding]) -> Finding:
    """Run one check; what it lets out becomes its finding (``-v`` logs the traceback)."""
    try:
        return step()
    except Exception as exc:  # a doctor reports what it meets, it does not stop at it
        log.info("The %s check failed", check, exc_info=True)
        why = _plain(failures.describe(exc).message)
        return Finding.fail(check, f"could not be checked: {why}", "run `kitekit -v doctor` for the details")


def _plain(message: str) -> str:
    """Return a failure's message without the rich markup the other commands print it with."""
    return Text.from_markup(message).plain
