"""Run the simulator with uvicorn: in a background thread (tests, embedded CLI) or in the foreground."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import uvicorn

from kitekit.clock import Clock
from kitekit.sim.config import SimConfig
from kitekit.sim.deadline import with_request_deadline
from kitekit.sim.exchange import SimExchange
from kitekit.sim.http import SimApp
from kitekit.sim.listen import listening_socket
from kitekit.sim.market import Market

__all__ = ["AppServer", "ServedApp", "SimServer", "listening_socket"]


class _QuietDrops(logging.Filter):
    # A deliberately dropped connection (fault injection) makes uvicorn complain that the app sent nothing,
    # and an upgrade refused with an HTTP answer (the ticker's 403) that the handshake never completed.
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "without starting response" not in message and "without completing handshake" not in message


class _NoTokens(logging.Filter):
    # uvicorn logs each WebSocket upgrade with its query string, which carries the ticker's access token.
    _TOKEN = re.compile(r"(access_token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "access_token=" in message:
            record.msg, record.args = self._TOKEN.sub(r"\1***", message), ()
        return True


#: An ASGI application (spelled out: Starlette's own alias belongs to the HTTP edge, tests/test_sim_layering.py).
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class ServedApp(Protocol):
    """What :class:`AppServer` serves: a simulator's ASGI app, its exchange (pumped while serving) and timeouts."""

    @property
    def asgi(self) -> ASGIApp: ...
    @property
    def exchange(self) -> SimExchange: ...
    @property
    def request_timeout_s(self) -> float: ...
    @property
    def ws_ping_interval_s(self) -> float | None: ...
    def publish_admin_token(self) -> None: ...
    def release(self) -> None: ...


S = TypeVar("S", bound=ServedApp)


class AppServer(Generic[S]):
    """A simulator ``sim`` served on ``host:port`` (port 0 picks a free one); a context manager or start/stop.

    Kite's simulator is :class:`SimServer`; another broker's (``kitekit.sim.upstox.UpstoxServer``) serves its
    own app over the same market and exchange the same way.
    """

    def __init__(self, sim: S, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None) -> None:
        self.sim = sim
        self.host = host
        self._requested_port = port
        #: A listening socket bound beforehand (:func:`listening_socket`), or None to bind at start.
        self._sock: socket.socket | None = sock
        if sock is not None:
            self.sim.publish_admin_token()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        uvicorn_log = logging.getLogger("uvicorn.error")
        for flt in (_QuietDrops(), _NoTokens()):
            if not any(type(f) is type(flt) for f in uvicorn_log.filters):
                uvicorn_log.addFilter(flt)

    @property
    def port(self) -> int:
        """Return the bound port (after :meth:`start` or :meth:`bind`)."""
        if self._sock is None:
            raise RuntimeError("the simulator is not bound yet; call start() first")
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        """Return the REST root, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Return the ticker's root, e.g. ``ws://127.0.0.1:54321``, as ``KiteTicker(root=…)`` takes it."""
        return f"ws://{self.host}:{self.port}"

    def bind(self) -> socket.socket:
        """Bind the listening socket (so the port is known) without serving yet, publish the admin token; return it."""
        if self._sock is None:
            self._sock = listening_socket(self.host, self._requested_port)
            self.sim.publish_admin_token()  # only now: a failed bind must leave a running simulator's file alone
        return self._sock

    def _server_for(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.sim.asgi,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            # SIGTERM must stop it promptly whatever its faults: a request sleeping out injected latency
            # or a kept-alive connection gets a second, then is cut.
            timeout_graceful_shutdown=1,
            ws_ping_interval=self.sim.ws_ping_interval_s,
            # Each app dates its answers by the simulator's clock (Kite's Date header is its server time).
            date_header=False,
            http=with_request_deadline(self.sim.request_timeout_s),  # reaps half-open connections
        )
        server = uvicorn.Server(config)
        self._server = server
        return server

    def start(self, timeout: float = 30.0) -> AppServer[S]:
        """Serve in a daemon thread; return once the server accepts connections."""
        sock = self.bind()
        server = self._server_for()
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="kitekit-sim", daemon=True)
        self._thread.start()
        self.sim.exchange.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the simulator failed to start; see the log above")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the simulator did not start within {timeout:.0f}s")
            time.sleep(0.01)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C); the accounts are saved on the way out."""
        self.sim.exchange.start()
        try:
            self._server_for().run(sockets=[self.bind()])
        finally:
            self.sim.release()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.sim.release()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> AppServer[S]:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SimServer(AppServer[SimApp]):
    """The Kite simulator on ``host:port`` (port 0 picks a free one); use as a context manager or start/stop."""

    def __init__(
        self,
        config: SimConfig | None = None,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        market: Market | None = None,
        totp_clock: Clock | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        super().__init__(SimApp(config, clock, market, totp_clock), host, port, sock)

    def start(self, timeout: float = 30.0) -> SimServer:
        """Serve in a daemon thread; return once the server accepts connections."""
        super().start(timeout)
        return self

    def __enter__(self) -> SimServer:
        return self.start()
