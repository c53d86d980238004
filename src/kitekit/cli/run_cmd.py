"""``kitekit run STRATEGY.py`` (backtest, paper, live, a parameter grid), ``kitekit kill``, ``report`` and ``runs``.

Paper is the default; ``--live`` sends real orders (on the simulator's account with ``--sim``) after a
confirmation, unless ``--yes``. The broker is a choice (``--broker upstox``, ``--data angel --orders kite``):
see :mod:`kitekit.cli.run_brokers`; Kite alone runs as it always has. A live or paper run shows its status as it
goes and stops cleanly on Ctrl-C: its open orders are cancelled, its positions kept (``--flatten-on-exit`` closes
them too), its report written.
"""

import contextlib
import json
import webbrowser
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kitekit.cli import failures, options
from kitekit.cli.context import CliContext

if TYPE_CHECKING:
    from kitekit.cli.run_brokers import RunBrokers
    from kitekit.runner import RunFolder, RunResult, Strategy

__all__ = ["kill", "report", "run", "runs"]


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{item!r} is not name=value", param_hint=what)
        out[name.strip()] = value.strip()
    return out


def _load(path: Path, params: dict[str, str]) -> "Strategy":
    """Load the strategy file: a file without a strategy or a wrong parameter is a wrong argument (exit code 2)."""
    from kitekit.errors import RunError
    from kitekit.runner import load_strategy

    try:
        return load_strategy(path, params)
    except RunError as exc:
        hint = "--param" if "parameter" in str(exc) else "STRATEGY"
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def _moment(text: str | None, flag: str, end: bool = False) -> datetime | None:
    """Return ``--from``/``--to``: a date is its whole day (from 00:00, or to 23:59:59), an instant itself."""
    if text is None:
        return None
    from kitekit.clock import IST

    try:
        moment = options.parse_instant(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=flag) from None
    if len(text.strip()) == 10:
        day = moment.date()
        return (
            datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=IST)
            if end
            else datetime(day.year, day.month, day.day, tzinfo=IST)
        )
    return moment


def _span(text: str | None) -> timedelta | None:
    if text is None:
        return None
    from kitekit.runner.timers import parse_every

    try:
        return parse_every(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--for") from None


def run(
    ctx: typer.Context,
    strategy: Annotated[Path, typer.Argument(help="The strategy file (a Strategy subclass, or on_bar functions).")],
    axes: Annotated[list[str] | None, typer.Argument(help="More grid axes after --grid, e.g. slow=50,100.")] = None,
    backtest: Annotated[bool, typer.Option("--backtest", help="Run over past candles (or --ticks).")] = False,
    paper: Annotated[bool, typer.Option("--paper", help="Run on the live market with the paper broker.")] = False,
    live: Annotated[bool, typer.Option("--live", help="Run on the live market with REAL orders.")] = False,
    start: Annotated[str | None, typer.Option("--from", help="Backtest from this date or instant (IST).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Backtest to this date (its whole day) or instant.")] = None,
    interval: Annotated[str | None, typer.Option(help="Bar interval (default: the strategy's).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="A parameter: name=value.")] = None,
    symbols: Annotated[str | None, typer.Option(help="Instruments, comma-separated (default: the strategy's).")] = None,
    ticks: Annotated[Path | None, typer.Option(help="Backtest on this tick recording (`kitekit record`).")] = None,
    grid: Annotated[list[str] | None, typer.Option(help="A parameter grid axis: name=v1,v2,… (backtests).")] = None,
    rank_by: Annotated[str, typer.Option(help="The statistic a grid is ranked by.")] = "sharpe",
    workers: Annotated[
        int | None, typer.Option(help="Grid processes (default: the CPUs).", callback=options.at_least(1))
    ] = None,
    capital: Annotated[
        float, typer.Option(help="Starting capital, ₹ (a new paper account's funds).", callback=options.finite_positive)
    ] = 1_000_000.0,
    risk: Annotated[list[str] | None, typer.Option(help="A risk limit: name=value (e.g. max_daily_loss=5000).")] = None,
    name: Annotated[str | None, typer.Option(help="The run's name (its folder; paper and live go on from it).")] = None,
    duration: Annotated[str | None, typer.Option("--for", help="Paper/live: stop after this long, e.g. 30m.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --live: start without asking.")] = False,
    status: Annotated[bool, typer.Option("--status/--no-status", help="Show the live status.")] = True,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Write the HTML report.")] = True,
    open_report: Annotated[bool, typer.Option("--open", help="Open the HTML report when the run ends.")] = False,
    flatten_on_exit: Annotated[
        bool, typer.Option("--flatten-on-exit", help="Paper/live: close the run's positions when it stops.")
    ] = False,
    kill_file: Annotated[list[Path] | None, typer.Option(help="Another kill flag file to watch.")] = None,
) -> None:
    """Run a strategy file: --backtest, --paper (the default) or --live; --grid runs backtests in parallel."""
    cli: CliContext = ctx.obj
    modes = [flag for flag, on in (("--backtest", backtest), ("--paper", paper), ("--live", live)) if on]
    if len(modes) > 1:
        raise typer.BadParameter(f"{' and '.join(modes)} contradict each other: choose one mode")
    if ticks is not None or grid:
        backtest = backtest or not (paper or live)
        if paper or live:
            raise typer.BadParameter("--ticks and --grid are for backtests; drop --paper/--live")
    if yes and not live:
        raise typer.BadParameter(
            "--yes skips the confirmation of a --live run; it does nothing here", param_hint="--yes"
        )
    if axes and not grid:
        raise typer.BadParameter(f"unexpected argument(s): {' '.join(axes)} (grid axes go after --grid)")
    if backtest and (duration or flatten_on_exit):
        raise typer.BadParameter("--for and --flatten-on-exit are for paper and live runs")
    given = _pairs(param, "--param")
    from kitekit.runner import RiskLimits, parse_limits

    try:
        limits = parse_limits(_pairs(risk, "--risk"), RiskLimits())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--risk") from None
    keys = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    span = _span(duration)
    from kitekit.cli.run_brokers import RunBrokers, choice_of

    choice = choice_of(cli)
    if ticks is not None:
        from kitekit.runner.drivers import recording_of

        recording_of(ticks, choice.data)  # another broker's recording fails here, before any broker is opened
    brokers = None if choice.names == ("kite",) else RunBrokers(cli, choice)
    try:
        if backtest:
            frm, to = _moment(start, "--from"), _moment(end, "--to", end=True)
            if frm is not None and to is not None and to < frm:
                raise typer.BadParameter("--to is before --from")
            if grid:
                _grid(cli, strategy, [*grid, *(axes or [])], given, frm, to, interval, keys, capital, limits, rank_by,
                      workers, brokers)  # fmt: skip
                return
            loaded = _load(strategy, given)
            result = _backtest(cli, strategy, loaded, frm, to, interval, keys, ticks, capital, limits, name, html,
                               brokers)  # fmt: skip
        else:
            if start or end:
                raise typer.BadParameter("--from and --to are for backtests (--backtest)")
            loaded = _load(strategy, given)
            result = _trade(cli, strategy, loaded, live, yes, interval, keys, capital, limits, name, span, status,
                            html, flatten_on_exit, kill_file or [], brokers)  # fmt: skip
    finally:
        if brokers is not None:
            brokers.close()
    _summary(cli, result)
    if open_report and result.report is not None and result.report.html.exists():
        webbrowser.open(result.report.html.as_uri())
    if result.reason.startswith(("interrupted", "terminated")):
        raise typer.Exit(failures.INTERRUPTED)


def _store_and_history(cli: CliContext, brokers: "RunBrokers | None" = None) -> tuple[Any, Any]:
    """Return the run's instruments and candles: Kite's store and candle store, or the chosen brokers' (neutral)."""
    if brokers is not None:
        from kitekit.runner.brokered import RunInstruments

        pair = brokers.pair()
        return RunInstruments(pair.instruments()), pair.history()
    from kitekit.history import CandleStore, History

    store = cli.store().load()
    return store, History(cli.kite(), store, CandleStore(cli.data_dir / "candles.duckdb"), clock=cli.clock)


def _on(brokers: "RunBrokers | None") -> str:
    return f" on {brokers.label()}" if brokers is not None else ""


def _backtest(
    cli: CliContext, path: Path, strategy: "Strategy", frm: datetime | None, to: datetime | None,
    interval: str | None, keys: list[str] | None, ticks: Path | None, capital: float, limits: Any, name: str | None,
    html: bool, brokers: "RunBrokers | None" = None,
) -> "RunResult":  # fmt: skip
    from kitekit.runner import backtest, runs_root

    if ticks is None and frm is None:
        raise typer.BadParameter("a backtest on candles needs --from (and --to, or up to now)", param_hint="--from")
    store, history = _store_and_history(cli, brokers)
    if to is None and ticks is None:
        to = cli.clock.now()
    cli.err.print(f"[bold]BACKTEST[/] {path.name}{_on(brokers)} — simulated clock, fills by kitekit's engine; "
                  "nothing is sent.")  # fmt: skip
    return backtest(
        strategy, instruments=store, history=history, ticks=ticks, start=frm, end=to, interval=interval,
        symbols=keys, capital=capital, limits=limits, name=name, root=runs_root(cli.data_dir), source=str(path),
        html=html, brokers=brokers.pair() if brokers is not None else None,  # whose feed --ticks must be
    )  # fmt: skip


def _trade(
    cli: CliContext, path: Path, strategy: "Strategy", live: bool, yes: bool, interval: str | None,
    keys: list[str] | None, capital: float, limits: Any, name: str | None, span: timedelta | None, status: bool,
    html: bool, flatten: bool, kill_files: list[Path], brokers: "RunBrokers | None" = None,
) -> "RunResult":  # fmt: skip
    from kitekit.runner import trade

    store, history = _store_and_history(cli, brokers)
    kite = cli.kite() if brokers is None else None
    label = "Kite" if brokers is None else brokers.label()
    if live:
        where = "the simulator's account (LIVE mode)" if cli.sim else f"your {label} account (REAL MONEY)"
        cli.err.print(f"[bold red]LIVE[/] {path.name} sends orders to {where}.")
        _confirm_live(cli, yes, path, strategy, keys, limits)
    else:
        cli.err.print(
            f"[bold yellow]PAPER[/] {path.name}{_on(brokers)} — kitekit's local matching engine at "
            f"{'simulated' if cli.sim else 'live ' + label} prices; nothing reaches the exchange."
        )
    from kitekit.cli.run_view import LiveStatus

    view = LiveStatus(cli.console)
    with view:
        return trade(
            strategy, kite=kite, instruments=store, brokers=brokers.pair() if brokers is not None else None,
            live=live, symbols=keys, interval=interval, capital=capital,
            limits=limits, name=name, data=cli.data_dir, source=str(path), history=history, clock=cli.clock,
            duration=span, status=view if status else None, kill_files=kill_files, flatten_on_stop=flatten,
            html=html,
        )  # fmt: skip


def _confirm_live(cli: CliContext, yes: bool, path: Path, strategy: "Strategy", keys: list[str] | None,
                  limits: Any) -> None:  # fmt: skip
    if yes:
        return
    from rich.prompt import Confirm

    shown = ", ".join(keys or list(strategy.symbols))
    limits_text = ", ".join(f"{k}={v}" for k, v in limits.to_json().items() if v is not None)
    cli.console.print(f"Strategy {path} on {shown}; risk limits: {limits_text}")
    try:
        answer = Confirm.ask("Start it with real orders?", console=cli.console, default=False)
    except EOFError:
        cli.console.print()
        cli.console.print("Nothing was started: the input ended before an answer (give --yes to start without asking).")
        raise typer.Exit(failures.FAILED) from None
    if not answer:
        cli.console.print("Nothing was started.")
        raise typer.Exit(failures.FAILED)


def _summary(cli: CliContext, result: "RunResult") -> None:
    from kitekit.cli.run_view import stats_table

    cli.console.print(stats_table(result.stats, title=f"{result.name} ({result.mode}): {result.reason}"))
    if result.report is not None:
        where = result.report.html if result.report.html.exists() else result.folder.path
        cli.console.print(f"Report: {where}", highlight=False, soft_wrap=True)


def _grid(
    cli: CliContext, path: Path, specs: list[str], given: dict[str, str], frm: datetime | None, to: datetime | None,
    interval: str | None, keys: list[str] | None, capital: float, limits: Any, metric: str, workers: int | None,
    brokers: "RunBrokers | None" = None,
) -> None:  # fmt: skip
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kitekit.cli.run_view import grid_table
    from kitekit.errors import RunError
    from kitekit.runner import StaticInstruments, parse_grid, rank, run_grid, runs_root
    from kitekit.runner.grid import GridJob, combinations
    from kitekit.runner.run import WARMUP, new_run_folder

    try:
        axes = parse_grid(specs)
    except RunError as exc:
        raise typer.BadParameter(str(exc), param_hint="--grid") from None
    overlap = set(axes) & set(given)
    if overlap:
        raise typer.BadParameter(f"{', '.join(sorted(overlap))} given both in --grid and --param")
    if frm is None:
        raise typer.BadParameter("a grid backtest needs --from", param_hint="--from")
    combos = [{**given, **combo} for combo in combinations(axes)]
    probe = _load(path, combos[0])  # every parameter name is checked before any process starts
    store, history = _store_and_history(cli, brokers)
    to = to or cli.clock.now()
    interval = interval or probe.interval
    wanted = keys or list(probe.symbols)
    resolved = [store.key(k) for k in wanted]
    frames = {k: history.candles(k, interval, frm - WARMUP, to) for k in resolved}
    folder = new_run_folder(runs_root(cli.data_dir), f"{path.stem}-grid-{frm:%Y%m%d}-{to:%Y%m%d}")
    folder.write_meta({"name": folder.name, "mode": "grid", "strategy": str(path), "grid": axes,
                       "status": "running", "started": cli.clock.now().isoformat()})  # fmt: skip
    instruments = StaticInstruments.of(store, resolved)
    jobs = [
        GridJob(path, combo, frames, instruments, frm, to, interval, capital, limits, folder.path) for combo in combos
    ]
    cli.err.print(f"[bold]GRID[/] {len(jobs)} backtests of {path.name} over {', '.join(resolved)}")
    progress = Progress(TextColumn("[bold]backtests"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=cli.err)  # fmt: skip
    task = progress.add_task("grid", total=len(jobs))
    with progress:
        results = run_grid(jobs, workers=workers, progress=lambda done, total: progress.update(task, completed=done))
    ranked = rank(results, metric)
    import pandas as pd

    from kitekit.runner.report import write_parquet

    write_parquet(pd.DataFrame(ranked), folder.file("grid.parquet"))
    folder.update_meta(status="finished", best=ranked[0] if ranked else None, finished=cli.clock.now().isoformat())
    cli.console.print(grid_table(ranked, list(axes), metric))
    cli.console.print(f"Results: {folder.file('grid.parquet')}", highlight=False, soft_wrap=True)


def kill(
    ctx: typer.Context,
    run_name: Annotated[
        str | None, typer.Argument(metavar="[RUN]", help="The run to kill (default: every run).")
    ] = None,
    flatten: Annotated[bool, typer.Option("--flatten", help="Also close the run's positions.")] = False,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the kill flag: the run may start again.")] = False,
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "",
) -> None:
    """Kill a running strategy (or all): no new orders, open ones cancelled, positions closed with --flatten."""
    from kitekit.runner import RunFolder, clear_kill, request_kill, runs_root

    cli: CliContext = ctx.obj
    root = runs_root(cli.data_dir)
    if clear and flatten:
        raise typer.BadParameter("--clear removes a kill flag; --flatten belongs to setting one")
    target = root / "KILL" if run_name is None else RunFolder(root / run_name).kill_flag
    if run_name is not None and not (root / run_name).is_dir():
        known = ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir())) if root.is_dir() else "none"
        raise typer.BadParameter(f"no run named {run_name!r}; runs: {known}", param_hint="RUN")
    if clear:
        removed = clear_kill([target])
        cli.console.print(f"Cleared {target}." if removed else f"No kill flag at {target}.", highlight=False)
        return
    request_kill(target, flatten=flatten, reason=reason or "kitekit kill", at=cli.wall.now().isoformat())
    what = f"run {run_name}" if run_name else "every run"
    cli.console.print(
        f"Kill flag set at {target}: {what} stops new orders at once, cancels its open ones"
        f"{' and closes its positions' if flatten else ''}. It stays killed until `kitekit kill "
        f"{run_name or ''} --clear`.".replace("  ", " "),
        highlight=False,
        soft_wrap=True,
    )


def _find(cli: CliContext, run_name: str) -> "RunFolder":
    from kitekit.runner import RunFolder, runs_root

    root = runs_root(cli.data_dir)
    folder = RunFolder(root / run_name)
    if not folder.exists():
        known = ", ".join(sorted(p.name for p in root.iterdir() if (p / "run.json").exists())) if root.is_dir() else ""
        raise typer.BadParameter(f"no run named {run_name!r}; runs: {known or 'none yet'}", param_hint="RUN")
    return folder


def report(
    ctx: typer.Context,
    run_name: Annotated[str, typer.Argument(metavar="RUN", help="The run (see `kitekit runs`).")],
    open_report: Annotated[bool, typer.Option("--open", help="Open its HTML report in the browser.")] = False,
    trades: Annotated[int, typer.Option(help="How many of its trades to list.", callback=options.at_least(0))] = 10,
) -> None:
    """Print a past run's statistics and last trades (and open its HTML report with --open)."""
    from rich.table import Table

    from kitekit.cli.run_view import stats_table
    from kitekit.runner import load_report

    cli: CliContext = ctx.obj
    folder = _find(cli, run_name)
    meta = folder.meta()
    try:
        found = load_report(folder.path)
    except FileNotFoundError:
        cli.console.print(f"Run {run_name} has no report yet (status: {meta.get('status', 'unknown')}).")
        raise typer.Exit(failures.FAILED) from None
    title = f"{run_name} ({meta.get('mode', '')}, {meta.get('status', '')}): {meta.get('strategy', '')}"
    cli.console.print(stats_table(found.stats, title=title))
    if trades and len(found.trades):
        table = Table(header_style="bold", box=None, pad_edge=False, title="last trades", title_justify="left")
        columns = ["time", "key", "side", "quantity", "average_price", "realised", "charges", "net"]
        for column in columns:
            table.add_column(column, justify="left" if column in ("time", "key", "side") else "right")
        for values in found.trades.tail(trades).to_dict("records"):
            table.add_row(*(f"{values[c]:,.2f}" if isinstance(values[c], float) else str(values[c]) for c in columns))
        cli.console.print(table)
    where = found.html if found.html.exists() else folder.path
    cli.console.print(f"Report: {where}", highlight=False, soft_wrap=True)
    if open_report and found.html.exists():
        webbrowser.open(found.html.as_uri())


def runs(ctx: typer.Context) -> None:
    """List the runs of this data dir: name, mode, strategy, start, how it ended, return, trades."""
    from kitekit.cli.run_view import runs_table
    from kitekit.runner import RunFolder, runs_root

    cli: CliContext = ctx.obj
    root = runs_root(cli.data_dir)
    rows = []
    if root.is_dir():
        for path in sorted(root.iterdir()):
            folder = RunFolder(path)
            if not folder.exists():
                continue
            meta = folder.meta()
            stats_path = folder.file("stats.json")
            if stats_path.is_file() and meta.get("total_return") is None:
                with contextlib.suppress(ValueError):
                    meta["total_return"] = json.loads(stats_path.read_text()).get("total_return")
            if folder.kill_flag.exists():
                meta["status"] = "killed"
            rows.append(meta)
    if not rows:
        cli.console.print(f"No runs yet in {root}. Start one: kitekit run STRATEGY.py --backtest --from DATE")
        return
    rows.sort(key=lambda r: str(r.get("started", "")))
    cli.console.print(runs_table(rows))
