"""One WebSocket connection of the ticker: connect, resubscribe, read, watch for silence, reconnect with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from kitekit.ticker.reconnect import Backoff, Watchdog
from kitekit.wire.envelope import decode_error
from kitekit.wire.ticks import Mode
from kitekit.wire.ticks.messages import mode_message, subscribe_message, unsubscribe_message

__all__ = ["Connection", "Owner", "StaleLinkError", "UpgradeRefusedError"]

log = logging.getLogger("kitekit.ticker")

# A full frame of 3,000 instruments is ~560 kB; one frame can declare 65,535 packets (~12 MB).
_MAX_MESSAGE = 16 * 2**20


class UpgradeRefusedError(Exception):
    """The server answered the upgrade with an HTTP status instead of a WebSocket (its message, if any)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"the ticker refused the connection (HTTP {status}){': ' + message if message else ''}")
        self.status = status
        self.message = message


class Owner(Protocol):
    """What a connection reports to, and asks of, the ticker that owns it (called on the event loop)."""

    def url(self) -> str:
        """Return the URL to connect to, with the current access token (never logged)."""

    def want(self, shard: int) -> dict[int, Mode]:
        """Return the tokens and modes this connection should carry."""

    def opened(self, shard: int) -> None:
        """A connection is up (its subscriptions are being sent)."""

    def message(self, shard: int, data: bytes | str) -> None:
        """A message arrived."""

    def closed(self, shard: int, code: int, reason: str) -> None:
        """An open connection ended."""

    def failed(self, shard: int, error: Exception) -> None:
        """A connection attempt failed, or the link died; it will be retried."""

    def reconnecting(self, shard: int, attempt: int, delay: float) -> None:
        """A reconnect attempt is due after ``delay`` seconds."""

    def refused(self, shard: int, refusal: UpgradeRefusedError) -> bool:
        """The upgrade was refused; return True to stop retrying (a 403: the token is dead)."""


class StaleLinkError(ConnectionError):
    """No frame, not even a heartbeat, for longer than the watchdog's timeout: the link is dead."""


class Connection:
    """One shard's connection, kept up until :meth:`stop`: reconnects with backoff, resubscribes, watches."""

    def __init__(
        self,
        owner: Owner,
        shard: int,
        backoff: Backoff,
        watchdog: Callable[[], Watchdog],
        headers: dict[str, str],
    ) -> None:
        self.owner = owner
        self.shard = shard
        self.backoff = backoff
        self._new_watchdog = watchdog
        self.headers = headers
        self.attempts = 0
        self._ws: ClientConnection | None = None
        self._sent: dict[int, Mode] = {}
        self._sync_lock = asyncio.Lock()
        self._stopped = False
        self._again = False  # reconnect at once (a new access token), no backoff
        self._wake = asyncio.Event()

    @property
    def stopped(self) -> bool:
        """Return True once stopped for good."""
        return self._stopped

    @property
    def open(self) -> bool:
        """Return True while connected."""
        return self._ws is not None

    async def run(self) -> None:
        """Keep the connection up until stopped or refused for good."""
        while not self._stopped:
            opened = False
            code, reason = 1006, ""
            try:
                async with connect(
                    self.owner.url(),
                    additional_headers=self.headers,
                    user_agent_header=self.headers.get("User-Agent"),
                    max_size=_MAX_MESSAGE,
                    ping_interval=None,  # liveness is Kite's heartbeat, watched below; Kite's SDK sends no pings
                    compression=None,
                    open_timeout=10,
                    close_timeout=2,
                ) as ws:
                    opened, self._ws, self._sent, self.attempts = True, ws, {}, 0
                    self.owner.opened(self.shard)
                    try:
                        await self.sync()
                        await self._pump(ws)
                    finally:
                        code, reason = ws.close_code or 1006, ws.close_reason or ""
            except InvalidStatus as exc:
                response = exc.response
                content_type = response.headers.get("content-type", "")
                refusal = UpgradeRefusedError(
                    response.status_code, _message(response.status_code, content_type, response.body)
                )
                if self.owner.refused(self.shard, refusal):
                    return
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, StaleLinkError) as exc:
                if not opened and not self._stopped:
                    self.owner.failed(self.shard, exc)
            except Exception as exc:  # anything else is reported and retried: the ticker never dies silently
                log.exception("ticker connection %d failed unexpectedly", self.shard)
                self.owner.failed(self.shard, exc)
            finally:
                self._ws = None
            if opened:
                self.owner.closed(self.shard, code, reason)
            if self.stopped:
                return
            if self._again:
                self._again = False
                continue
            self.attempts += 1
            delay = self.backoff.delay(self.attempts)
            self.owner.reconnecting(self.shard, self.attempts, delay)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _pump(self, ws: ClientConnection) -> None:
        watchdog = self._new_watchdog()
        watch = asyncio.create_task(self._watch(ws, watchdog))
        try:
            async for message in ws:
                watchdog.feed()
                self.owner.message(self.shard, message)
        finally:
            watch.cancel()

    async def _watch(self, ws: ClientConnection, watchdog: Watchdog) -> None:
        check = min(0.5, watchdog.timeout / 10)
        while True:
            await asyncio.sleep(check)
            if watchdog.dead():
                silent = watchdog.silent_for()
                self.owner.failed(
                    self.shard, StaleLinkError(f"no data and no heartbeat for {silent:.1f} s: the link is dead")
                )
                # Cut it: a dead path may take TCP minutes to notice, and a close handshake would wait on it.
                ws.transport.abort()
                return

    async def sync(self) -> None:
        """Bring the server's subscriptions in line with what the owner wants: unsubscribe, subscribe, mode.

        As the SDK does, each new group is sent as ``subscribe`` then ``mode`` (§15.2, §15.9).
        """
        async with self._sync_lock:
            ws = self._ws
            if ws is None:
                return
            want = self.owner.want(self.shard)
            sent = self._sent
            messages: list[str] = []
            gone = [t for t in sent if t not in want]
            if gone:
                messages.append(unsubscribe_message(gone))
            new: dict[Mode, list[int]] = {}
            changed: dict[Mode, list[int]] = {}
            for token, mode in want.items():
                if token not in sent:
                    new.setdefault(mode, []).append(token)
                elif sent[token] is not mode:
                    changed.setdefault(mode, []).append(token)
            for mode, tokens in new.items():
                messages.append(subscribe_message(tokens))
                messages.append(mode_message(mode, tokens))
            messages.extend(mode_message(mode, tokens) for mode, tokens in changed.items())
            try:
                for message in messages:
                    await ws.send(message)
            except ConnectionClosed:
                return  # the reader sees it too, reconnects, and resubscribes everything
            self._sent = want

    async def reconnect(self) -> None:
        """Close and reconnect at once (to use a new access token); subscriptions are sent again."""
        self._again = True
        self._wake.set()
        ws = self._ws
        if ws is not None:
            await ws.close(1000, "reconnecting")

    async def stop(self) -> None:
        """Close for good."""
        self._stopped = True
        self._wake.set()
        ws = self._ws
        if ws is not None:
            await ws.close(1000, "closed by the client")


def _message(status: int, content_type: str, body: bytes | bytearray | None) -> str:
    """Return the ``message`` of a refusal's Kite envelope, or the start of its text."""
    if not body:
        return ""
    error = decode_error(status, content_type, bytes(body))
    if error is not None and error.kite_json:
        return error.message
    return bytes(body[:200]).decode("utf-8", "replace").strip()
