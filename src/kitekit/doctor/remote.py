"""The checks of ``kitekit doctor`` that ask Kite (or the simulator): the session, the clock, the static-IP rule.

Each asks at most one question, with a short timeout, and says what it asked (the route). A network failure
is a finding like any other, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from kitekit.clock import IST, Clock
from kitekit.doctor.findings import Finding, Status

if TYPE_CHECKING:
    from kitekit.session.record import SavedSession, SessionStore

__all__ = [
    "CLOCK_TOLERANCE",
    "RENEW_WITHIN",
    "STATIC_IP_RULE",
    "ServerTime",
    "clock_offset",
    "kite_date",
    "parse_http_date",
    "session",
    "simulator_info",
    "simulator_time",
    "static_ip",
]

#: A session with less left than this is worth renewing now (Kite flushes every token at 06:00 IST).
RENEW_WITHIN = timedelta(hours=1)
#: Seconds the local clock may differ from the server's before it is reported. TOTP codes live 30 s and Kite's
#: order limit counts calendar seconds, so a few seconds already matter.
CLOCK_TOLERANCE = 2.0
#: Seconds to wait for Kite or a simulator to answer one check's question.
TIMEOUT = 5.0

#: Kite's static-IP rule, as Zerodha announced it for 1 April 2026 (SEBI's retail-algo framework): the
#: place, modify and cancel routes answer only registered addresses; every other route answers any address.
STATIC_IP_RULE = (
    "since 1 April 2026 Kite accepts orders (place, modify, cancel) only from the static IP addresses "
    "registered for your account; quotes, the order book, positions and the WebSocket work from any address"
)
_REGISTER = (
    "register this machine's public address at developers.kite.trade › Profile › IP Whitelist (a primary and "
    "an optional secondary; the exchange allows one change a week), from a static IP of your ISP, cloud or VPN"
)


def session(
    store: SessionStore,
    api_key: str,
    now: datetime,
    verify: Callable[[], object],
    login_hint: str,
) -> Finding:
    """Check the saved session: present, readable, not expired, and accepted by Kite now.

    Route: ``GET /user/profile`` (through ``verify``, only when the saved session is not known to be dead).

    Args:
        store: where the session is saved.
        api_key: the api_key in use (a session saved for another is not this one's).
        now: the run's time (a simulator's market time on a simulator).
        verify: asks Kite whether the saved token is accepted; raises the SDK's ``TokenException`` when not.
        login_hint: the command that logs in.
    """
    try:
        saved = store.load()
    except OSError as exc:
        return Finding.fail(
            "session",
            f"{store.path} cannot be read ({exc.strerror or exc})",
            f"`chmod 600 {store.path}`, or remove it and log in again: `{login_hint}`",
        )
    if saved is not None and saved.api_key != api_key:
        saved = None
    if saved is None:
        if store.damage is not None:
            return Finding.fail(
                "session",
                f"the session file {store.path} is damaged ({store.damage})",
                f"log in again, which replaces it: `{login_hint}`",
            )
        return Finding.fail("session", f"no saved session for api_key {api_key}", f"log in: `{login_hint}`")
    who = f"{saved.user_id} ({saved.user_name})"
    if saved.dead:
        return Finding.fail("session", f"Kite rejected the saved token of {who}", f"log in again: `{login_hint}`")
    if saved.is_expired(now):
        return Finding.fail(
            "session", f"the session of {who} expired at {_ist(saved.expires_at)}", f"log in again: `{login_hint}`"
        )
    return _verified(saved, who, now, verify, login_hint)


def _verified(saved: SavedSession, who: str, now: datetime, verify: Callable[[], object], login_hint: str) -> Finding:
    import requests
    from kiteconnect.exceptions import KiteException, TokenException

    left = saved.expires_at - now
    expiry = f"expires {_ist(saved.expires_at)} (in {_span(left)})"
    try:
        verify()
    except TokenException:
        return Finding.fail(
            "session", f"Kite rejected the saved token of {who} just now", f"log in again: `{login_hint}`"
        )
    except (KiteException, requests.RequestException) as exc:
        return Finding.warn(
            "session",
            f"{who}, {expiry}; Kite could not confirm it ({type(exc).__name__}: {exc})",
            "check the network and run `kitekit doctor` again",
        )
    if left < RENEW_WITHIN:
        return Finding.warn(
            "session",
            f"{who}, valid but {expiry}",
            f"log in again now: `{login_hint}` (a cron line `0 8 * * 1-5 kitekit login --if-needed --totp` "
            "renews it every trading morning)",
        )
    return Finding.ok("session", f"{who}, {expiry}; Kite accepted it just now (GET /user/profile)")


def _ist(moment: datetime) -> str:
    return f"{moment.astimezone(IST):%Y-%m-%d %H:%M} IST"


def _span(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds()) // 60)
    return f"{minutes // 60}h {minutes % 60:02d}m"


@dataclass(frozen=True)
class ServerTime:
    """What a server said the time was, and when (by the local clock) the question left and the answer came.

    Attributes:
        told: the server's time; the true time lay in ``[told, told + resolution)`` when it answered.
        resolution: seconds the server's stamp may lag (1.0 for an HTTP ``Date`` header, 0 for an exact time).
        sent: the local time just before asking.
        received: the local time just after the answer.
        source: what told it, for the message (``Kite's Date header``).
    """

    told: datetime
    resolution: float
    sent: datetime
    received: datetime
    source: str


def kite_date(root: str, wall: Clock, timeout: float = TIMEOUT) -> ServerTime | None:
    """Ask Kite for its time: the ``Date`` header of one request to the API root; None when it sends none.

    Route: ``GET /`` (no credentials: any answer carries the header).

    Raises:
        requests.RequestException: Kite could not be reached.
    """
    import requests

    sent = wall.now()
    with requests.get(root.rstrip("/") + "/", timeout=timeout, allow_redirects=False, stream=True) as answer:
        received = wall.now()
        header = answer.headers.get("Date")
    told = parse_http_date(header)
    return None if told is None else ServerTime(told, 1.0, sent, received, "Kite's Date header")


def parse_http_date(header: str | None) -> datetime | None:
    """Return the instant an HTTP ``Date`` header names (``Fri, 27 Nov 2026 05:30:00 GMT``), None if it names none."""
    if not header:
        return None
    try:
        told = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    if told.tzinfo is None:
        return None  # "-0000": RFC 5322's "no zone information"; an HTTP Date is always GMT
    return told


def simulator_time(url: str, clock: Clock, timeout: float = TIMEOUT) -> ServerTime:
    """Ask a simulator for its market time (exact), timed on the client's clock of it.

    Route: ``GET /__sim/info`` (the simulator's admin API).

    Raises:
        requests.RequestException: nothing answered.
        ValueError: what answered is not a simulator telling its time.
    """
    info, sent, received = simulator_info(url, clock, timeout)
    return ServerTime(datetime.fromisoformat(str(info["now"])), 0.0, sent, received, "the simulator's clock")


def simulator_info(url: str, clock: Clock, timeout: float = TIMEOUT) -> tuple[Mapping[str, Any], datetime, datetime]:
    """Return the ``data`` of a simulator's ``GET /__sim/info``, and the times (on ``clock``) around the question.

    Raises:
        requests.RequestException: nothing answered.
        ValueError: what answered is not a simulator's info.
    """
    import requests

    sent = clock.now()
    answer = requests.get(url.rstrip("/") + "/__sim/info", timeout=timeout)
    received = clock.now()
    try:
        data = answer.json()["data"]
        if not isinstance(data, dict) or "now" not in data:
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{url} did not answer as a kitekit simulator (HTTP {answer.status_code})") from None
    return data, sent, received


def clock_offset(server: ServerTime, *, on_simulator: bool) -> Finding:
    """Judge how far the local clock is from the server's, allowing for the round trip and the stamp's resolution.

    The server stamped its answer at some moment between ``sent`` and ``received``; with a whole-second ``Date``
    header, the true time then lay in the second it names. The offset is measured to the middle of both, and
    only what lies beyond both uncertainties (and :data:`CLOCK_TOLERANCE`) is reported.
    """
    rtt = (server.received - server.sent).total_seconds()
    local_mid = server.sent + timedelta(seconds=rtt / 2)
    server_mid = server.told + timedelta(seconds=server.resolution / 2)
    ahead = (local_mid - server_mid).total_seconds()  # > 0: the local clock runs ahead of the server's
    slack = server.resolution / 2 + rtt / 2
    which = "the client's clock of the simulator (one clock)" if on_simulator else "this machine's clock"
    if abs(ahead) - slack <= CLOCK_TOLERANCE:
        return Finding.ok(
            "clock", f"{which} agrees with {server.source} ({_ist_seconds(server.told)}) to within {slack:.2f} s"
        )
    direction = "ahead of" if ahead > 0 else "behind"
    detail = f"{which} is {abs(ahead):.1f} s {direction} {server.source} ({_ist_seconds(server.told)})"
    if on_simulator:
        fix = (
            "run the command again: a client reads the simulator's clock when it starts (was the simulator restarted?)"
        )
    else:
        fix = (
            "turn on network time (`sudo timedatectl set-ntp true` on Linux; Settings › Time › Set automatically "
            "on macOS and Windows): TOTP codes, session expiry and the per-second order limit depend on it"
        )
    # Beyond 30 s a TOTP code is refused at the login; below that things still work, just not on time.
    return Finding("clock", Status.FAIL if abs(ahead) > 30 else Status.WARN, detail, fix)


def _ist_seconds(moment: datetime) -> str:
    return f"{moment.astimezone(IST):%Y-%m-%d %H:%M:%S} IST"


def static_ip(on_simulator: bool, allowed: list[str] | None = None) -> Finding:
    """Explain Kite's static-IP rule, or how the simulator applies it.

    Args:
        on_simulator: the run talks to a simulator.
        allowed: the addresses the simulator accepts orders from (None or empty: any).
    """
    if not on_simulator:
        return Finding("static IP", Status.INFO, STATIC_IP_RULE, _REGISTER)
    if allowed:
        detail = f"the simulator accepts orders only from {', '.join(allowed)}, as Kite does from registered IPs"
        return Finding("static IP", Status.INFO, detail)
    return Finding(
        "static IP",
        Status.INFO,
        "the simulator accepts orders from any address; Kite does only from your registered static IPs",
        "rehearse Kite's rule with `kitekit sim --allowed-ips ADDRESS …`",
    )
