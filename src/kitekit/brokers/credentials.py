"""Each broker's credentials, found in the same layers as Kite's: arguments, environment, ``.env``, ``config.json``.

A broker declares its fields (:class:`CredentialField`: a name, its environment variable, whether it is a
secret). Kite's are the classic top-level keys of ``config.json`` (``{"api_key": ...}``) and ``KITE_*``
variables, exactly as :func:`kitekit.config.load_settings` reads them; every other broker's live in a section
named after it (``{"upstox": {"api_key": ...}}``) and in variables with its prefix (``UPSTOX_API_KEY``), so one
file holds the credentials of every broker a user has. Values never appear in a repr or a message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kitekit.config import find_config_file, read_config_object, read_env_file, string_settings
from kitekit.errors import ConfigError, CredentialsRequiredError
from kitekit.files import warn_if_tracked
from kitekit.paths import config_dir

__all__ = ["BrokerCredentials", "CredentialField", "load_credentials"]


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One credential a broker takes: its setting name, its environment variable, and whether it is a secret."""

    name: str
    env: str
    secret: bool = False


@dataclass(frozen=True)
class BrokerCredentials:
    """One broker's credentials as found; ``sources`` says where each came from (never the value).

    Args:
        broker: the broker's name.
        label: its name in messages.
        fields: the fields it takes.
        values: the values found, by setting name.
        sources: where each value was found (``env UPSTOX_API_KEY``, a file's path, ``argument``).
        section: the ``config.json`` section its values live in (None: the top level, Kite's).
        config_file: the config file read, if any.
    """

    broker: str
    label: str
    fields: tuple[CredentialField, ...]
    values: Mapping[str, str] = field(repr=False)
    sources: Mapping[str, str] = field(repr=False)
    section: str | None = None
    config_file: Path | None = None

    def get(self, name: str) -> str | None:
        """Return the value of setting ``name``, or None if none was found."""
        return self.values.get(name)

    def source_of(self, name: str) -> str:
        """Return where setting ``name`` came from (``default`` when it was not found)."""
        return self.sources.get(name, "default")

    def require(self, *names: str) -> None:
        """Raise :class:`CredentialsRequiredError` naming every missing setting and where to give it.

        Raises:
            CredentialsRequiredError: one or more of ``names`` were not found.
        """
        missing = [n for n in names if not self.values.get(n)]
        if not missing:
            return
        env_of = {f.name: f.env for f in self.fields}
        keys = ", ".join(f'"{n}"' for n in missing)
        envs = ", ".join(env_of[n] for n in missing)
        inner = ", ".join(f'"{n}": "..."' for n in missing)
        shape = f'{{"{self.section}": {{{inner}}}}}' if self.section else f"{{{inner}}}"
        where = f"add them to {self.config_file}" if self.config_file else f"create {config_dir() / 'config.json'}"
        raise CredentialsRequiredError(
            f"Missing {keys} for {self.label}. Set {envs} in the environment or a .env file, or {where} "
            f"(JSON like {shape})."
        )


def load_credentials(
    broker: str,
    label: str,
    fields: Sequence[CredentialField],
    *,
    section: str | None,
    overrides: Mapping[str, str | None] | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
) -> BrokerCredentials:
    """Find one broker's credentials, highest first: ``overrides``, environment, ``.env``, config file.

    Args:
        broker: the broker's name.
        label: its name in messages.
        fields: the fields it takes.
        section: the ``config.json`` section holding them (None: the top level).
        overrides: explicit values (None entries are ignored).
        config_file: the config file to read instead of the default search.
        env: the environment (default ``os.environ``).
        dotenv_path: the ``.env`` file (default ``./.env`` when present).

    Raises:
        ConfigError: a file is unreadable or malformed, or the broker's section is not a JSON object.
    """
    env = os.environ if env is None else env
    names = [f.name for f in fields]
    values: dict[str, str] = {}
    sources: dict[str, str] = {}

    def layer(found: Mapping[str, str | None], label_of: Mapping[str, str]) -> None:
        for name in names:
            value = found.get(name)
            if value and value.strip() and name not in values:
                values[name] = value.strip()
                sources[name] = label_of[name]

    layer(dict(overrides or {}), dict.fromkeys(names, "argument"))
    layer({f.name: env.get(f.env) for f in fields}, {f.name: f"env {f.env}" for f in fields})
    dotenv_file = dotenv_path or Path.cwd() / ".env"
    if dotenv_file.is_file():
        dotted = read_env_file(dotenv_file)
        layer({f.name: dotted.get(f.env) for f in fields}, {f.name: f"{dotenv_file} ({f.env})" for f in fields})
        warn_if_tracked(dotenv_file)
    path = find_config_file(config_file)
    if path is not None:
        layer(_section(path, section, names), dict.fromkeys(names, str(path)))
        warn_if_tracked(path)
    return BrokerCredentials(broker, label, tuple(fields), values, sources, section, path)


def _section(path: Path, section: str | None, names: Sequence[str]) -> dict[str, str]:
    raw: Any = read_config_object(path)
    where = str(path)
    if section is not None:
        raw = raw.get(section, {})
        where = f'{path} ("{section}")'
        if not isinstance(raw, dict):
            raise ConfigError(
                f'Config file {path}: "{section}" must be a JSON object of its credentials, '
                f'like {{"{section}": {{"api_key": "..."}}}}.'
            )
    return string_settings(raw, names, where)
