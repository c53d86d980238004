"""Upstox as a :class:`~kitekit.brokers.broker.Broker`, and the registry's opener.

Every part reads Upstox's protocol from ``kitekit.wire.upstox`` only and calls it through one paced
:class:`~kitekit.brokers.upstox.client.UpstoxClient` on the saved session. Orders go through kitekit's own
gateway: ``LiveBroker`` over :class:`~kitekit.brokers.upstox.orders.UpstoxOrderClient` (the rules, the intent
journal, the lookup by tag), or ``PaperBroker`` priced by Upstox's quotes on the shared engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.brokers.market import QuoteService
from kitekit.brokers.paper_quotes import NeutralQuoteSource
from kitekit.brokers.upstox.capabilities import UPSTOX_CAPABILITIES
from kitekit.brokers.upstox.client import UpstoxClient
from kitekit.brokers.upstox.feed import UpstoxFeed
from kitekit.brokers.upstox.instruments import UpstoxInstruments
from kitekit.brokers.upstox.market import UpstoxHistory, UpstoxQuotes
from kitekit.brokers.upstox.orders import UpstoxOrderClient
from kitekit.brokers.upstox.session import BROKER, UpstoxApp, UpstoxSession
from kitekit.wire.upstox.routes import DUMP_URL

if TYPE_CHECKING:
    from kitekit.brokers.credentials import BrokerCredentials
    from kitekit.brokers.orders import BrokerOrders
    from kitekit.brokers.registry import OpenOptions
    from kitekit.clock import Clock
    from kitekit.history.store import CandleStore

__all__ = ["UpstoxBroker", "open_upstox"]


class UpstoxBroker:
    """Upstox behind the neutral interfaces.

    Args:
        session: the session (app, hosts, session file, clock).
        cache_dir: where the instruments dump is cached.
    """

    name = BROKER
    capabilities = UPSTOX_CAPABILITIES

    def __init__(self, session: UpstoxSession, cache_dir: Path) -> None:
        self.session = session
        self.clock: Clock = session.clock
        self.cache_dir = cache_dir
        self._instruments: UpstoxInstruments | None = None

    def native(self) -> UpstoxClient:
        """Return the paced REST client on the saved session (multi-order and v3 slicing are reached on it)."""
        return self.session.client()

    def _download(self) -> bytes:
        import requests

        url = self.session.app.dump_url or DUMP_URL
        answer = requests.get(url, timeout=60)
        answer.raise_for_status()
        return answer.content

    def instruments(self) -> UpstoxInstruments:
        """Return the instrument store on Upstox's dump (made once)."""
        if self._instruments is None:
            self._instruments = UpstoxInstruments(self.cache_dir, self._download, self.clock)
        return self._instruments

    def quotes(self) -> UpstoxQuotes:
        """Return batched, paced quotes on the saved session."""
        return UpstoxQuotes(self.native(), self.instruments(), self.capabilities)

    def history(self, store: CandleStore | None = None) -> UpstoxHistory:
        """Return candles of any span on the saved session, kept in ``store`` by ``backfill``."""
        return UpstoxHistory(self.native(), self.instruments(), self.capabilities, self.clock, store)

    def feed(self, **options: Any) -> UpstoxFeed:
        """Return a new live feed on the saved session (``options``: ``watchdog``, ``backoff``)."""
        options.setdefault("login_hint", self.session.login_hint)
        return UpstoxFeed(self.native(), self.instruments(), self.capabilities, **options)

    def orders(
        self, *, paper: bool = True, folder: Path | None = None, quotes: QuoteService | None = None, **options: Any
    ) -> BrokerOrders:
        """Return the order gateway: paper (priced by ``quotes``, default Upstox's) unless ``paper=False``."""
        from kitekit.paths import data_dir

        store = self.instruments().rule_facts()
        if paper:
            from kitekit.orders.paper import PaperBroker

            source = NeutralQuoteSource(quotes or self.quotes(), store)
            return PaperBroker(source, store, folder=folder or data_dir() / "paper", clock=self.clock, **options)
        from kitekit.orders.live import LiveBroker

        client = UpstoxOrderClient(self.native(), self.instruments())
        return LiveBroker(client, store, folder=folder or data_dir() / "orders", clock=self.clock, **options)


def open_upstox(credentials: BrokerCredentials, options: OpenOptions) -> UpstoxBroker:
    """Open Upstox from its credentials (the registry's opener).

    ``base_url``, ``order_url`` and ``dump_url`` point it at a simulator; the session file is
    ``upstox.json`` in kitekit's sessions folder.
    """
    from kitekit.clock import SystemClock
    from kitekit.paths import cache_dir, data_dir

    get = credentials.get

    app = UpstoxApp(
        api_key=get("api_key") or "",
        api_secret=get("api_secret") or "",
        redirect_url=get("redirect_url") or UpstoxApp.redirect_url,
        webhook_url=get("webhook_url"),
        base_url=get("base_url") or UpstoxApp.base_url,
        order_url=get("order_url"),
        dump_url=get("dump_url"),
    )
    session = UpstoxSession(
        app,
        data_dir() / "sessions" / "upstox.json",
        clock=options.clock or SystemClock(),
        login_hint=options.login_hint or "kitekit --broker upstox login",
    )
    cache = (options.cache_dir or cache_dir()) / "instruments"
    return UpstoxBroker(session, cache)
