"""Angel One SmartAPI as a :class:`~kitekit.brokers.broker.Broker`, and the registry's opener (``--broker angel``).

Each part is built on first use and kept: the session (:mod:`.session`), the scrip master
(:mod:`.instruments`), quotes and candles (:mod:`.market`), the WebSocket 2.0 feed (:mod:`.feed`) and orders:
paper by default on the shared engine, priced by Angel's quotes (or the data broker's in the mixed mode), live
through kitekit's :class:`~kitekit.orders.live.LiveBroker` and its intent journal (:mod:`.orders`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from kitekit.brokers.angel.capabilities import ANGEL_CAPABILITIES, BROKER
from kitekit.brokers.angel.client import AngelClient, angel_pacer
from kitekit.brokers.angel.instruments import AngelInstruments
from kitekit.brokers.angel.market import AngelHistory, AngelQuotes
from kitekit.brokers.angel.session import AngelCredentials, AngelSession
from kitekit.brokers.market import QuoteService
from kitekit.brokers.paper_quotes import NeutralQuoteSource
from kitekit.clock import Clock
from kitekit.wire.angel.routes import REST_ROOT
from kitekit.wire.angel.scrip import SCRIP_MASTER_PATH, SCRIP_MASTER_URL

if TYPE_CHECKING:
    from kitekit.brokers.angel.feed import AngelFeed
    from kitekit.brokers.credentials import BrokerCredentials
    from kitekit.brokers.orders import BrokerOrders
    from kitekit.brokers.registry import OpenOptions
    from kitekit.history.store import CandleStore

__all__ = ["AngelBroker", "open_angel"]


class AngelBroker:
    """Angel One behind the neutral interfaces.

    Args:
        session: the Angel session (credentials, saved session, clock, pacer).
        cache_dir: where the scrip master is cached per day.
        scrip_url: where the scrip master is downloaded from (Angel's public file; a simulator serves its own).
        stream_url: WebSocket 2.0's URL (Angel's; a simulator's ``ws://…/smart-stream``).
        order_update_url: the order-update stream's URL.
    """

    name = BROKER
    capabilities = ANGEL_CAPABILITIES

    def __init__(
        self,
        session: AngelSession,
        cache_dir: Path,
        *,
        scrip_url: str = SCRIP_MASTER_URL,
        stream_url: str | None = None,
        order_update_url: str | None = None,
    ) -> None:
        self.session = session
        self.clock: Clock = session.clock
        self.cache_dir = cache_dir
        self.scrip_url = scrip_url
        self.stream_url = stream_url
        self.order_update_url = order_update_url
        self._instruments: AngelInstruments | None = None
        self._client: AngelClient | None = None
        self._jwt: str | None = None
        self._lock = threading.Lock()

    def native(self) -> AngelClient:
        """Return the paced Angel client on the saved session (renewed when about to end)."""
        saved = self.session.current()
        with self._lock:
            if self._client is None or self._jwt != saved.jwt:
                self._client = self.session.client()
                self._jwt = saved.jwt
            return self._client

    def _download(self) -> bytes:
        # The scrip master is a public file on its own host: fetched without the session, once a day.
        answer = requests.get(self.scrip_url, timeout=60)
        answer.raise_for_status()
        return answer.content

    def instruments(self) -> AngelInstruments:
        """Return the neutral instrument store over Angel's scrip master (made once)."""
        with self._lock:
            if self._instruments is None:
                self._instruments = AngelInstruments(self._download, self.cache_dir, self.clock)
            return self._instruments

    def quotes(self) -> AngelQuotes:
        """Return neutral quotes on the saved session."""
        return AngelQuotes(self.native(), self.instruments())

    def history(self, store: CandleStore | None = None) -> AngelHistory:
        """Return neutral candles on the saved session (``store`` is not used yet: Angel's are fetched each time)."""
        return AngelHistory(self.native(), self.instruments(), self.clock)

    def feed(self, **options: Any) -> AngelFeed:
        """Return a new neutral feed on WebSocket 2.0 (``options`` tune reconnects and the watchdog)."""
        from kitekit.brokers.angel.feed import AngelFeed
        from kitekit.wire.angel.routes import ORDER_UPDATE_URL, STREAM_URL

        return AngelFeed(
            self.session,
            self.instruments(),
            self.stream_url or STREAM_URL,
            order_update_url=self.order_update_url or ORDER_UPDATE_URL,
            **options,
        )

    def orders(
        self, *, paper: bool = True, folder: Path | None = None, quotes: QuoteService | None = None, **options: Any
    ) -> BrokerOrders:
        """Return the order gateway: paper (default) on the shared engine, or live with ``paper=False``.

        Paper fills are priced by ``quotes`` (the mixed mode's data broker) or Angel's own; live orders go
        to Angel through the intent journal: each intent placed once, looked up by its ``ordertag`` after any
        doubt.
        """
        from kitekit.paths import data_dir

        facts = self.instruments().rule_facts()
        if paper:
            from kitekit.orders.paper import PaperBroker

            source = NeutralQuoteSource(quotes or self.quotes(), facts)
            return PaperBroker(
                source, facts, folder=folder or data_dir() / "paper" / BROKER, clock=self.clock, **options
            )
        from kitekit.brokers.angel.orders import live_broker

        return live_broker(
            self.native(), self.instruments(), folder or data_dir() / "orders" / BROKER, self.clock, **options
        )


def open_angel(credentials: BrokerCredentials, options: OpenOptions) -> AngelBroker:
    """Open Angel One from its credentials (the registry's opener).

    ``ANGEL_ROOT`` (or ``root`` in the ``angel`` section) points it at a simulator; the scrip master and the
    WebSocket then come from the same host.
    """
    from kitekit.paths import cache_dir, data_dir
    from kitekit.rest.client import pacer_path

    root = (credentials.get("root") or REST_ROOT).rstrip("/")
    on_sim = root != REST_ROOT
    creds = AngelCredentials(
        api_key=credentials.get("api_key") or "",
        client_code=credentials.get("client_code") or "",
        pin=credentials.get("pin") or "",
        totp_secret=credentials.get("totp_secret") or "",
        root=root,
    )
    folder = data_dir() / "sessions"
    session = AngelSession(
        creds,
        folder / f"angel-{creds.client_code}.json",
        clock=options.clock,
        pacer=angel_pacer(pacer_path()),
        login_hint=options.login_hint or "kitekit login --broker angel",
    )
    ws_root = root.replace("http", "ws", 1)
    return AngelBroker(
        session,
        (options.cache_dir or cache_dir()) / "instruments",
        scrip_url=root + SCRIP_MASTER_PATH if on_sim else SCRIP_MASTER_URL,
        stream_url=f"{ws_root}/smart-stream" if on_sim else None,
        order_update_url=f"{ws_root}/smart-order-update" if on_sim else None,
    )
