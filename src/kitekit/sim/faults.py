"""Fault injection: added latency, failing requests and dropped connections, on demand."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, fields
from enum import StrEnum
from typing import Any

from kitekit.sim.config import FaultConfig

__all__ = ["Fault", "FaultInjector"]


class Fault(StrEnum):
    """What goes wrong with one request."""

    NETWORK = "network"  # 503 NetworkException
    DATA = "data"  # 502 DataException
    HTML_502 = "html502"  # 502 text/html
    DROP = "drop"  # connection closed, no response


class FaultInjector:
    """Decides, per request, whether and how it fails and how long it waits; reconfigurable at runtime."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.config = config or FaultConfig()
        self._rng = random.Random(self.config.seed)  # noqa: S311 - fault dice, not cryptography
        self.injected: dict[Fault, int] = dict.fromkeys(Fault, 0)

    def update(self, **changes: Any) -> FaultConfig:
        """Replace some settings (by FaultConfig field name) and return the new config."""
        known = {f.name for f in fields(FaultConfig)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        merged = {**asdict(self.config), **changes}
        merged["paths"] = tuple(merged.get("paths") or ())
        for name in (
            "latency_ms",
            "jitter_ms",
            "network_error_rate",
            "data_error_rate",
            "html_502_rate",
            "drop_rate",
        ):
            value = float(merged[name])
            if value < 0 or (name.endswith("rate") and value > 1):
                raise ValueError(f"{name} must be {'0..1' if name.endswith('rate') else '>= 0'}, got {value}")
            merged[name] = value
        with self._lock:
            self.config = FaultConfig(**merged)
            if "seed" in changes:
                self._rng = random.Random(self.config.seed)  # noqa: S311
            return self.config

    def applies(self, path: str) -> bool:
        """Return True if faults are configured for ``path``."""
        prefixes = self.config.paths
        return not prefixes or any(path.startswith(p) for p in prefixes)

    def delay_s(self) -> float:
        """Return the latency to add to one request, in seconds."""
        cfg = self.config
        if not cfg.latency_ms and not cfg.jitter_ms:
            return 0.0
        with self._lock:
            jitter = self._rng.uniform(0, cfg.jitter_ms) if cfg.jitter_ms else 0.0
        return (cfg.latency_ms + jitter) / 1000.0

    def draw(self) -> Fault | None:
        """Roll the dice for one request and return the fault to inject, if any."""
        cfg = self.config
        table = (
            (Fault.NETWORK, cfg.network_error_rate),
            (Fault.DATA, cfg.data_error_rate),
            (Fault.HTML_502, cfg.html_502_rate),
            (Fault.DROP, cfg.drop_rate),
        )
        if not any(rate for _, rate in table):
            return None
        with self._lock:
            roll = self._rng.random()
            for fault, rate in table:
                if roll < rate:
                    self.injected[fault] += 1
                    return fault
                roll -= rate
        return None
