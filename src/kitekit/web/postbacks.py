"""The postback receiver's HTTP edge: a Starlette route for Kite's order postbacks, an app around it, a server.

Mount :func:`postback_route` in an app of your own, or run :func:`postback_app` (which also reconciles gaps
from the order book every so often) with any ASGI server; ``kitekit postbacks --listen`` runs it with uvicorn
(:func:`serve`). Each POST goes to :meth:`PostbackInbox.receive`: a forgery is answered 403 and a body that is
not an order 400, so nothing of theirs is used; everything else is answered 200, a repeat or a late arrival
included, since Kite has nothing to do about either.

Example::

    events = OrderEvents(broker)
    inbox = PostbackInbox(settings.api_secret, events, book=KiteOrderBook(kite))
    app = Starlette(routes=[postback_route(inbox, "/kite/postback"), ...])
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kitekit.orders.postbacks import MAX_BODY, PostbackInbox, Verdict

__all__ = ["postback_app", "postback_route", "serve"]

log = logging.getLogger("kitekit.web.postbacks")

_STATUS = {Verdict.FORGED: 403, Verdict.MALFORMED: 400}


def postback_route(inbox: PostbackInbox, path: str = "/postback") -> Route:
    """Return the route Kite POSTs order updates to: each body goes to ``inbox``, the verdict comes back.

    Args:
        inbox: verifies, de-duplicates and reports the updates.
        path: where it listens (the path of the postback URL registered with the app).
    """

    async def receive(request: Request) -> Response:
        try:
            body = await _body(request)
        except ClientDisconnect:
            return Response(status_code=499)
        verdict = Verdict.MALFORMED if body is None else inbox.receive(body)
        return JSONResponse({"status": str(verdict)}, status_code=_STATUS.get(verdict, 200))

    return Route(path, receive, methods=["POST"])


async def _body(request: Request) -> bytes | None:
    """Return the request's body, or None past :data:`MAX_BODY` (read no further than that)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def postback_app(inbox: PostbackInbox, path: str = "/postback", reconcile_every: float | None = 30.0) -> Starlette:
    """Return an app that serves :func:`postback_route` and reconciles gaps every ``reconcile_every`` seconds.

    Reconciling (:meth:`PostbackInbox.reconcile`) reads the order book, so it needs the inbox's ``book``;
    None (or an inbox without a book) turns it off. A failed reconcile is logged and tried again next time.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = None
        if reconcile_every is not None and inbox.book is not None:
            task = asyncio.create_task(_reconcile_forever(inbox, reconcile_every))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return Starlette(routes=[postback_route(inbox, path)], lifespan=lifespan)


async def _reconcile_forever(inbox: PostbackInbox, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(inbox.reconcile)
        except Exception as exc:  # a failed read of the book is a gap for next time, not the end of the receiver
            log.warning("reconciling postbacks with the order book failed (%s: %s)", type(exc).__name__, exc)


def serve(
    app: Starlette, host: str = "127.0.0.1", port: int = 5056, on_listening: Callable[[], None] | None = None
) -> None:
    """Serve ``app`` with uvicorn in the foreground until Ctrl-C.

    Args:
        app: the ASGI app.
        host: the address to listen on.
        port: the port to listen on.
        on_listening: called once the port accepts connections (to say so): a postback sent before that
            would be refused, and Kite never sends it again.
    """
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    sock = config.bind_socket()
    sock.listen(2048)  # connections queue from here on, until the server takes them
    if on_listening is not None:
        on_listening()
    uvicorn.Server(config).run(sockets=[sock])
