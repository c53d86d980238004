"""Whether a simulator answers at the URL a command was given, found out in a second before anything else.

Without this check a command pointed at a simulator that is not running went on to log in, and the login's
patient retries (built for Kite's gateway hiccups at 08:00) spent half a minute against a refused connection.
"""

from __future__ import annotations

from kitekit.errors import SimulatorUnreachableError

__all__ = ["simulator_at"]

#: Seconds to wait for the simulator to accept the connection and to answer.
TIMEOUT = 1.0


def simulator_at(url: str, timeout: float = TIMEOUT) -> str:
    """Return ``url`` once a simulator answers there; one request, no retry.

    Route: ``GET /__sim/info``. Any answer in the simulator's JSON will do, an error included (a simulator
    may want its admin token for that route); a page of some other server will not.

    Raises:
        SimulatorUnreachableError: nothing accepted the connection or answered within ``timeout``, or what
            answered is not a simulator.
    """
    import requests  # imported here: commands that never talk to a simulator do not pay for it

    try:
        with requests.get(f"{url.rstrip('/')}/__sim/info", timeout=timeout, allow_redirects=False) as answer:
            kind = answer.headers.get("content-type", "")
            status = answer.status_code
    except requests.RequestException as exc:
        raise SimulatorUnreachableError(url, _why(exc)) from exc
    if "json" not in kind:
        raise SimulatorUnreachableError(
            url, f"a server answers there, but not a kitekit simulator: HTTP {status}, {kind or 'no content type'}"
        )
    return url


def _why(exc: BaseException) -> str:
    """Return what went wrong in a few words: refused, timed out, unknown host, or the exception's name."""
    import requests

    from kitekit.session.totp import connection_refused

    if isinstance(exc, requests.Timeout):
        return "no answer within a second"
    if isinstance(exc, requests.RequestException) and connection_refused(exc):
        return "connection refused"
    if "Name or service not known" in str(exc) or "getaddrinfo failed" in str(exc):
        return "unknown host"
    return type(exc).__name__
