"""Deterministic randomness: counter-based hashes and per-key numpy generators.

Every random number in the simulated market is a pure function of (seed, keys), so the same clock time
always yields the same prices, whatever was asked before.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["generator", "hash_uniform", "key_of"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def key_of(text: str) -> int:
    """Return a stable 32-bit integer for a text key (Python's ``hash`` is salted per process)."""
    return zlib.crc32(text.encode())


def generator(seed: int, *keys: int) -> np.random.Generator:
    """Return a numpy Generator whose stream depends only on ``seed`` and ``keys``."""
    return np.random.default_rng([seed & 0xFFFFFFFF, *(k & 0xFFFFFFFF for k in keys)])


def _mix(x: np.ndarray) -> np.ndarray:
    # splitmix64 finaliser; uint64 array arithmetic wraps modulo 2**64, which is what we want.
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def hash_uniform(seed: int, *keys: np.ndarray | int) -> np.ndarray:
    """Return uniforms in [0, 1), one per broadcast element of ``keys``, as a pure function of the inputs."""
    arrays = [np.atleast_1d(np.asarray(k)).astype(np.uint64) for k in keys]
    shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else (1,)
    h = np.full(shape, np.uint64(seed & 0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    for a in arrays:
        h = _mix(h + _GOLDEN + np.broadcast_to(a, shape))
    return (h >> _S11).astype(np.float64) * (1.0 / 9007199254740992.0)
