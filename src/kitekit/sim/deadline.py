"""uvicorn's HTTP/1.1 protocol with a deadline for each request to arrive whole: half-open connections are reaped.

uvicorn times out only a kept-alive connection that sits idle after an answer. A connection that never sends
a request, or sends half of one (headers or a body cut short) and then nothing, is held forever: three hundred
of them hold three hundred sockets, and each a coroutine once its headers are in. Here every request must
arrive whole (headers and body) within ``timeout`` seconds of its first byte, or of the connection's opening;
otherwise the connection is closed. A request the app is still answering, a kept-alive connection (uvicorn's
own timer) and a WebSocket once upgraded are left alone.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["with_request_deadline"]

log = logging.getLogger("kitekit.sim")


class _DeadlineProtocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection whose request does not arrive whole in time."""

    request_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self._waiting_for_request():
            self._arm()
        super().data_received(data)
        if not self._waiting_for_request():
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting_for_request(self) -> bool:
        """Return True while a request (or the rest of one) is due from the client on this protocol."""
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return False  # closed, or handed over to the WebSocket protocol
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.request_timeout, self._overdue)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _overdue(self) -> None:
        self._deadline = None
        if not self._waiting_for_request():
            return
        if self.conn.their_state is h11.IDLE and self.timeout_keep_alive_task is not None:
            return  # idle between requests: uvicorn's keep-alive timeout closes it
        log.info("closing a connection whose request did not arrive whole within %gs", self.request_timeout)
        self.transport.close()  # the app, if it was reading a body, sees a disconnect


def with_request_deadline(timeout: float) -> type[H11Protocol]:
    """Return the protocol class to give uvicorn (``http=``): requests must arrive whole within ``timeout`` s."""
    return type("RequestDeadlineProtocol", (_DeadlineProtocol,), {"request_timeout": timeout})
