"""Getting a ``request_token`` by hand: the login URL, a local redirect catcher, and pasted URLs.

The official SDK's ``login_url()`` is hard-coded to Zerodha's host, so we build the URL from a configurable
root; the same code logs in to the real Kite and to the simulator.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from kitekit.errors import LoginError

__all__ = [
    "RedirectCatcher",
    "RedirectResult",
    "build_login_url",
    "parse_redirect",
    "result_from_query",
]

log = logging.getLogger("kitekit.session")

_TOKEN_RE = re.compile(r"[A-Za-z0-9]{8,64}")
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass(frozen=True)
class RedirectResult:
    """What Kite's redirect carried: the request token, the status, and any ``redirect_params`` echoed back."""

    request_token: str = field(repr=False)
    status: str = "success"
    params: dict[str, str] = field(default_factory=dict)


def build_login_url(login_url: str, api_key: str, state: str | None = None) -> str:
    """Return ``<login_url>?api_key=…&v=3`` plus ``redirect_params=state=…`` when a state is given."""
    query = {"api_key": api_key, "v": "3"}
    if state:
        # Kite echoes redirect_params back as plain query pairs on the redirect; we use it as a CSRF state.
        query["redirect_params"] = urlencode({"state": state})
    return f"{login_url}?{urlencode(query)}"


def result_from_query(query: dict[str, list[str]]) -> RedirectResult:
    """Return the result a redirect's parsed query carries.

    Raises:
        LoginError: Kite reported a failed login, or the request_token is missing or malformed.
    """
    flat = {k: v[0] for k, v in query.items() if v}
    status = flat.pop("status", "")
    token = flat.pop("request_token", "")
    if status and status != "success":
        raise LoginError(
            f"Kite reported status={status!r} instead of success: the login was not completed. Log in again."
        )
    if not token:
        raise LoginError("The redirect carried no request_token. Copy the whole URL your browser landed on.")
    if not _TOKEN_RE.fullmatch(token):
        raise LoginError("The request_token in the redirect is malformed. Copy the whole URL your browser landed on.")
    return RedirectResult(token, status or "success", {k: v for k, v in flat.items() if k not in ("action", "type")})


def parse_redirect(text: str) -> RedirectResult:
    """Parse a pasted request_token, redirect URL, or query string.

    Raises:
        LoginError: nothing usable was pasted, or Kite reported a failed login.
    """
    text = text.strip().strip("'\"")
    if _TOKEN_RE.fullmatch(text):
        return RedirectResult(text)
    query = urlsplit(text).query if "://" in text else text.lstrip("?")
    parsed = parse_qs(query, keep_blank_values=True)
    if not parsed or ("://" not in text and "=" not in text):
        raise LoginError("That is neither a request_token nor a redirect URL. Paste the whole URL your browser shows.")
    return result_from_query(parsed)


class RedirectCatcher:
    """A one-shot HTTP listener on the redirect URL (loopback only) that captures Kite's redirect."""

    def __init__(self, redirect_url: str, expected_state: str | None = None) -> None:
        parts = urlsplit(redirect_url)
        host = parts.hostname or ""
        if parts.scheme != "http" or host not in _LOOPBACK:
            raise LoginError(
                f"The redirect URL {redirect_url} does not point at this machine over http, so kitekit cannot "
                "catch the redirect. Register http://127.0.0.1:<port>/<path> as the app's redirect URL, "
                "or use `kitekit login --paste`."
            )
        self.path = parts.path or "/"
        self.expected_state = expected_state
        self._result: RedirectResult | None = None
        self._error: LoginError | None = None
        self._done = threading.Event()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                catcher._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                # The default handler prints the request line, which carries the request_token.
                return

        try:
            self._server = ThreadingHTTPServer((host.strip("[]"), parts.port or 80), Handler)
        except OSError as exc:
            raise LoginError(
                f"Cannot listen on {parts.hostname}:{parts.port} for the login redirect ({exc.strerror}). "
                "Free the port, set KITE_REDIRECT_URL to the URL you registered, or use `kitekit login --paste`."
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="kitekit-redirect", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Return the URL this catcher listens on (the real port when 0 was asked for)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        if parts.path != self.path:
            self._reply(request, 404, "Not the kitekit login redirect.")
            return
        query = parse_qs(parts.query, keep_blank_values=True)
        if self.expected_state is not None and query.get("state", [""])[0] != self.expected_state:
            # A forged or stray request (another tab, a scanner, a replayed URL): it must not end the login
            # this catcher waits for, or anyone able to reach the port could abort it.
            log.warning("Ignored a request on the login redirect port without this login's state; still waiting.")
            self._reply(request, 400, "This is not the login kitekit is waiting for; it was ignored.")
            return
        try:
            result = result_from_query(query)
        except LoginError as exc:
            if not self._done.is_set():
                self._error = exc
                self._done.set()
            self._reply(request, 400, str(exc))
            return
        if not self._done.is_set():
            self._result = result
            self._done.set()
        self._reply(request, 200, "Login complete. You can close this tab and return to the terminal.")

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, message: str) -> None:
        body = f"<!doctype html><meta charset='utf-8'><title>kitekit</title><p>{html.escape(message)}</p>".encode()
        request.send_response(status)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def wait(self, timeout: float) -> RedirectResult:
        """Block until the redirect arrives; return its result.

        Raises:
            LoginError: no redirect within ``timeout`` seconds, or a failed/forged one arrived.
        """
        try:
            if not self._done.wait(timeout):
                raise LoginError(
                    f"No login redirect arrived within {timeout:.0f}s. Finish the login in the browser, or run "
                    "`kitekit login --paste` and paste the URL the browser landed on."
                )
            if self._error is not None:
                raise self._error
            assert self._result is not None  # noqa: S101 - set together with _done
            return self._result
        finally:
            self.close()

    def close(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()
