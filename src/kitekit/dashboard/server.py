"""Run the dashboard with uvicorn on 127.0.0.1 (by default), in a thread (tests, benches) or in the foreground."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from urllib.parse import quote

import uvicorn

from kitekit import redact
from kitekit.dashboard.app import build_app
from kitekit.dashboard.auth import Access
from kitekit.dashboard.desk import Desk
from kitekit.dashboard.runs import Runs

__all__ = ["DashboardServer"]


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP named so asyncio sets TCP_NODELAY on accepted connections (see kitekit.sim.server).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class DashboardServer:
    """The dashboard at ``host:port`` (port 0 picks a free one), serving ``desk`` behind ``access``.

    Args:
        desk: what the pages read and control (started and stopped with the server).
        access: the token and allowed origins (a fresh token when None).
        host: the address to bind: loopback unless told otherwise (a reverse proxy on the same host needs no more).
        port: the port (0: any free one).
        root_path: the path prefix a reverse proxy serves the dashboard under (``--root-path /kite``).
        public_url: the URL users open through a reverse proxy (printed instead of the bound address).
        runs: the Strategies page's source (see :func:`kitekit.dashboard.app.build_app`).
        ticker: start the feed (False in tests that feed the board themselves).
    """

    def __init__(
        self,
        desk: Desk,
        access: Access | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        root_path: str = "",
        public_url: str | None = None,
        runs: Runs | None = None,
        ticker: bool = True,
    ) -> None:
        self.desk = desk
        self.access = access or Access.of(origins=[public_url] if public_url else [])
        redact.install()
        redact.register(self.access.token)  # never in a log line
        self.host = host
        self.root_path = root_path.rstrip("/")
        self.public_url = public_url.rstrip("/") if public_url else None
        self.app = build_app(desk, self.access, runs=runs)
        self._ticker = ticker
        self._sock = _bind(host, port)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """Return the bound port."""
        return int(self._sock.getsockname()[1])

    @property
    def base(self) -> str:
        """Return the address of the dashboard's root, without the token."""
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.root_path}"

    @property
    def url(self) -> str:
        """Return the URL to open: the root with this start's token (treat it as a password)."""
        return f"{self.base}/?token={quote(self.access.token)}"

    def _server_for(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,  # an access log would print the token of the first visit
            lifespan="off",
            root_path=self.root_path,
            proxy_headers=False,
            timeout_graceful_shutdown=1,  # the live streams never end by themselves
        )
        self._server = uvicorn.Server(config)
        return self._server

    def start(self, timeout: float = 30.0) -> DashboardServer:
        """Start the desk and serve in a daemon thread; return once it accepts connections."""
        self.desk.start(ticker=self._ticker)
        server = self._server_for()
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._sock]}, name="kitekit-dashboard", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the dashboard failed to start; see the log above")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the dashboard did not start within {timeout:.0f}s")
            time.sleep(0.01)
        return self

    def serve_forever(self) -> None:
        """Start the desk and serve in the calling thread until interrupted (Ctrl-C)."""
        self.desk.start(ticker=self._ticker)
        try:
            self._server_for().run(sockets=[self._sock])
        finally:
            self.desk.stop()
            self._sock.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, the feed and the refresher, and release the port."""
        self.desk.closing.set()
        deadline = time.monotonic() + 2.0
        while self.desk.streams and time.monotonic() < deadline:  # each stream ends within a batch
            time.sleep(0.02)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.desk.stop()
        self._sock.close()

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
