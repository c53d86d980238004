"""The simulator's day builds kept on disk, so that only the first process of a day pays for them.

A day's universe (115k rows) and its dumps (Kite's CSV, Upstox's JSON) take seconds to make, and every process
that starts a simulator made them again: each ``kitekit --sim`` command, each simulator a test suite starts in a
child process. They are pure functions of the seed, the day and this code, so they are kept in a folder under
those three: ``KITEKIT_SIM_CACHE`` (``off`` keeps nothing), else ``sim/`` in kitekit's cache folder. The code's
part is a hash of kitekit's sources, so an upgrade or an edit never reads a stale build.

A kept file is written atomically and read whole; one that cannot be read back (damaged, another numpy) is made
again and replaced. Keeping is best effort: a folder that cannot be written leaves the simulator building in
memory as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import io
import logging
import os
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np

from kitekit.files import atomic_write, ensure_dir
from kitekit.paths import base_cache_dir
from kitekit.sim.market.universe import Universe

__all__ = ["ENV", "folder", "read_or_make", "universe"]

log = logging.getLogger("kitekit.sim.stored")

#: The environment variable naming the folder (``off``: keep nothing).
ENV = "KITEKIT_SIM_CACHE"
_OFF = frozenset({"", "0", "off", "no", "false"})
_KEPT = 16  # files kept in the folder; the least recently written go first (a day has a handful)
_SOURCES = Path(__file__).resolve().parents[2]  # src/kitekit

# The universe's columns, read off its fields (the annotations are strings under postponed evaluation): a column
# added to Universe is kept without a second list here to forget.
_ARRAYS = tuple(f.name for f in dataclasses.fields(Universe) if f.type == "np.ndarray")
_TEXTS = tuple(f.name for f in dataclasses.fields(Universe) if f.type == "list[str]")


def folder() -> Path | None:
    """Return the folder day builds are kept in, or None when ``KITEKIT_SIM_CACHE`` turns keeping off."""
    value = os.environ.get(ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value)
    return base_cache_dir() / "sim"


@functools.cache
def fingerprint() -> str:
    """Return a hash of kitekit's sources: a build made by other code (an upgrade, an edit) is never read.

    All of them, not just the simulator's: its prices use the shared option maths, its calendar the client's
    holiday table, and a missed dependency would serve a stale build silently. Reading them takes milliseconds.
    """
    digest = hashlib.sha256()
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):  # an install without sources: its version
        digest.update(importlib.metadata.version("kitekit").encode())
    for path in sorted(_SOURCES.rglob("*.py")):
        digest.update(path.relative_to(_SOURCES).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def read_or_make(name: str, make: Callable[[], bytes], check: Callable[[bytes], object] | None = None) -> bytes:
    """Return the bytes kept under ``name``, or make, keep and return them.

    ``name`` must say everything the bytes depend on but the code (the seed, the day, what they are). ``check``
    raises ``ValueError`` for kept bytes that cannot be used; they are made again and replaced.
    """
    where = folder()
    if where is None:
        return make()
    path = where / f"{name}-{fingerprint()}"
    try:
        data = path.read_bytes()
        if check is not None:
            check(data)
        return data
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        log.info("a kept simulator build %s could not be read (%s); making it again", path.name, exc)
    data = make()
    _keep(path, data)
    return data


def universe(seed: int, day: date, build: Callable[[], Universe]) -> Universe:
    """Return the universe of ``seed`` on ``day``: read from the folder, else built with ``build`` and kept."""
    made: list[Universe] = []

    def make() -> bytes:
        made.append(build())
        return _encode(made[0])

    which = f"{seed}-{day.isoformat()}"
    data = read_or_make(f"universe-{which}", make, _decode)
    uni = made[0] if made else _decode(data)
    uni.keep = lambda name, make: read_or_make(f"{name}-{which}", make)
    return uni


def _encode(uni: Universe) -> bytes:
    out = io.BytesIO()
    columns: dict[str, np.ndarray] = {k: getattr(uni, k) for k in _ARRAYS}
    for k in _TEXTS:  # one string per column: a fixed-width unicode array would be four times the size
        columns[k] = np.frombuffer("\n".join(getattr(uni, k)).encode(), dtype=np.uint8)
    columns["as_of"] = np.array(uni.as_of.isoformat())
    np.savez(out, allow_pickle=False, **columns)
    return out.getvalue()


def _decode(data: bytes) -> Universe:
    """Return the universe of kept bytes.

    Raises:
        ValueError: not a universe this code wrote (damaged, truncated, another layout).
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in _ARRAYS}
            texts = {k: z[k].tobytes().decode().split("\n") for k in _TEXTS}
            as_of = date.fromisoformat(str(z["as_of"]))
    except (KeyError, OSError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not a kept universe: {exc}") from None
    if any(len(v) != len(arrays["token"]) for v in (*arrays.values(), *texts.values())):
        raise ValueError("not a kept universe: columns of different lengths")
    return Universe(as_of=as_of, **arrays, **texts)


def _keep(path: Path, data: bytes) -> None:
    try:
        ensure_dir(path.parent)
        atomic_write(path, data)
        kept = sorted(path.parent.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[_KEPT:]:
            old.unlink(missing_ok=True)
    except OSError as exc:  # read-only, full, another user's: the simulator goes on building in memory
        log.info("could not keep the simulator build %s (%s)", path.name, exc)
