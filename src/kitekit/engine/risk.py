"""The RMS checks: rejections that leave a REJECTED order with a ``status_message`` rather than an HTTP error.

Kite accepts the request, gives it an order id, and its risk system then rejects it: insufficient funds or
holdings, a price outside the day's circuit limits, a stop whose trigger the market has already crossed.
``error_type`` is what an autoslice child reports for the same failure (``docs/protocol.md`` §8.5). The
market rules themselves are :mod:`kitekit.wire.order_rules` (the client's pre-trade check runs them on a
quote at hand); this module keeps what Kite's RMS says for each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kitekit.engine.quote import MarketQuote
from kitekit.engine.spec import InstrumentSpec
from kitekit.wire import order_rules as r
from kitekit.wire.envelope import ErrorType, RejectionError
from kitekit.wire.order_rules import Facts, OrderRule, first_breach, scoped
from kitekit.wire.order_terms import OrderLimits, PlaceRequest, Quoted

__all__ = ["RMS_SAYS", "Rejection", "funds", "holdings", "market", "market_facts"]

# The market rules read no limit; one instance serves them all (a frozen dataclass costs a µs to build).
_NO_LIMITS = OrderLimits()


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


def _circuit(value: float, quote: Quoted, what: str) -> str:
    if value < quote.lower_circuit_limit:
        return (
            f"Your {what} is lower than the current lower circuit limit of {quote.lower_circuit_limit:g}. "
            "Place an order within the daily range."
        )
    return (
        f"Your {what} is higher than the current upper circuit limit of {quote.upper_circuit_limit:g}. "
        "Place an order within the daily range."
    )


def _stop_passed(req: PlaceRequest, quote: Quoted) -> str:
    if req.is_buy:
        return "Trigger price for stoploss buy orders should be higher than the last traded price."
    return "Trigger price for stoploss sell orders should be lower than the last traded price."


#: What Kite's RMS says for each market rule an order breaks (:data:`.order_rules.MARKET_RULES`, and
#: :data:`.order_rules.TRIGGER_RULES` when a stop triggers).
RMS_SAYS: Mapping[OrderRule, Callable[[PlaceRequest, Quoted], str]] = {
    r.price_circuit: lambda req, quote: _circuit(req.price, quote, "order price"),
    r.trigger_circuit: lambda req, quote: _circuit(req.trigger_price, quote, "trigger price"),
    # SIM: the exchange's words for a price outside its limit price protection band are not public (unconfirmed).
    r.price_band: lambda req, quote: (
        f"Your order price {req.price:g} is outside the exchange's limit price protection range. "
        "Place an order closer to the market price."
    ),
    r.stop_band: lambda req, quote: (
        f"Your stop-loss order's price {req.price:g} is outside the exchange's limit price protection range "
        "at its trigger. Place an order closer to the market price."
    ),
    r.stop_passed: _stop_passed,
    r.cover_stop_side: lambda req, quote: (
        f"Cover order stop-loss trigger price must be {'below' if req.is_buy else 'above'} the order price."
    ),
}


def market_facts(spec: InstrumentSpec, quote: MarketQuote) -> Facts:
    """Return what the market rules judge an order on ``spec`` against while ``quote`` is the market."""
    return Facts(spec, _NO_LIMITS, None, quote)


def market(
    rules: tuple[OrderRule, ...],
    req: PlaceRequest,
    spec: InstrumentSpec,
    quote: MarketQuote | None,
    facts: Facts | None = None,
) -> Rejection | None:
    """Reject an order that breaks one of ``rules`` against the quote at hand (none: nothing to judge).

    Only the rules that can break for the order's type and variety are run (:func:`~.order_rules.scoped`):
    the verdict is the same, and a LIMIT order in the cash market meets one rule rather than five.

    Args:
        rules: the market rules to judge by, in order.
        req: the order's terms.
        spec: its instrument.
        quote: the market at hand; None judges nothing.
        facts: :func:`market_facts` of ``spec`` and ``quote``, for a caller that keeps them while the quote
            stands (built here when not given).
    """
    if quote is None:
        return None
    rules = scoped(rules, req.order_type, req.variety, spec.exchange)
    if not rules:
        return None
    return judged(rules, req, quote, facts or market_facts(spec, quote))


def judged(rules: tuple[OrderRule, ...], req: PlaceRequest, quote: MarketQuote, facts: Facts) -> Rejection | None:
    """Reject an order that breaks one of ``rules`` (scoped to it already: see :func:`market`) against the quote
    at hand and :func:`market_facts` of it."""
    broken = first_breach(rules, req, facts)
    return None if broken is None else Rejection(ErrorType.ORDER, RMS_SAYS[broken](req, quote))
