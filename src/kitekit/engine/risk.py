"""The RMS checks: rejections that leave a REJECTED order with a ``status_message`` rather than an HTTP error.

Kite accepts the request, gives it an order id, and its risk system then rejects it: insufficient funds or
holdings, a price outside the day's circuit limits, a stop whose trigger the market has already crossed.
``error_type`` is what an autoslice child reports for the same failure (``docs/protocol.md`` §8.5).
"""

from __future__ import annotations

from dataclasses import dataclass

from kitekit.engine.quote import MarketQuote
from kitekit.wire.envelope import ErrorType, RejectionError

__all__ = ["Rejection", "circuit", "funds", "holdings", "stop_crossed"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why the RMS refused an order: the message users see, the raw OMS text, and the error type."""

    error_type: ErrorType
    message: str
    raw: str | None = None

    def error(self) -> RejectionError:
        """Return the same rejection as an error (for autoslice children and modifications).

        It is always a 400: the order's terms are refused, nothing failed on the exchange's side.
        """
        return RejectionError(self.error_type, self.message, 400)


def funds(required: float, available: float) -> Rejection | None:
    """Reject when the margin an order needs exceeds what is available (kiteconnect-mocks' wording)."""
    if required <= available + 1e-6:
        return None
    return Rejection(
        ErrorType.MARGIN,
        f"Insufficient funds. Required margin is {required:.2f} but available margin is {available:.2f}. "
        "Check the orderbook for open orders.",
        f"RMS:Margin Exceeds,Required:{required:.2f}, Available:{available:.2f} for entity account across "
        "exchange across segment across product ",
    )


def holdings(tradingsymbol: str, wanted: int, sellable: int) -> Rejection | None:
    """Reject a delivery sell of more than the holdings (settled + T1) not already sold or being sold."""
    if wanted <= sellable:
        return None
    return Rejection(
        ErrorType.HOLDING,
        f"Insufficient holdings. You can sell at most {max(sellable, 0)} of {tradingsymbol} from your holdings.",
        f"RMS:Holdings Exceeds,Required:{wanted}, Available:{max(sellable, 0)}",
    )


def circuit(price: float, quote: MarketQuote | None, what: str = "order price") -> Rejection | None:
    """Reject a price outside the day's circuit limits (limits of 0 are unknown and not checked)."""
    if quote is None or price <= 0:
        return None
    lower, upper = quote.lower_circuit_limit, quote.upper_circuit_limit
    if lower > 0 and price < lower - 1e-9:
        return Rejection(
            ErrorType.ORDER,
            f"Your {what} is lower than the current lower circuit limit of {lower:g}. "
            "Place an order within the daily range.",
        )
    if upper > 0 and price > upper + 1e-9:
        return Rejection(
            ErrorType.ORDER,
            f"Your {what} is higher than the current upper circuit limit of {upper:g}. "
            "Place an order within the daily range.",
        )
    return None


def stop_crossed(is_buy: bool, trigger_price: float, quote: MarketQuote | None) -> Rejection | None:
    """Reject a stop whose trigger the last price has already passed (it would fire at once)."""
    if quote is None:
        return None
    if is_buy and trigger_price <= quote.last_price:
        return Rejection(
            ErrorType.ORDER, "Trigger price for stoploss buy orders should be higher than the last traded price."
        )
    if not is_buy and trigger_price >= quote.last_price:
        return Rejection(
            ErrorType.ORDER, "Trigger price for stoploss sell orders should be lower than the last traded price."
        )
    return None
