"""The exception tree of kitekit: local conditions, each with a message that says what to do next.

Kite's own errors stay the official SDK's classes (``kiteconnect.exceptions.TokenException`` and friends),
because users already catch them. Everything kitekit raises for a *local* reason derives from
:class:`KitekitError`::

    KitekitError
    ├── ConfigError                 missing or malformed configuration / credentials
    │   ├── CredentialsRequiredError   no credentials and no simulator chosen
    │   ├── UnknownBrokerError      a broker name kitekit does not know (``--broker``, ``KITEKIT_BROKER``)
    │   └── BrokerUnavailableError  a broker kitekit knows but has not built yet
    ├── BrokerFeatureError          an operation the chosen broker does not offer (a login flow, an extra)
    ├── SessionError
    │   ├── NoSessionError          nothing saved yet: run `kitekit login`
    │   ├── SessionExpiredError     the saved token expired or was invalidated (also the SDK's
    │   │                           TokenException, so existing handlers catch it)
    │   └── LoginError              the login flow failed (status, state, timeout, exchange)
    │       └── SessionSaveError    (also OSError) Kite accepted the login, but the session file could not
    │                               be written (a full disk, permissions): the CLI's files error
    ├── InstrumentError
    │   ├── UnknownInstrumentError  no such symbol; lists the closest matches
    │   └── AmbiguousInstrumentError   several instruments match; lists them
    ├── InstrumentCacheError        a cached dump is corrupt or truncated
    ├── HistoryRangeError           bad dates, interval or flags for historical candles (also ValueError)
    ├── CandleStoreError            the local candle store cannot be used (another process holds it, a
    │                               newer format)
    ├── PartialDataError            some keys of a batched call could not be fetched
    ├── SimulatorUnreachableError   no simulator answers at the URL a command was given
    ├── RejectionError              a request refused the way Kite refuses it (error_type, message, HTTP
    │                               status): defined in kitekit.wire.envelope, beside ErrorType
    ├── OrderError                  an order could not be handled locally
    │   ├── OrderValidationError    (also ValueError) a request breaks a pre-trade rule; names the rule and
    │   │                           the nearest valid value, nothing was sent
    │   ├── OrderInDoubtError       an order may or may not be at the exchange and could not be looked up
    │   ├── OrderBudgetError        the day's order budget (5,000) is spent
    │   ├── OrderStateError         the order is in a state that does not allow the change (a fill to cancel)
    │   ├── IntentConflictError     an intent id or tag reused for a different order
    │   ├── JournalError            the intent journal or the paper ledger cannot be used
    │   └── RiskLimitError          a strategy's order refused by its run's risk limits (names the limit)
    ├── AlertValidationError        (also ValueError) an alert Kite would refuse (a field, an instrument, the
    │                               200-alert cap); nothing was sent
    ├── TickError                   (also ValueError) the WebSocket ticker's codec refused something
    │   ├── TickFrameError          a binary frame is truncated or inconsistent: no tick is returned
    │   ├── TickValueError          a value the official SDK would misread was given to the encoder
    │   └── TickMessageError        a text message (subscribe, mode, an order update) is malformed
    ├── BusError                    the shared bus (Redis) cannot be used as asked
    │   ├── BusUnavailableError     the bus server cannot be reached (the pacer refuses instead of sending
    │   │                           unpaced), or no redis-server / redis client is installed
    │   └── FellBehindError         a bus consumer fell further behind than the stream keeps: the ticks it
    │                               lost are counted and reported, never skipped silently
    ├── TickerError                 streaming cannot go on as asked: more instruments than Kite's
    │                               connections carry, a tick recording that cannot be read
    ├── SimWorldError               (also ValueError) a simulated world cannot be opened as asked (an
    │                               instant it has already left behind, another kind of clock)
    └── RunError                    a strategy run cannot start or go on as asked (killed, a strategy file
                                    without a strategy, a mode it may not run in)

This module imports nothing else of kitekit: it is the ground floor every layer stands on. That is why
:class:`~kitekit.wire.envelope.RejectionError`, which carries Kite's ``ErrorType``, lives beside it in
``wire/`` and is drawn above only to show where it belongs in the tree.

Messages never contain an api_secret, access_token, request_token or TOTP secret.

Importing this module is cheap on purpose: every command imports it, and ``import kiteconnect`` pulls in
Twisted (~0.2 s). :class:`SessionExpiredError`, the one class built on the SDK's ``TokenException``, is
created on first use (module ``__getattr__``), when the SDK is needed anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

__all__ = [
    "PAPER_REFUSAL_NOTE",
    "AlertValidationError",
    "AmbiguousInstrumentError",
    "BrokerFeatureError",
    "BrokerUnavailableError",
    "BusError",
    "BusUnavailableError",
    "CandleStoreError",
    "ConfigError",
    "CredentialsRequiredError",
    "FellBehindError",
    "HistoryRangeError",
    "InstrumentCacheError",
    "InstrumentError",
    "IntentConflictError",
    "JournalError",
    "KitekitError",
    "LoginError",
    "NoSessionError",
    "OrderBudgetError",
    "OrderError",
    "OrderInDoubtError",
    "OrderStateError",
    "OrderValidationError",
    "PartialDataError",
    "RiskLimitError",
    "RunError",
    "SessionError",
    "SessionExpiredError",
    "SessionSaveError",
    "SimWorldError",
    "SimulatorUnreachableError",
    "TickError",
    "TickFrameError",
    "TickMessageError",
    "TickValueError",
    "TickerError",
    "UnknownBrokerError",
    "UnknownInstrumentError",
]

#: The note (``BaseException.add_note``) on every SDK exception the paper broker raises for a refusal, so that
#: a caller and the CLI can tell it from an answer of Kite's own: nothing was sent to Kite.
PAPER_REFUSAL_NOTE = "refused by kitekit's paper broker, by Kite's rules; nothing was sent to Kite"


class KitekitError(Exception):
    """Base of every error kitekit raises for a local reason."""


class ConfigError(KitekitError):
    """Configuration or credentials are missing or malformed."""


class CredentialsRequiredError(ConfigError):
    """No Kite credentials were found and the simulator was not chosen explicitly."""


class UnknownBrokerError(ConfigError):
    """A broker name that is not one of kitekit's (the message lists them)."""


class BrokerUnavailableError(ConfigError):
    """A broker kitekit knows of but cannot use yet: its adapter is not built (or not installed)."""


class BrokerFeatureError(KitekitError):
    """The chosen broker does not offer this operation (a login flow, GTT, alerts); the message says what does."""


class SessionError(KitekitError):
    """Base of session problems."""


class NoSessionError(SessionError):
    """No saved session exists yet."""


class LoginError(SessionError):
    """The login flow did not produce a session."""


class SessionSaveError(LoginError, OSError):
    """Kite accepted the login, but the session could not be saved (a full disk, no permission).

    Also an ``OSError`` (with the failure's ``errno``), so it reads as the file problem it is; catching
    :class:`LoginError` still catches it.
    """


class InstrumentError(KitekitError):
    """Base of instrument lookup problems."""


class UnknownInstrumentError(InstrumentError, KeyError):
    """No instrument matches; ``suggestions`` holds the closest known names."""

    def __init__(self, query: str, suggestions: Sequence[str] = ()) -> None:
        self.query = query
        self.suggestions = list(suggestions)
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"Unknown instrument {query!r}.{hint}")

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes.
        return str(self.args[0])


class AmbiguousInstrumentError(InstrumentError):
    """Several instruments match; ``candidates`` lists them as ``EXCHANGE:SYMBOL``."""

    def __init__(self, query: str, candidates: Sequence[str]) -> None:
        self.query = query
        self.candidates = list(candidates)
        super().__init__(
            f"{query!r} is ambiguous: it matches {', '.join(self.candidates)}. Name one as EXCHANGE:TRADINGSYMBOL."
        )


class InstrumentCacheError(KitekitError):
    """A cached instruments dump failed its integrity check."""


class HistoryRangeError(KitekitError, ValueError):
    """Historical candles were asked for with bad dates, an unknown interval or flags the instrument cannot take.

    The message says what is allowed.
    """


class CandleStoreError(KitekitError):
    """The local candle store cannot be opened or written; the message says why and what to do."""


class PartialDataError(KitekitError):
    """Some keys of a batched request could not be fetched.

    ``data`` holds what was fetched; ``missing`` maps each missing key to its reason.
    """

    def __init__(self, data: Mapping[str | int, object], missing: Mapping[str | int, str]) -> None:
        self.data = dict(data)
        self.missing = dict(missing)
        shown = "; ".join(f"{k}: {v}" for k, v in list(self.missing.items())[:5])
        more = f" (and {len(self.missing) - 5} more)" if len(self.missing) > 5 else ""
        super().__init__(f"{len(self.missing)} of {len(self.data) + len(self.missing)} keys missing: {shown}{more}")


class OrderError(KitekitError):
    """Base of the order side's local conditions (validation, journal, budgets, order states)."""


class OrderValidationError(OrderError, ValueError):
    """A request breaks a pre-trade rule; nothing was sent.

    ``rule`` names the rule (a ``kitekit.orders.Rule`` value such as ``"tick"``), ``field`` the parameter and
    ``nearest`` the nearest valid value (None when there is none to offer).
    """

    def __init__(self, rule: str, message: str, field: str = "", nearest: object = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.field = field
        self.nearest = nearest


class OrderInDoubtError(OrderError):
    """An order may or may not have reached the exchange, and looking it up by its tag failed too.

    Nothing is sent again until a lookup settles it: calling ``place`` again with the same intent id (or
    ``reconcile()``) looks it up first. ``intent_id`` and ``tag`` name it.
    """

    def __init__(self, message: str, intent_id: str = "", tag: str = "") -> None:
        super().__init__(message)
        self.intent_id = intent_id
        self.tag = tag


class OrderBudgetError(OrderError):
    """The local order budget is spent (Kite allows 5,000 orders a day per user); the message says until when."""


class OrderStateError(OrderError):
    """An order's state does not allow what was asked (modifying or cancelling a filled or rejected order)."""


class IntentConflictError(OrderError):
    """An intent id was reused for a different order, or a tag is already another intent's today."""


class JournalError(OrderError):
    """The intent journal or the paper ledger cannot be read or written; the message says which file and why.

    A damaged journal is never replaced silently: it is the record of which orders may be at the exchange.
    """


class AlertValidationError(KitekitError, ValueError):
    """An alert Kite's alerts API would refuse; nothing was sent. ``field`` names the form field at fault."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class RiskLimitError(OrderError):
    """A strategy's order was refused by its run's risk limits; nothing was sent.

    ``limit`` names the limit (``max_order_value``, ``reducing_only``, ``halted``, …), as the run's settings
    spell it.
    """

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


class TickError(KitekitError, ValueError):
    """Base of the ticker codec's refusals: binary frames (docs/protocol.md §15.3-§15.5) and text messages."""


class TickFrameError(TickError):
    """A binary tick frame is truncated or inconsistent, so none of its ticks can be trusted.

    ``offset`` is the byte of the frame where the problem was found.
    """

    def __init__(self, message: str, offset: int) -> None:
        self.offset = offset
        super().__init__(message)


class TickValueError(TickError):
    """The encoder was given a value the official SDK would misread (negative, too big, off the price grid).

    ``field`` names the column and ``row`` the tick (its index in the frame).
    """

    def __init__(self, message: str, field: str = "", row: int = -1) -> None:
        self.field = field
        self.row = row
        super().__init__(message)


class TickMessageError(TickError):
    """A ticker text message is malformed (§15.2, §15.8); the message says what a valid one looks like."""


class SimulatorUnreachableError(KitekitError):
    """No simulator answers at ``url`` (``why`` says how it failed); the message says how to start one."""

    def __init__(self, url: str, why: str) -> None:
        from urllib.parse import urlsplit

        port = urlsplit(url).port
        start = f"`kitekit sim --port {port}`" if port else "`kitekit sim`"
        super().__init__(
            f"No simulator answers at {url} ({why}). Start one with {start}, or drop --sim-url and KITE_SIM_URL "
            "to use the embedded simulator (--sim)."
        )
        self.url = url
        self.why = why


class BusError(KitekitError):
    """The shared bus (Redis) cannot be used as asked."""


class BusUnavailableError(BusError):
    """The bus server cannot be reached, or no ``redis-server`` / ``redis`` client is installed."""


class FellBehindError(BusError):
    """A bus consumer fell further behind than the stream keeps; ``lost`` ticks' frames are gone.

    Args:
        message: what happened and what to do.
        lost: how many frames (sequence numbers) were no longer in the stream.
    """

    def __init__(self, message: str, lost: int) -> None:
        super().__init__(message)
        self.lost = lost


class TickerError(KitekitError):
    """Streaming cannot go on as asked: more instruments than Kite's connections carry, an unreadable recording."""


if TYPE_CHECKING:
    from kiteconnect.exceptions import TokenException

    class SessionExpiredError(SessionError, TokenException):  # type: ignore[misc]
        """The saved access token expired or Kite rejected it (also the SDK's ``TokenException``, code 403)."""

        def __init__(self, message: str) -> None: ...

else:

    def __getattr__(name: str) -> Any:
        if name == "SessionExpiredError":
            return _session_expired_error()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _session_expired_error() -> type[SessionError]:
    """Build :class:`SessionExpiredError` once, when first asked for."""
    cached = globals().get("SessionExpiredError")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    from kiteconnect.exceptions import TokenException

    class SessionExpiredError(SessionError, TokenException):  # type: ignore[misc]
        """The saved access token expired or Kite rejected it.

        It is also a ``kiteconnect.exceptions.TokenException`` (code 403), so code that already catches the
        SDK's exception keeps working and sees our message, which says how to log in again.
        """

        def __init__(self, message: str) -> None:
            TokenException.__init__(self, message, code=403)

    SessionExpiredError.__module__ = __name__
    SessionExpiredError.__qualname__ = "SessionExpiredError"
    globals()["SessionExpiredError"] = SessionExpiredError  # later lookups skip __getattr__
    return SessionExpiredError


class SimWorldError(KitekitError, ValueError):
    """A simulated world cannot be opened as asked; the message says how (usually: add ``--fresh``)."""


class RunError(KitekitError):
    """A strategy run cannot start or go on as asked: it was killed, its file holds no strategy, a bad parameter."""
