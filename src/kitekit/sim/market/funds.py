"""The simulated fund universe: a few seeded schemes, their NAVs day by day, and Kite's MF instruments CSV (§12)."""

from __future__ import annotations

import csv
import io
import zlib
from dataclasses import dataclass
from datetime import date, datetime

from kitekit.clock import IST
from kitekit.markethours import TradingCalendar
from kitekit.sim.market.catalog import ANCHOR

__all__ = ["CSV_HEADER", "FUNDS", "FUNDS_BY_SYMBOL", "Fund", "instruments_csv", "nav", "nav_day"]

#: The MF instruments dump's header, exactly (docs/protocol.md §12).
CSV_HEADER = (
    "tradingsymbol,amc,name,purchase_allowed,redemption_allowed,minimum_purchase_amount,"
    "purchase_amount_multiplier,minimum_additional_purchase_amount,minimum_redemption_quantity,"
    "redemption_quantity_multiplier,dividend_type,scheme_type,plan,settlement_type,last_price,last_price_date"
)


@dataclass(frozen=True)
class Fund:
    """One scheme: its ISIN (the tradingsymbol), names, rules, and NAV path (level at the anchor, yearly drift)."""

    tradingsymbol: str
    name: str
    dividend_type: str
    scheme_type: str
    plan: str
    settlement_type: str
    nav0: float
    drift: float
    minimum_purchase_amount: float = 100.0
    minimum_additional_purchase_amount: float = 100.0
    amc: str = "KitekitSimulatedAMC_MF"


FUNDS: tuple[Fund, ...] = (
    Fund("INFKKS01A014", "Simulated Nifty 50 Index Fund - Direct Plan", "growth", "equity", "direct", "T2", 245.31,
         0.12),
    Fund("INFKKS02A012", "Simulated Flexi Cap Fund - Direct Plan", "growth", "equity", "direct", "T2", 78.12, 0.14),
    Fund("INFKKS03A010", "Simulated Flexi Cap Fund", "payout", "equity", "regular", "T2", 31.4, 0.13),
    Fund("INFKKS04A018", "Simulated Liquid Fund - Direct Plan", "growth", "liquid", "direct", "T1", 2931.77, 0.068,
         1000.0, 1000.0),
    Fund("INFKKS05A015", "Simulated Corporate Bond Fund - Direct Plan", "growth", "debt", "direct", "T1", 12.08, 0.075),
    Fund("INFKKS06A013", "Simulated ELSS Tax Saver Fund - Direct Plan", "growth", "equity", "direct", "T2", 96.5, 0.15,
         500.0, 500.0),
)  # fmt: skip
FUNDS_BY_SYMBOL = {f.tradingsymbol: f for f in FUNDS}


def nav(fund: Fund, day: date) -> float:
    """Return the fund's NAV on ``day``: its drift compounded from the anchor, with a seeded wobble of ±1%."""
    wobble = zlib.crc32(f"{fund.tradingsymbol}:{day.toordinal()}".encode()) / 2**32 * 0.02 - 0.01
    growth: float = (1 + fund.drift) ** ((day - ANCHOR).days / 365)
    return round(fund.nav0 * growth * (1 + wobble), 4)


def nav_day(cal: TradingCalendar, now: datetime) -> date:
    """Return the day of the latest NAV published at ``now`` (a trading day's NAV comes after its close)."""
    day = now.astimezone(IST).date()
    latest = cal.on_or_before(day)
    return latest if now >= cal.session_close(latest) else cal.previous(latest)


def instruments_csv(cal: TradingCalendar, now: datetime) -> bytes:
    """Return ``GET /mf/instruments``: the fund universe with the latest NAVs, as Kite's CSV."""
    day = nav_day(cal, now)
    out = io.StringIO()
    out.write(CSV_HEADER + "\n")
    writer = csv.writer(out, lineterminator="\n")
    for f in FUNDS:
        writer.writerow(
            [
                *(f.tradingsymbol, f.amc, f.name, 1, 1, f.minimum_purchase_amount, 1.0),
                *(f.minimum_additional_purchase_amount, 0.001, 0.001, f.dividend_type, f.scheme_type, f.plan),
                *(f.settlement_type, nav(f, day), day.isoformat()),
            ]
        )
    return out.getvalue().encode()
