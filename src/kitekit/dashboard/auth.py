"""Who may use the dashboard: the per-start access token, its cookie, and the Origin check of every control.

Like Jupyter's, the dashboard prints a URL carrying a fresh random token each time it starts. Opening it sets
an HttpOnly, SameSite=Strict cookie and redirects to the same page without the token, so the token leaves the
address bar and the history. Every later request needs the cookie (or the token in an ``Authorization: Bearer``
header, for scripts); a request without either gets 403 and a page saying where the URL is printed.

Controls (cancel, modify, square off, kill) are POSTs that must also come from the dashboard's own origin
(``Origin``, else ``Referer``) and carry the ``X-Kitekit-Dashboard`` header, which a cross-site form cannot send:
a page on another site that guessed the port still cannot act, even through a browser holding the cookie.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import URL
from starlette.requests import HTTPConnection

__all__ = ["CONTROL_HEADER", "COOKIE", "Access", "new_token"]

#: The cookie the token lives in after the first visit.
COOKIE = "kitekit_dashboard"
#: The header every control POST carries (a cross-site form cannot set one).
CONTROL_HEADER = "x-kitekit-dashboard"


def new_token() -> str:
    """Return a fresh access token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass
class Access:
    """The token of this start and the origins controls may come from.

    Args:
        token: the access token (printed in the URL, never logged).
        origins: extra origins allowed besides the one each request is addressed to, e.g. the public
            ``https://host`` of a reverse proxy (``kitekit dashboard --public-url``).
    """

    token: str = field(default_factory=new_token, repr=False)
    origins: frozenset[str] = frozenset()

    @classmethod
    def of(cls, token: str | None = None, origins: Iterable[str] = ()) -> Access:
        """Return the access of a start: ``token`` (fresh when None), and extra allowed origins (URLs)."""
        return cls(token or new_token(), frozenset(_origin(o) for o in origins))

    def matches(self, given: str | None) -> bool:
        """Return True when ``given`` is this start's token (compared in constant time)."""
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def from_query(self, conn: HTTPConnection) -> bool:
        """Return True when the request's ``?token=`` is the token (the first visit)."""
        return self.matches(conn.query_params.get("token"))

    def allowed(self, conn: HTTPConnection) -> bool:
        """Return True when the request carries the token: its cookie, or an ``Authorization: Bearer`` header."""
        if self.matches(conn.cookies.get(COOKIE)):
            return True
        header = conn.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and self.matches(value.strip())

    def same_origin(self, conn: HTTPConnection) -> bool:
        """Return True when a control comes from the dashboard's own page (Origin, else Referer) with its header.

        The page's own origin is the address the request was made to (``Host``, as a browser sends it); behind a
        reverse proxy that rewrites ``Host``, the public origin must be given (:meth:`of`'s ``origins``).
        """
        if conn.headers.get(CONTROL_HEADER) != "1":
            return False
        sent = conn.headers.get("origin") or conn.headers.get("referer")
        if not sent:
            return False
        own = _origin(str(conn.url))
        return _origin(sent) in self.origins | {own}

    def without_token(self, url: URL) -> str:
        """Return ``url`` with its ``token`` query parameter removed (where the first visit is redirected)."""
        query = [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k != "token"]
        return url.path + (f"?{urlencode(query)}" if query else "")
