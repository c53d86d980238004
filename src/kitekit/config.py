"""Credentials and settings: explicit arguments, then environment, then ``.env``, then a config file.

The config file is the ``{"api_key", "api_secret", "access_token"}`` JSON that Kite users already keep as
``config.json``; extra keys (``user_id``, ``password``, ``totp_secret``, ``redirect_url``, ``login_url``,
``root``) are optional. Secrets are never part of a repr, a log line or an error message. Where files live is
:mod:`kitekit.paths` (``cache_dir``, ``config_dir`` and ``data_dir`` are importable from here too).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from kitekit.errors import ConfigError, CredentialsRequiredError
from kitekit.files import warn_if_tracked
from kitekit.paths import cache_dir, config_dir, data_dir

__all__ = [
    "DEFAULT_LOGIN_URL",
    "DEFAULT_REDIRECT_URL",
    "DEFAULT_ROOT",
    "ENV_VARS",
    "SECRET_FIELDS",
    "URL_SETTINGS",
    "Settings",
    "cache_dir",
    "check_url",
    "config_dir",
    "data_dir",
    "find_config_file",
    "load_settings",
    "read_config_object",
    "read_env_file",
    "string_settings",
]

DEFAULT_ROOT = "https://api.kite.trade"
DEFAULT_LOGIN_URL = "https://kite.zerodha.com/connect/login"
#: Register this as your Kite app's redirect URL (or set KITE_REDIRECT_URL to what you registered).
DEFAULT_REDIRECT_URL = "http://127.0.0.1:5055/callback"

#: Setting name -> environment variable.
ENV_VARS: dict[str, str] = {
    "api_key": "KITE_API_KEY",
    "api_secret": "KITE_API_SECRET",
    "access_token": "KITE_ACCESS_TOKEN",
    "user_id": "KITE_USER_ID",
    "password": "KITE_PASSWORD",
    "totp_secret": "KITE_TOTP_SECRET",
    "redirect_url": "KITE_REDIRECT_URL",
    "login_url": "KITE_LOGIN_URL",
    "root": "KITE_ROOT",
}
SECRET_FIELDS = frozenset({"api_secret", "access_token", "password", "totp_secret"})


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``sources`` says where each value came from, for messages (never the value)."""

    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    user_id: str | None = None
    password: str | None = field(default=None, repr=False)
    totp_secret: str | None = field(default=None, repr=False)
    redirect_url: str = DEFAULT_REDIRECT_URL
    login_url: str = DEFAULT_LOGIN_URL
    root: str = DEFAULT_ROOT
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def require(self, *names: str) -> None:
        """Raise :class:`CredentialsRequiredError` naming every missing setting and how to provide it."""
        missing = [n for n in names if not getattr(self, n)]
        if not missing:
            return
        where = f"add them to {self.config_file}" if self.config_file else f"create {config_dir() / 'config.json'}"
        keys = ", ".join(f'"{n}"' for n in missing)
        envs = ", ".join(ENV_VARS[n] for n in missing)
        raise CredentialsRequiredError(
            f"Missing {keys}. Set {envs} in the environment or a .env file, or {where} "
            f'(JSON like {{"api_key": "...", "api_secret": "..."}}). To try kitekit without a Kite account, '
            "run the command with --sim (or set KITE_SIM=1) to use the built-in simulator."
        )

    def source_of(self, name: str) -> str:
        """Return where a setting came from (``env KITE_API_KEY``, ``/path/config.json``, ``default``)."""
        return self.sources.get(name, "default")


def find_config_file(explicit: Path | None = None) -> Path | None:
    """Return the config file to read: explicit, ``KITE_CONFIG``, ``./config.json``, then the user config dir.

    Raises:
        ConfigError: an explicitly named file does not exist.
    """
    named = explicit or (Path(os.environ["KITE_CONFIG"]) if os.environ.get("KITE_CONFIG") else None)
    if named is not None:
        if named.is_dir():
            raise ConfigError(f"Config file {named} is a directory. Point --config/KITE_CONFIG at a JSON file.")
        if not named.is_file():
            raise ConfigError(f"Config file {named} does not exist. Create it or point --config/KITE_CONFIG elsewhere.")
        return named
    for candidate in (Path.cwd() / "config.json", config_dir() / "config.json"):
        if candidate.is_file():
            return candidate
    return None


def read_config_object(path: Path) -> dict[str, Any]:
    """Return a config file's JSON object as it is (every key; other brokers' sections too).

    Raises:
        ConfigError: the file cannot be read, is not UTF-8, is not JSON, or holds something other than an object.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror}.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"Config file {path} is not UTF-8 text (byte {exc.start}). Save it as UTF-8 JSON, "
            'like {"api_key": "...", "api_secret": "..."}.'
        ) from None
    try:
        raw: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"Config file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
            'It should look like {"api_key": "...", "api_secret": "..."}.'
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"Config file {path} must hold a JSON object, not a {type(raw).__name__}. "
            'It should look like {"api_key": "...", "api_secret": "..."}.'
        )
    return raw


def string_settings(raw: Mapping[str, Any], known: Iterable[str], where: str) -> dict[str, str]:
    """Return the ``known`` keys of a config object that hold text, stripped; None and blank ones left out.

    Raises:
        ConfigError: a known key holds something other than a string (``where`` names the file or section).
    """
    names = set(known)
    out: dict[str, str] = {}
    for key, value in raw.items():
        if key not in names or value is None:
            continue  # users keep other things in config.json; ignore them
        if not isinstance(value, str):
            raise ConfigError(
                f'Config file {where}: "{key}" must be a string, not {type(value).__name__}. '
                f'Write it in quotes, e.g. "{key}": "..."'
            )
        if value.strip():
            out[key] = value.strip()
    return out


def _read_config(path: Path) -> dict[str, str]:
    raw = read_config_object(path)
    return string_settings(raw, ENV_VARS, str(path))


def load_settings(
    overrides: Mapping[str, str | None] | None = None,
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
    use_config_file: bool = True,
) -> Settings:
    """Resolve settings from, highest first: ``overrides``, environment, ``.env``, config file.

    Args:
        overrides: explicit values (None entries are ignored).
        config_file: a config file to read instead of the default search.
        env: the environment (defaults to ``os.environ``).
        dotenv_path: the ``.env`` file (defaults to ``./.env`` when present).
        use_config_file: set False to ignore config files entirely.

    Raises:
        ConfigError: a config file is unreadable, not JSON, or holds a wrongly typed value; a URL is malformed;
            an api_key or access_token holds a space, a line break or a character that is not printable ASCII.
    """
    env = os.environ if env is None else env
    values: dict[str, str] = {}
    sources: dict[str, str] = {}

    def layer(found: Mapping[str, str | None], label: str) -> None:
        for key, value in found.items():
            if value and key not in values:
                values[key] = value
                sources[key] = label if "{}" not in label else label.format(ENV_VARS.get(key, key))

    path = find_config_file(config_file) if use_config_file else None
    layer({k: v for k, v in (overrides or {}).items() if k in ENV_VARS}, "argument")
    layer({k: env.get(v) for k, v in ENV_VARS.items()}, "env {}")
    dotenv_file = dotenv_path or Path.cwd() / ".env"
    if dotenv_file.is_file():
        layer(_read_dotenv(dotenv_file), f"{dotenv_file} ({{}})")
        warn_if_tracked(dotenv_file)
    if path is not None:
        layer(_read_config(path), str(path))
        warn_if_tracked(path)
    for name in URL_SETTINGS:
        if name in values:
            check_url(values[name], f"{name} (from {sources[name]})")
    for name in HEADER_SETTINGS:
        if name in values:
            _check_header_value(name, values[name], sources[name])
    names = {f.name for f in fields(Settings)}
    settings = Settings(config_file=path, sources=sources, **{k: v for k, v in values.items() if k in names})
    return settings


#: Settings that hold URLs; each must be an http(s) URL with a host.
URL_SETTINGS = ("root", "login_url", "redirect_url")


#: Settings sent in an HTTP header (``Authorization: token api_key:access_token``, the ticker's URL): a line
#: break or a space there makes ``requests`` refuse to send, which would otherwise look like a network error.
HEADER_SETTINGS = ("api_key", "access_token")
_HEADER_SAFE = re.compile(r"[!-~]+")  # printable ASCII, no space


def _check_header_value(name: str, value: str, source: str) -> None:
    if _HEADER_SAFE.fullmatch(value):
        return
    shown = "" if name in SECRET_FIELDS else f" {value!r}"
    fix = (
        "Copy it again from the Kite developer console: it is letters and digits only."
        if name == "api_key"
        else "Remove it (kitekit login saves a session) or copy it again: it is letters and digits only."
    )
    raise ConfigError(
        f"The {name}{shown} (from {source}) contains a space, a line break or a character that is not "
        f"printable ASCII. {fix}"
    )


def check_url(url: str, what: str) -> str:
    """Return ``url`` if it is an http(s) URL with a host and a valid port.

    Raises:
        ConfigError: it is not; the message names ``what`` and shows the URL.
    """
    try:
        parts = urlsplit(url.strip())
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConfigError(
            f"The {what} is malformed: {url!r}. Give a full http(s) URL, like https://api.kite.trade "
            "or http://127.0.0.1:8000."
        )
    return url


def read_env_file(path: Path) -> dict[str, str | None]:
    """Return every variable a ``.env`` file sets, by variable name.

    Raises:
        ConfigError: the file cannot be read or is not UTF-8 text.
    """
    try:
        return dict(dotenv_values(path, encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}). Save it as UTF-8: KEY=value lines.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from None


def _read_dotenv(path: Path) -> dict[str, str | None]:
    """Return the kitekit settings a ``.env`` file sets, by setting name (ConfigError as :func:`read_env_file`)."""
    dotted = read_env_file(path)
    return {k: dotted.get(v) for k, v in ENV_VARS.items()}


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """Return ``settings`` with some fields replaced (recorded as coming from an argument)."""
    sources = {**settings.sources, **dict.fromkeys((k for k in changes if k in ENV_VARS), "argument")}
    return replace(settings, sources=sources, **changes)
