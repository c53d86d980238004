"""Rendering the runner: a live run's compact status, a run's statistics, the list of runs, a grid's ranking."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from kitekit.cli.money import inr, pnl
from kitekit.clock import IST

if TYPE_CHECKING:
    from kitekit.runner import RunCore

__all__ = ["LiveStatus", "grid_table", "runs_table", "stats_table", "status_view"]

_STATE_STYLE = {"active": "green", "reducing": "yellow", "halted": "bold red", "killed": "bold red"}


def status_view(core: RunCore) -> Group:
    """Return a run's status: time, risk state, P&L, positions, open orders and the last events."""
    now = core.clock.now().astimezone(IST)
    state = str(core.guard.state)
    head = Text()
    head.append(f"{core.name}", style="bold")
    head.append(f"  {str(core.mode).upper()}", style="bold yellow" if str(core.mode) != "live" else "bold red")
    head.append(f"  {now:%Y-%m-%d %H:%M:%S} IST  risk ")
    head.append(state, style=_STATE_STYLE.get(state, ""))
    if core.guard.reason:
        head.append(f" ({core.guard.reason})", style="dim")
    money = Text("day ")
    money.append_text(pnl(core.day_pnl()))
    money.append("  total ")
    money.append_text(pnl(core.book.pnl))
    money.append(
        f"  realised {inr(core.book.realised)}  unrealised {inr(core.book.unrealised)}  charges "
        f"{inr(core.book.charges)}  orders today {core.guard.orders_today}"
    )
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for name, justify in (("position", "left"), ("product", "left"), ("qty", "right"), ("avg", "right"),
                          ("last", "right"), ("P&L", "right")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for lot in core.book.open_lots():
        table.add_row(
            lot.key, lot.product, f"{lot.quantity:,}", f"{lot.average:,.2f}", f"{lot.last:,.2f}",
            pnl(lot.realised + lot.unrealised - lot.charges),
        )  # fmt: skip
    if not core.book.open_lots():
        table.add_row(Text("flat", style="dim"), "", "", "", "", "")
    working = [t for t in core.working.values() if t.live]
    orders = Text(f"open orders: {len(working)}", style="dim")
    for item in working[:4]:
        orders.append(f"  {item.order_id} {'BUY' if item.is_buy else 'SELL'} {item.quantity} {item.key}")
    events = Text("\n".join(list(core.events)[-6:]), style="dim")
    return Group(head, money, table, orders, events)


class LiveStatus:
    """A run's status redrawn in place (a terminal), or a line per change of state (a pipe, a log)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._live: Live | None = None
        self._last = ""

    def __enter__(self) -> LiveStatus:
        if self.console.is_terminal:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def __call__(self, core: RunCore) -> None:
        """Show the run's status now."""
        if self._live is not None:
            self._live.update(status_view(core), refresh=True)
            return
        # Piped: only what changed, one line each, so a log stays readable.
        last = core.events[-1] if core.events else ""
        if last != self._last:
            self._last = last
            self.console.print(
                f"{core.name} {core.guard.state} day {inr(core.day_pnl(), sign=True)} · {last}", highlight=False
            )


def _fmt(name: str, value: Any) -> str:
    from kitekit.runner.html import format_stat

    return format_stat(name, value)


def stats_table(stats: Mapping[str, Any], title: str = "") -> Table:
    """Return a run's statistics as a two-column table."""
    from kitekit.runner.html import LABELS

    table = Table(title=title or None, show_header=False, box=None, pad_edge=False, title_justify="left")
    table.add_column("figure", style="dim")
    table.add_column("value", justify="right")
    for key, label in LABELS.items():
        if key in stats:
            text = _fmt(key, stats[key])
            style = ""
            if key in ("total_return", "net_pnl") and isinstance(stats[key], int | float):
                style = "green" if stats[key] > 0 else "red" if stats[key] < 0 else ""
            table.add_row(label, Text(text, style=style))
    return table


def runs_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """Return the list of runs: name, mode, strategy, when, how it ended, return, trades."""
    table = Table(header_style="bold", box=None, pad_edge=False)
    for name, justify in (("run", "left"), ("mode", "left"), ("strategy", "left"), ("started", "left"),
                          ("status", "left"), ("return", "right"), ("trades", "right")):  # fmt: skip
        table.add_column(name, justify=justify, no_wrap=name == "run")  # type: ignore[arg-type]
    for row in rows:
        total = row.get("total_return")
        ret = _fmt("total_return", total) if isinstance(total, int | float) else "–"
        status = str(row.get("status", ""))
        style = {"running": "yellow", "killed": "red", "halted": "red", "crashed": "red"}.get(status, "")
        table.add_row(
            str(row.get("name", "")), str(row.get("mode", "")), str(row.get("strategy", "")),
            str(row.get("started", ""))[:19].replace("T", " "), Text(status, style=style), ret,
            str(row.get("trades", "–") if row.get("trades") is not None else "–"),
        )  # fmt: skip
    return table


def grid_table(rows: Sequence[Mapping[str, Any]], params: Sequence[str], metric: str) -> Table:
    """Return a grid's results, ranked: the parameters, then the figures that matter most."""
    table = Table(header_style="bold", box=None, pad_edge=False, title=f"ranked by {metric}", title_justify="left")
    figures = ["total_return", "sharpe", "max_drawdown", "win_rate", "profit_factor", "round_trips", "charges"]
    if metric not in figures:
        figures.insert(0, metric)
    table.add_column("#", justify="right")
    for name in params:
        table.add_column(name, justify="right")
    for name in figures:
        table.add_column(name.replace("_", " "), justify="right")
    for row in rows:
        cells = [str(row.get("rank", ""))] + [str(row.get(p, "")) for p in params]
        for name in figures:
            value = row.get(name)
            cells.append(_fmt(name, value) if not (isinstance(value, float) and math.isnan(value)) else "–")
        table.add_row(*cells)
    return table
