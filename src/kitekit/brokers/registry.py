"""Where a broker plugs in: its name, its credentials, and the function that opens it.

Each :class:`BrokerEntry` names the module and function that build its :class:`~kitekit.brokers.broker.Broker`
(imported only when that broker is opened, so choosing Kite never imports another broker's SDK). A broker
kitekit knows of but has not built yet has no opener: choosing it is a configuration error (exit code 5) that
says so, rather than a failure somewhere later. Upstox and Angel One plug in by giving their entry an opener.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from kitekit.brokers.credentials import BrokerCredentials, CredentialField, load_credentials
from kitekit.brokers.selection import BrokerChoice, choose_brokers
from kitekit.config import ENV_VARS, SECRET_FIELDS
from kitekit.errors import BrokerUnavailableError, UnknownBrokerError

if TYPE_CHECKING:
    from kitekit.brokers.broker import Broker, BrokerPair
    from kitekit.clock import Clock

__all__ = ["REGISTRY", "BrokerEntry", "OpenOptions", "entry", "open_broker", "open_pair", "register"]


@dataclass(frozen=True)
class OpenOptions:
    """What opening a broker may be given besides its credentials.

    Args:
        overrides: explicit credential values (``--api-key`` and the like).
        config_file: the config file to read instead of the default search.
        clock: the time source (a simulator's market clock against a simulator).
        login_hint: the command users are told to run to log in again.
        cache_dir: where its instrument lists are cached (default: the kitekit cache dir).
        env: the environment (default ``os.environ``).
    """

    overrides: Mapping[str, str | None] = field(default_factory=dict)
    config_file: Path | None = None
    clock: Clock | None = None
    login_hint: str | None = None
    cache_dir: Path | None = None
    env: Mapping[str, str] | None = None


#: Opens a broker from its credentials and the options.
Opener = Callable[[BrokerCredentials, OpenOptions], "Broker"]


@dataclass(frozen=True)
class BrokerEntry:
    """One broker kitekit knows.

    Args:
        name: its name in configuration (``--broker NAME``).
        label: its name in messages.
        credentials: the fields it takes.
        required: the fields it cannot open without.
        section: its ``config.json`` section (None: the top level, Kite's classic keys).
        opener: ``module:function`` of its opener (``(BrokerCredentials, OpenOptions) -> Broker``); None: not
            built yet.
    """

    name: str
    label: str
    credentials: tuple[CredentialField, ...]
    required: tuple[str, ...]
    section: str | None
    opener: str | None = None

    @property
    def available(self) -> bool:
        """Return True if this kitekit can open the broker."""
        return self.opener is not None

    def require_available(self) -> None:
        """Raise :class:`BrokerUnavailableError` unless the broker can be opened.

        Raises:
            BrokerUnavailableError: it has no opener yet.
        """
        if self.opener is None:
            ready = ", ".join(sorted(e.name for e in REGISTRY.values() if e.available))
            raise BrokerUnavailableError(
                f"{self.label} is not available in this kitekit yet: its adapter is not built. "
                f"Choose one that is ({ready}) with --broker or KITEKIT_BROKER."
            )

    def open_function(self) -> Opener:
        """Return the opener (importing its module).

        Raises:
            BrokerUnavailableError: it has no opener yet.
        """
        self.require_available()
        module, _, function = (self.opener or "").partition(":")
        opener: Opener = getattr(importlib.import_module(module), function)
        return opener


def _prefixed(prefix: str, *names: str, secrets: frozenset[str]) -> tuple[CredentialField, ...]:
    return tuple(CredentialField(n, f"{prefix}_{n.upper()}", n in secrets) for n in names)


#: Every broker kitekit knows, by name.
REGISTRY: dict[str, BrokerEntry] = {}


def register(broker: BrokerEntry) -> BrokerEntry:
    """Add ``broker`` to the registry, or replace the entry of that name (a broker becoming available)."""
    REGISTRY[broker.name] = broker
    return broker


def entry(name: str) -> BrokerEntry:
    """Return the registry's entry for ``name``.

    Raises:
        UnknownBrokerError: kitekit knows no such broker (the message lists those it does).
    """
    try:
        return REGISTRY[name.strip().lower()]
    except KeyError:
        raise UnknownBrokerError(f"Unknown broker {name!r}. Choose one of: {', '.join(sorted(REGISTRY))}.") from None


def credentials_of(broker: BrokerEntry, options: OpenOptions) -> BrokerCredentials:
    """Return the broker's credentials found in the usual layers (see :mod:`kitekit.brokers.credentials`)."""
    return load_credentials(
        broker.name,
        broker.label,
        broker.credentials,
        section=broker.section,
        overrides=options.overrides,
        config_file=options.config_file,
        env=options.env,
    )


def open_broker(name: str, options: OpenOptions | None = None) -> Broker:
    """Open broker ``name`` with its credentials.

    Raises:
        UnknownBrokerError: no such broker.
        BrokerUnavailableError: a broker not built yet.
        CredentialsRequiredError: a required credential is missing (the message names it and where to set it).
    """
    options = options or OpenOptions()
    broker = entry(name)
    opener = broker.open_function()
    found = credentials_of(broker, options)
    found.require(*broker.required)
    return opener(found, options)


def choose(
    broker: str | None = None,
    data: str | None = None,
    orders: str | None = None,
    options: OpenOptions | None = None,
) -> BrokerChoice:
    """Return the brokers chosen by flags, environment, ``.env`` and config file, each checked available.

    Raises:
        UnknownBrokerError: a name kitekit does not know.
        BrokerUnavailableError: a broker not built yet.
    """
    options = options or OpenOptions()
    choice = choose_brokers(
        REGISTRY, broker=broker, data=data, orders=orders, config_file=options.config_file, env=options.env
    )
    for name in choice.names:
        REGISTRY[name].require_available()
    return choice


def open_pair(choice: BrokerChoice, options: OpenOptions | None = None) -> BrokerPair:
    """Open the data broker and the order broker of ``choice`` (one broker when they are the same)."""
    from kitekit.brokers.broker import BrokerPair

    data = open_broker(choice.data, options)
    orders = data if choice.orders == choice.data else open_broker(choice.orders, options)
    return BrokerPair(data, orders)


KITE = register(
    BrokerEntry(
        name="kite",
        label="Kite Connect",
        credentials=tuple(CredentialField(n, v, n in SECRET_FIELDS) for n, v in ENV_VARS.items()),
        required=("api_key",),
        section=None,
        opener="kitekit.brokers.kite.broker:open_kite",
    )
)
UPSTOX = register(
    BrokerEntry(
        name="upstox",
        label="Upstox",
        credentials=_prefixed(
            "UPSTOX",
            "api_key",
            "api_secret",
            "redirect_url",
            "access_token",
            "user_id",
            "pin",
            "totp_secret",
            "webhook_url",
            "base_url",
            "order_url",
            "dump_url",
            secrets=frozenset({"api_secret", "access_token", "pin", "totp_secret"}),
        ),
        required=("api_key", "api_secret"),
        section="upstox",
        opener="kitekit.brokers.upstox.broker:open_upstox",
    )
)
ANGEL = register(
    BrokerEntry(
        name="angel",
        label="Angel One SmartAPI",
        credentials=_prefixed(
            "ANGEL",
            "api_key",
            "client_code",
            "pin",
            "totp_secret",
            "root",
            secrets=frozenset({"pin", "totp_secret"}),
        ),
        required=("api_key", "client_code", "pin", "totp_secret"),
        section="angel",
        opener="kitekit.brokers.angel.broker:open_angel",
    )
)


def with_opener(name: str, opener: str) -> BrokerEntry:
    """Make broker ``name`` available by giving it an opener (``module:function``); return its new entry."""
    return register(replace(entry(name), opener=opener))
