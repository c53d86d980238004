"""Where kitekit keeps things: the user's config, cache and data folders, and each simulator's folder in them.

``KITEKIT_CONFIG_DIR``, ``KITEKIT_CACHE_DIR`` and ``KITEKIT_DATA_DIR`` move the folders (tests give each run
its own). When a simulator is chosen for the whole process (``KITE_SIM=1``, ``KITE_SIM_URL``), :func:`data_dir`
and :func:`cache_dir` answer that simulator's folder instead, so every public class keeps its sessions, ledgers,
journals, candles and dumps there, apart from real ones, with no path changed in the user's code.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

__all__ = [
    "base_cache_dir",
    "base_data_dir",
    "cache_dir",
    "config_dir",
    "data_dir",
    "env_sim",
    "sim_home",
]


def config_dir() -> Path:
    """Return the user's kitekit config directory (platformdirs), e.g. ``~/.config/kitekit``."""
    return Path(os.environ.get("KITEKIT_CONFIG_DIR") or platformdirs.user_config_dir("kitekit"))


def base_cache_dir() -> Path:
    """Return the user's kitekit cache directory, whatever simulator is chosen, e.g. ``~/.cache/kitekit``."""
    return Path(os.environ.get("KITEKIT_CACHE_DIR") or platformdirs.user_cache_dir("kitekit"))


def base_data_dir() -> Path:
    """Return the user's kitekit data directory, whatever simulator is chosen, e.g. ``~/.local/share/kitekit``."""
    return Path(os.environ.get("KITEKIT_DATA_DIR") or platformdirs.user_data_dir("kitekit"))


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def env_sim() -> tuple[bool, str | None]:
    """Return whether the environment chooses a simulator (``KITE_SIM``, ``KITE_SIM_URL``), and its URL if any."""
    url = os.environ.get("KITE_SIM_URL") or None
    return bool(url) or _truthy(os.environ.get("KITE_SIM")), url


def sim_home(url: str | None, state: Path | None = None) -> Path:
    """Return the folder a simulator's world, sessions and data live in.

    Each simulator gets its own: the embedded one (``url`` None; ``state`` or ``KITE_SIM_STATE`` moves it) and
    each running ``kitekit sim`` by host and port. A login on one then never ends, overwrites or invalidates a
    session saved for another.
    """
    if url is None:
        given = state or (Path(os.environ["KITE_SIM_STATE"]) if os.environ.get("KITE_SIM_STATE") else None)
        return given if given is not None else base_data_dir() / "sim" / "embedded"
    parts = urlsplit(url)
    port = parts.port if parts.port is not None else 80
    return base_data_dir() / "sim" / f"{parts.hostname or 'localhost'}_{port}"


def data_dir() -> Path:
    """Return where kitekit keeps sessions, ledgers, journals and candles (a chosen simulator's own folder)."""
    chosen, url = env_sim()
    return sim_home(url) if chosen else base_data_dir()


def cache_dir() -> Path:
    """Return where kitekit keeps instrument dumps (a chosen simulator's own cache folder)."""
    chosen, url = env_sim()
    return sim_home(url) / "cache" if chosen else base_cache_dir()
