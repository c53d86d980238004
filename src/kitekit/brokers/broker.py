"""A broker as the runner, the dashboard and the CLI see it, and the pair of a data broker and an order broker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kitekit.brokers.capabilities import BrokerCapabilities
from kitekit.brokers.feed import LiveFeed
from kitekit.brokers.instruments import BrokerInstruments
from kitekit.brokers.market import HistoryService, QuoteService
from kitekit.brokers.model import BrokerInstrument
from kitekit.brokers.orders import BrokerOrders
from kitekit.brokers.session import BrokerSession
from kitekit.errors import UnknownInstrumentError

if TYPE_CHECKING:
    from kitekit.clock import Clock
    from kitekit.history.store import CandleStore

__all__ = ["Broker", "BrokerPair"]


@runtime_checkable
class Broker(Protocol):
    """One broker behind the neutral interfaces; each part is built on first use and kept.

    ``native()`` is the broker's own client on the saved session, for what only it offers (Kite's GTTs and
    alerts, Upstox's multi-order): see :attr:`BrokerCapabilities.extras`.
    """

    @property
    def name(self) -> str:
        """Return the broker's name in configuration (``kite``, ``upstox``, ``angel``)."""
        ...

    @property
    def capabilities(self) -> BrokerCapabilities:
        """Return the broker's limits and features."""
        ...

    @property
    def session(self) -> BrokerSession:
        """Return the broker's session (login, the saved session, expiry)."""
        ...

    @property
    def clock(self) -> Clock:
        """Return the broker's time: the wall clock (IST) live, a simulator's market clock on one."""
        ...

    def instruments(self) -> BrokerInstruments:
        """Return the broker's instrument store."""
        ...

    def quotes(self) -> QuoteService:
        """Return batched, paced quotes on the saved session."""
        ...

    def history(self, store: CandleStore | None = None) -> HistoryService:
        """Return candles of any span on the saved session, kept in ``store`` when given."""
        ...

    def feed(self, **options: Any) -> LiveFeed:
        """Return a new live feed on the saved session (``options`` tune reconnects and the watchdog)."""
        ...

    def orders(
        self, *, paper: bool = True, folder: Path | None = None, quotes: QuoteService | None = None, **options: Any
    ) -> BrokerOrders:
        """Return the order gateway: paper unless ``paper=False`` is given explicitly.

        Args:
            paper: False to trade for real on this broker.
            folder: where the paper ledger or the live journal lives (default: the kitekit data dir).
            quotes: the quotes paper fills are priced by (default: this broker's; the mixed mode passes the data
                broker's).
            **options: passed to the gateway (pre-trade rules, funds, ...).
        """
        ...

    def native(self) -> Any:
        """Return the broker's own client on the saved session, for its extras."""
        ...


class BrokerPair:
    """Market data from one broker and orders on another, instruments matched by the neutral identity.

    Quotes, candles and the live feed come from ``data``; orders go to ``orders``, checked by the pre-trade
    rules with the order broker's facts (tick, lot, freeze, the products its segments take), and paper fills
    are priced by ``data``'s quotes. With one broker for both it is just that broker.

    Args:
        data: the broker market data comes from.
        orders: the broker orders go to.
    """

    def __init__(self, data: Broker, orders: Broker) -> None:
        self.data = data
        self.order_broker = orders

    @property
    def mixed(self) -> bool:
        """Return True when data and orders come from two brokers (or two accounts of one)."""
        return self.data is not self.order_broker

    def quotes(self) -> QuoteService:
        """Return the data broker's quotes."""
        return self.data.quotes()

    def history(self, store: CandleStore | None = None) -> HistoryService:
        """Return the data broker's candles."""
        return self.data.history(store)

    def feed(self, **options: Any) -> LiveFeed:
        """Return a live feed from the data broker."""
        return self.data.feed(**options)

    def instruments(self) -> BrokerInstruments:
        """Return the order broker's instruments: the facts orders are checked against."""
        return self.order_broker.instruments()

    def orders(self, *, paper: bool = True, folder: Path | None = None, **options: Any) -> BrokerOrders:
        """Return the order broker's gateway; on paper its fills are priced by the data broker's quotes."""
        quotes = self.data.quotes() if self.mixed else None
        return self.order_broker.orders(paper=paper, folder=folder, quotes=quotes, **options)

    def match(self, query: str | int) -> tuple[BrokerInstrument, BrokerInstrument]:
        """Return the data broker's and the order broker's listing of one instrument, met by its neutral identity.

        Raises:
            UnknownInstrumentError: one of the two brokers does not list it (the message says which).
        """
        on_data = self.data.instruments().instrument(query)
        try:
            on_orders = self.order_broker.instruments().instrument(on_data.key)
        except UnknownInstrumentError:
            missing = UnknownInstrumentError(on_data.key)
            missing.args = (
                f"{on_data.key} (data from {self.data.capabilities.label}) is not listed on "
                f"{self.order_broker.capabilities.label}, the order broker: it cannot be traded there.",
            )
            raise missing from None
        return on_data, on_orders
