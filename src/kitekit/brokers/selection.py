"""Which broker a run uses: one for everything, or a data broker and an order broker (the mixed mode).

Highest first: the command's flags (``--broker``, ``--data``, ``--orders``), the environment
(``KITEKIT_BROKER``, ``KITEKIT_DATA_BROKER``, ``KITEKIT_ORDER_BROKER``), a ``.env`` file, then ``config.json``
(``"broker"``, ``"data_broker"``, ``"order_broker"``). The data and order brokers default to the broker, and the
broker to ``kite``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kitekit.config import find_config_file, read_config_object, read_env_file
from kitekit.errors import ConfigError, UnknownBrokerError

__all__ = ["DEFAULT_BROKER", "SELECTION_ENV", "BrokerChoice", "choose_brokers"]

DEFAULT_BROKER = "kite"

#: Setting -> environment variable.
SELECTION_ENV = {
    "broker": "KITEKIT_BROKER",
    "data_broker": "KITEKIT_DATA_BROKER",
    "order_broker": "KITEKIT_ORDER_BROKER",
}
_FLAGS = {"broker": "--broker", "data_broker": "--data", "order_broker": "--orders"}


@dataclass(frozen=True)
class BrokerChoice:
    """The brokers a run uses; ``sources`` says where each choice came from."""

    data: str
    orders: str
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def mixed(self) -> bool:
        """Return True when market data and orders come from two brokers."""
        return self.data != self.orders

    @property
    def names(self) -> tuple[str, ...]:
        """Return the brokers in use, the data broker first, each once."""
        return tuple(dict.fromkeys((self.data, self.orders)))


def choose_brokers(
    known: Collection[str],
    *,
    broker: str | None = None,
    data: str | None = None,
    orders: str | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
) -> BrokerChoice:
    """Return the brokers chosen by flags, environment, ``.env`` and config file (see the module docstring).

    Args:
        known: every broker name kitekit knows (the registry's).
        broker: ``--broker``.
        data: ``--data``.
        orders: ``--orders``.
        config_file: the config file to read instead of the default search.
        env: the environment (default ``os.environ``).
        dotenv_path: the ``.env`` file (default ``./.env`` when present).

    Raises:
        UnknownBrokerError: a name that is not one of ``known`` (the message lists them and says where it was set).
        ConfigError: a file is malformed, or a choice in it is not a string.
    """
    env = os.environ if env is None else env
    found: dict[str, str] = {}
    sources: dict[str, str] = {}

    def layer(values: Mapping[str, Any], label: Mapping[str, str]) -> None:
        for name, value in values.items():
            if name in SELECTION_ENV and value and name not in found:
                if not isinstance(value, str):
                    raise ConfigError(f'{label[name]}: "{name}" must be a broker name in quotes, like "kite".')
                found[name] = value.strip().lower()
                sources[name] = label[name]

    layer({"broker": broker, "data_broker": data, "order_broker": orders}, _FLAGS)
    layer({k: env.get(v) for k, v in SELECTION_ENV.items()}, {k: f"env {v}" for k, v in SELECTION_ENV.items()})
    dotenv_file = dotenv_path or Path.cwd() / ".env"
    if dotenv_file.is_file():
        dotted = read_env_file(dotenv_file)
        layer(
            {k: dotted.get(v) for k, v in SELECTION_ENV.items()},
            {k: f"{dotenv_file} ({v})" for k, v in SELECTION_ENV.items()},
        )
    path = find_config_file(config_file)
    if path is not None:
        layer(read_config_object(path), dict.fromkeys(SELECTION_ENV, f"Config file {path}"))
    for name, value in found.items():
        if value not in known:
            raise UnknownBrokerError(
                f"Unknown broker {value!r} (from {sources[name]}). Choose one of: {', '.join(sorted(known))}."
            )
    main = found.get("broker", DEFAULT_BROKER)
    sources.setdefault("broker", "default")
    for name in ("data_broker", "order_broker"):
        sources.setdefault(name, sources["broker"])
    return BrokerChoice(found.get("data_broker", main), found.get("order_broker", main), sources)
