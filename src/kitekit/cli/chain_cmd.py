"""``kitekit chain NIFTY``: the option chain as traders read it: LTP, OI and its change, build-up, IV, greeks."""

import math
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from kitekit.cli import options
from kitekit.cli.context import CliContext
from kitekit.cli.fit import ALWAYS, Col, FitTable
from kitekit.cli.money import group_indian

if TYPE_CHECKING:
    from kitekit.options import ChainAnalytics
    from kitekit.options.history import IVHistory

__all__ = ["chain", "chain_table", "iv_percentile_line", "summary_lines"]


def chain(
    ctx: typer.Context,
    underlying: Annotated[str, typer.Argument(help="NIFTY, BANKNIFTY, FINNIFTY, RELIANCE…")],
    expiry: Annotated[
        str | None, typer.Option(help="yyyy-mm-dd (default: the nearest expiry not yet past 15:30 IST).")
    ] = None,
    greeks: Annotated[
        bool, typer.Option("--greeks", help="Add delta, gamma, theta (a day) and vega (per 1%).")
    ] = False,
    strikes: Annotated[
        int, typer.Option(help="Strikes shown each side of the spot (0: all).", callback=options.at_least(0))
    ] = 10,
    rate: Annotated[float, typer.Option(help="Risk-free rate in percent.", callback=options.non_negative)] = 6.5,
    oi_change: Annotated[
        bool,
        typer.Option(
            "--oi-change/--no-oi-change",
            help="Change in OI and build-up, from the previous session's day candles (stored: one fetch a day).",
        ),
    ] = True,
    iv_history: Annotated[
        int | None,
        typer.Option(
            "--iv-history",
            metavar="DAYS",
            help="Rank the ATM IV against its daily closes over DAYS days (day candles of the ATM strikes and "
            "the future: fetched once each, then kept).",
            callback=options.at_least(1),
        ),
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh every --every seconds until Ctrl-C.")] = False,
    every: Annotated[float, typer.Option(help="Seconds between refreshes.", callback=options.finite_positive)] = 5.0,
    count: Annotated[
        int | None, typer.Option(help="With --watch: stop after this many refreshes.", callback=options.at_least(1))
    ] = None,
) -> None:
    """Show an option chain with IV, greeks, OI change and build-up; PCR, max pain and ATM IV above it.

    IV and greeks are Black-76 to 15:30 IST on the expiry day.
    The forward is the same-expiry future, else put-call parity at the money.
    """
    from kitekit.chain import chain as analyse
    from kitekit.chain import live_expiry

    cli: CliContext = ctx.obj
    # IV, greeks and OI build-up are read from Kite's quotes and candles; `instruments chain` runs on any broker.
    cli.require_kite("The chain analytics (kitekit chain; `kitekit instruments chain` works on any broker)", "data")
    if (count is not None or every != 5.0) and not watch:
        raise typer.BadParameter("--every and --count only apply with --watch", param_hint="--watch")
    store = cli.store().load()
    data = cli.market_data()
    clock = cli.clock
    day = expiry
    if day is None:
        day = live_expiry(store, underlying, clock.now()).isoformat()
    previous = _previous_oi(cli, underlying, day, strikes) if oi_change else None
    past = _iv_history(cli, underlying, day, iv_history, rate / 100.0) if iv_history else None
    shown = 0
    while True:
        try:
            result = analyse(
                store, data, underlying, day, clock=clock, rate=rate / 100.0, previous_oi=previous,
                strikes=strikes or None,
            )  # fmt: skip
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--expiry") from None
        if watch:
            cli.console.clear()
        for line in summary_lines(result):
            cli.console.print(line, highlight=False)
        if iv_history:
            cli.console.print(iv_percentile_line(result, past, iv_history), highlight=False)
        cli.console.print(chain_table(result, greeks))
        for line in notes(result):
            cli.err.print(line, highlight=False)
        shown += 1
        if not watch or (count is not None and shown >= count):
            return
        time.sleep(every)  # the quote endpoint allows one call a second; --every is at least that apart in practice


def _previous_oi(cli: CliContext, underlying: str, day: str, strikes: int) -> dict[int, float] | None:
    """Return the previous session's OI of the contracts shown, from day candles; None (with a note) if it fails."""
    import numpy as np
    from kiteconnect.exceptions import KiteException

    from kitekit.chain import previous_oi
    from kitekit.errors import KitekitError
    from kitekit.history import CandleStore, History

    store = cli.store()
    table = store.option_chain(underlying, day)
    strike = table["strike"].to_numpy(dtype=np.float64)
    if strikes:
        # Around the spot as the chain will be cut; one quote for it is cheap next to the candles.
        try:
            spot = float(cli.market_data().ltp(store.key(underlying))[store.key(underlying)]["last_price"])
            centre = int(np.argmin(np.abs(strike - spot)))
            table = table.iloc[max(centre - strikes, 0) : centre + strikes + 1]
        except (KitekitError, KiteException, KeyError):
            pass
    tokens = [int(t) for side in ("ce_token", "pe_token") for t in table[side].dropna()]
    history = History(cli.kite(), store, CandleStore(cli.data_dir / "candles.duckdb"), clock=cli.clock)
    try:
        return previous_oi(history, tokens, cli.clock.now().date())
    except (KitekitError, KiteException) as exc:
        cli.err.print(f"No change in OI: the previous session's OI could not be fetched ({exc}).", highlight=False)
        return None


def _iv_history(cli: CliContext, underlying: str, day: str, days: int, rate: float) -> "IVHistory | None":
    """Return the ATM IV's daily history up to the previous session (all closed: one fetch each, ever)."""
    from kiteconnect.exceptions import KiteException

    from kitekit.errors import KitekitError
    from kitekit.history import CandleStore, History
    from kitekit.iv_history import iv_history

    store = cli.store()
    history = History(cli.kite(), store, CandleStore(cli.data_dir / "candles.duckdb"), clock=cli.clock)
    yesterday = cli.clock.now().date() - timedelta(days=1)
    try:
        return iv_history(history, underlying, day, days=days, end=yesterday, rate=rate)
    except (KitekitError, KiteException) as exc:
        cli.err.print(f"No IV history: the day candles could not be fetched ({exc}).", highlight=False)
        return None


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def iv_percentile_line(result: "ChainAnalytics", past: "IVHistory | None", days: int) -> str:
    """Return the line that ranks the chain's ATM IV against its history ("… 62nd percentile over 60 days …")."""
    import numpy as np

    if past is None:
        return "ATM IV history: not available"
    if not math.isfinite(result.atm_iv):
        return "ATM IV —: nothing to rank against its history"
    if past.sessions < 2:
        return f"ATM IV {_pct(result.atm_iv)}: too little history to rank ({past.sessions} sessions)"
    first = past.days[int(np.flatnonzero(np.isfinite(past.iv))[0])]
    low, high = np.nanmin(past.iv), np.nanmax(past.iv)
    return (
        f"ATM IV {_pct(result.atm_iv)} — {_ordinal(round(past.percentile(result.atm_iv)))} percentile over "
        f"{days} days ({past.sessions} sessions since {first}; range {_pct(low)}–{_pct(high)})"
    )


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%" if math.isfinite(value) else ""


def _num(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}" if math.isfinite(value) else ""


def _count(value: float) -> str:
    return group_indian(int(value)) if math.isfinite(value) else ""


def _change(value: float) -> Text:
    if not math.isfinite(value):
        return Text("")
    text = ("+" if value > 0 else "-" if value < 0 else "") + group_indian(abs(int(value)))
    return Text(text, style="green" if value > 0 else "red" if value < 0 else "")


def _until(result: "ChainAnalytics") -> str:
    if result.expired:
        return "expired at 15:30 IST"
    minutes = int(result.tau * 365 * 24 * 60)
    days, rest = divmod(minutes, 24 * 60)
    return f"{days}d {rest // 60}h {rest % 60}m to expiry" if days else f"{rest // 60}h {rest % 60}m to expiry"


def summary_lines(result: "ChainAnalytics") -> list[str]:
    """Return the lines above the table: forward, ATM strike and IV, PCR, max pain, time to expiry."""
    lot = f" (lot {result.lot_size})" if result.lot_size else ""
    source = f" ({result.forward_source})" if result.forward_source else ""
    return [
        f"{result.underlying} options expiring {result.expiry}{lot}, {_until(result)}, "
        f"at {result.now:%Y-%m-%d %H:%M} IST",
        f"forward {_num(result.forward)}{source}   ATM {result.atm_strike:g} IV {_pct(result.atm_iv) or '—'}   "
        f"PCR {_num(result.pcr_oi)} (OI) {_num(result.pcr_volume)} (volume)   max pain {result.max_pain:g}",
    ]


def notes(result: "ChainAnalytics") -> list[str]:
    """Return what the table leaves blank and why (untraded contracts, prices outside no-arbitrage bounds)."""
    from kitekit.options import REASONS, NoIV

    out = []
    if result.expired:
        out.append("The options have expired (15:30 IST on the expiry day): IV and greeks are blank.")
    reasons = [result.columns[f"{s}_iv_reason"][result.columns[f"{s}_token"] >= 0] for s in ("ce", "pe")]
    for code in (NoIV.NO_PRICE, NoIV.BELOW_INTRINSIC, NoIV.ABOVE_MAXIMUM, NoIV.BAD_INPUT):
        n = int(sum((r == code).sum() for r in reasons))
        if n:
            out.append(f"No IV for {n} contract{'s' if n > 1 else ''}: {REASONS[code]}.")
    return out


def chain_table(result: "ChainAnalytics", with_greeks: bool = False) -> FitTable:
    """Return the chain as a table: calls on the left, the strike in the middle, puts on the right."""
    cols = result.columns

    def val(column: str, i: int) -> float:
        return float(cols[column][i])

    def side(name: str, label: str) -> list[tuple[Col, Any]]:
        parts: list[tuple[Col, Any]] = [
            (Col(f"{label} OI", whole=True, keep=5, justify="right"), lambda i: _count(val(f"{name}_oi", i))),
            (Col(f"{label} ΔOI", whole=True, keep=4, justify="right"), lambda i: _change(val(f"{name}_oi_change", i))),
            (Col(f"{label} build-up", keep=1), lambda i: str(cols[f"{name}_buildup"][i])),
            (Col(f"{label} IV", whole=True, keep=8, justify="right"), lambda i: _pct(val(f"{name}_iv", i))),
        ]
        if with_greeks:
            parts += [
                (Col(f"{label} Δ", whole=True, keep=7, justify="right"), lambda i: _num(val(f"{name}_delta", i), 3)),
                (Col(f"{label} Γ", whole=True, keep=2, justify="right"), lambda i: _num(val(f"{name}_gamma", i), 5)),
                (Col(f"{label} Θ", whole=True, keep=6, justify="right"), lambda i: _num(val(f"{name}_theta", i))),
                (Col(f"{label} vega", whole=True, keep=3, justify="right"), lambda i: _num(val(f"{name}_vega", i))),
            ]
        parts.append(
            (Col(f"{label} LTP", whole=True, keep=ALWAYS, justify="right"), lambda i: _ltp(val(f"{name}_ltp", i)))
        )
        return parts

    calls = side("ce", "CE")
    puts = list(reversed(side("pe", "PE")))
    middle: list[tuple[Col, Any]] = [
        (Col("strike", whole=True, keep=ALWAYS, justify="right"), lambda i: f"{result.strikes[i]:g}")
    ]
    parts = calls + middle + puts
    table = FitTable(*(c for c, _ in parts), title=f"{result.underlying} {result.expiry}")
    for i in range(result.strikes.size):
        atm = result.strikes[i] == result.atm_strike
        cells = [cell(i) for _, cell in parts]
        table.add_row(*(Text(c.plain if isinstance(c, Text) else c, style="bold") if atm else c for c in cells))
    return table


def _ltp(value: float) -> str:
    # Kite quotes 0 for a contract that has never traded: that is no price, not a price of zero.
    return f"{value:,.2f}" if math.isfinite(value) and value > 0 else "—"
