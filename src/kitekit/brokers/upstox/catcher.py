"""A one-shot local listener for what Upstox sends the app: the login redirect (GET) or the token webhook (POST).

The authorization-code flow ends with the browser sent to the app's redirect URL with ``?code=…``; the v3 token
request ends with Upstox POSTing the token as JSON to the app's notifier URL. Both are caught the same way: a
small HTTP server on the URL's host and port that answers the URL's path once and hands over what came.
"""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kitekit.errors import LoginError

__all__ = ["Catcher"]

_MAX_BODY = 64 * 1024


class Catcher:
    """Listen on ``url`` and hand over the first GET's query or POST's JSON body sent to its path.

    Args:
        url: the app's redirect or notifier URL (``http://127.0.0.1:5055/callback``).

    Raises:
        LoginError: the address cannot be listened on (the message names it).
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.path = parts.path or "/"
        self._got: queue.Queue[dict[str, Any]] = queue.Queue()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                catcher._handle(self, None)

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), _MAX_BODY)
                catcher._handle(self, self.rfile.read(length))

            def log_message(self, format: str, *args: object) -> None:
                return None  # the query carries a login code: never logged

        try:
            self.server = ThreadingHTTPServer((parts.hostname or "127.0.0.1", parts.port or 80), Handler)
        except OSError as exc:
            raise LoginError(f"Cannot listen on {parts.netloc} for Upstox's answer: {exc.strerror or exc}") from None
        # A short poll: close() waits for it, and a cron login opens and closes one listener per try.
        serve = lambda: self.server.serve_forever(poll_interval=0.05)  # noqa: E731
        self._thread = threading.Thread(target=serve, name="upstox-catcher", daemon=True)
        self._thread.start()

    def _handle(self, request: BaseHTTPRequestHandler, body: bytes | None) -> None:
        parts = urlsplit(request.path)
        if parts.path != self.path:
            request.send_response(404)
            request.end_headers()
            return
        if body is None:
            got: Any = {k: v[0] for k, v in parse_qs(parts.query).items()}
        else:
            try:
                got = json.loads(body or b"{}")
            except ValueError:
                got = None
        if not isinstance(got, dict):
            request.send_response(400)
            request.end_headers()
            return
        self._got.put(got)
        request.send_response(200)
        request.send_header("Content-Type", "text/plain; charset=utf-8")
        request.end_headers()
        request.wfile.write(b"kitekit has the login. You can close this page.")

    def wait(self, timeout: float) -> dict[str, Any]:
        """Return what came first within ``timeout`` seconds.

        Raises:
            LoginError: nothing came in time.
        """
        try:
            return self._got.get(timeout=timeout)
        except queue.Empty:
            raise LoginError(f"Nothing from Upstox within {timeout:g}s.") from None

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Catcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
