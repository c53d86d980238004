"""Kite Connect as a :class:`~kitekit.brokers.broker.Broker`: kitekit's Kite packages behind the neutral interfaces.

Every part is the existing one, built the way ``get_kite()`` and the CLI build it, so nothing changes for Kite's
users: :class:`~kitekit.session.SessionManager`, :class:`~kitekit.instruments.InstrumentStore`,
:class:`~kitekit.quotes.MarketData`, :class:`~kitekit.history.History`, :class:`~kitekit.ticker.Ticker`, and
``broker()``'s ``PaperBroker`` or ``LiveBroker``. GTTs and alerts stay on ``native()`` and the Kite gateway.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.brokers.kite.capabilities import KITE_CAPABILITIES
from kitekit.brokers.kite.convert import BROKER
from kitekit.brokers.kite.feed import KiteFeed
from kitekit.brokers.kite.instruments import KiteInstruments
from kitekit.brokers.kite.market import KiteHistory, KiteQuotes
from kitekit.brokers.kite.session import KiteSession
from kitekit.brokers.market import QuoteService
from kitekit.brokers.paper_quotes import NeutralQuoteSource

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

    from kitekit.brokers.credentials import BrokerCredentials
    from kitekit.brokers.orders import BrokerOrders
    from kitekit.brokers.registry import OpenOptions
    from kitekit.clock import Clock
    from kitekit.history.store import CandleStore
    from kitekit.instruments import InstrumentStore, Progress
    from kitekit.session.manager import SessionManager

__all__ = ["KiteBroker", "open_kite"]


class KiteBroker:
    """Kite Connect behind the neutral interfaces.

    Args:
        manager: the session manager (credentials, the saved session, the clock, the login hint).
        store: the instrument store; default one cached under ``cache_dir`` that downloads on the saved session.
        cache_dir: where the default store caches the dump (default: the kitekit cache dir's ``instruments``).
    """

    name = BROKER
    capabilities = KITE_CAPABILITIES

    def __init__(
        self, manager: SessionManager, store: InstrumentStore | None = None, *, cache_dir: Path | None = None
    ) -> None:
        self.manager = manager
        self.session = KiteSession(manager)
        self.clock: Clock = manager.clock
        self._store = store
        self._cache_dir = cache_dir
        self._kite: KiteConnect | None = None

    def native(self) -> KiteConnect:
        """Return the paced ``KiteConnect`` on the saved session (made once; verified as ``get_kite`` does)."""
        if self._kite is None:
            self._kite = self.session.client()
        return self._kite

    def store(self) -> InstrumentStore:
        """Return Kite's own instrument store (made once)."""
        if self._store is None:
            from kitekit.instruments import InstrumentStore
            from kitekit.paths import cache_dir

            folder = self._cache_dir or cache_dir() / "instruments"
            self._store = InstrumentStore(folder, self._download, clock=self.clock)
        return self._store

    def _download(self, exchange: str | None, progress: Progress | None) -> bytes:
        from kitekit.instruments import fetch_dump

        return fetch_dump(self.native(), exchange, progress)

    def instruments(self) -> KiteInstruments:
        """Return the neutral instrument store over Kite's."""
        return KiteInstruments(self.store())

    def quotes(self) -> KiteQuotes:
        """Return neutral quotes over :class:`~kitekit.quotes.MarketData` on the saved session."""
        from kitekit.quotes import MarketData

        store = self.store()
        return KiteQuotes(MarketData(self.native(), resolve=store.key), store)

    def history(self, store: CandleStore | None = None) -> KiteHistory:
        """Return neutral candles over :class:`~kitekit.history.History`, kept in ``store`` when given."""
        from kitekit.history import History

        return KiteHistory(History(self.native(), self.store(), store, clock=self.clock))

    def feed(self, **options: Any) -> KiteFeed:
        """Return a neutral feed over a new :class:`~kitekit.ticker.Ticker` (``options`` go to it)."""
        from kitekit.ticker import Ticker

        options.setdefault("login_hint", self.session.login_hint)
        return KiteFeed(Ticker.from_kite(self.native(), self.store(), **options), self.store())

    def orders(
        self, *, paper: bool = True, folder: Path | None = None, quotes: QuoteService | None = None, **options: Any
    ) -> BrokerOrders:
        """Return Kite's gateway (``broker()``): paper unless ``paper=False``; GTTs stay on it.

        With ``quotes`` (the mixed mode), paper fills are priced by those quotes, matched to Kite's instruments by
        the neutral identity; live orders go to Kite either way.
        """
        from kitekit.orders.factory import broker

        if quotes is None or not paper:
            return broker(self.native(), self.store(), paper=paper, folder=folder, clock=self.clock, **options)
        from kitekit.orders.paper import PaperBroker
        from kitekit.paths import data_dir

        source = NeutralQuoteSource(quotes, self.store())
        return PaperBroker(source, self.store(), folder=folder or data_dir() / "paper", clock=self.clock, **options)


def open_kite(credentials: BrokerCredentials, options: OpenOptions) -> KiteBroker:
    """Open Kite from its credentials, read as :func:`kitekit.config.load_settings` reads them (the registry's opener).

    Raises:
        ConfigError: a malformed URL or api_key (as ``load_settings``).
    """
    from kitekit.config import load_settings
    from kitekit.session.manager import SessionManager

    del credentials  # found and checked by the registry; Kite's own loader reads them again, URLs checked too
    settings = load_settings(options.overrides, config_file=options.config_file, env=options.env)
    manager = SessionManager(settings, clock=options.clock, login_hint=options.login_hint or "kitekit login")
    cache = options.cache_dir / "instruments" if options.cache_dir else None
    return KiteBroker(manager, cache_dir=cache)
