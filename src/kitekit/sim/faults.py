"""Fault injection: added latency, failing requests and dropped connections, and order placements gone wrong."""

from __future__ import annotations

import math
import random
import threading
from dataclasses import asdict, fields
from enum import StrEnum
from typing import Any

from kitekit.sim.config import FaultConfig, OrderFaultConfig

__all__ = ["MAX_LATENCY_MS", "ORDER_ERROR_STATUSES", "Fault", "FaultInjector", "OrderFault", "OrderFaults"]

#: The longest latency or jitter the admin API accepts: a minute, far past any client's timeout already.
MAX_LATENCY_MS = 60_000.0
_RATES = ("network_error_rate", "data_error_rate", "html_502_rate", "drop_rate")
_ORDER_RATES = ("drop_rate", "error_rate", "reject_rate")
#: The 5xx answers an accepted order may get, each with its error type (docs/protocol.md §2.1).
ORDER_ERROR_STATUSES = (500, 502, 503, 504)
#: How many scripted order faults ``next`` may hold.
_MAX_NEXT = 10_000


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
        """Replace some settings (by FaultConfig field name) and return the new config.

        Every value is checked before any is applied, so a refused change leaves the faults as they were.

        Raises:
            ValueError: an unknown setting, or a value of the wrong type or out of range; the message says
                what is allowed.
        """
        known = {f.name for f in fields(FaultConfig)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}; use {', '.join(sorted(known))}")
        merged = {**asdict(self.config), **{name: _checked(name, value) for name, value in changes.items()}}
        rates = sum(merged[name] for name in _RATES)
        if rates > 1:
            raise ValueError(f"the fault rates add up to {rates:g}; together they must stay within 0..1")
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


def _checked(name: str, value: Any) -> Any:
    """Return a fault setting's value checked and normalised.

    Raises:
        ValueError: the value's type or range is wrong for ``name``.
    """
    if name == "paths":
        if not isinstance(value, list | tuple) or not all(isinstance(p, str) and p.startswith("/") for p in value):
            raise ValueError('paths must be a list of path prefixes like ["/quote", "/orders"]')
        return tuple(value)
    if name == "seed":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError("seed must be a whole number or null")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    number = float(value)
    rate = name.endswith("_rate")
    if rate and not 0 <= number <= 1:
        raise ValueError(f"{name} must be a share between 0 and 1, got {number:g}")
    if not rate and not 0 <= number <= MAX_LATENCY_MS:
        raise ValueError(f"{name} must be between 0 and {MAX_LATENCY_MS:g} ms, got {number:g}")
    return number


class OrderFault(StrEnum):
    """What goes wrong with one order placement."""

    DROP = "drop"  # accepted, then the connection is closed without an answer
    ERROR = "error"  # accepted, then a 5xx answer
    REJECT = "reject"  # 429, not accepted
    NONE = "none"  # a scripted placement that goes through normally


class OrderFaults:
    """Decides how each order placement goes wrong, if at all; reconfigurable at runtime, thread-safe."""

    def __init__(self, config: OrderFaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.config = config or OrderFaultConfig()
        self._next = list(self.config.next)
        self._rng = random.Random(self.config.seed)  # noqa: S311 - fault dice, not cryptography
        self.injected: dict[OrderFault, int] = dict.fromkeys(OrderFault, 0)

    @staticmethod
    def check(changes: dict[str, Any], current: OrderFaultConfig) -> OrderFaultConfig:
        """Return ``current`` with ``changes`` applied, every value checked first.

        Raises:
            ValueError: an unknown setting or a value of the wrong type or range; the message says what is allowed.
        """
        known = {f.name for f in fields(OrderFaultConfig)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(
                f"unknown order fault setting(s): {', '.join(sorted(unknown))}; use {', '.join(sorted(known))}"
            )
        merged = asdict(current)
        for name, value in changes.items():
            if name in (*_ORDER_RATES, "ack_delay_ms", "seed"):
                merged[name] = _checked(name, value)
            elif name == "error_status":
                if not isinstance(value, int) or isinstance(value, bool) or value not in ORDER_ERROR_STATUSES:
                    raise ValueError(f"error_status must be one of {', '.join(map(str, ORDER_ERROR_STATUSES))}")
                merged[name] = value
            else:
                allowed = {f.value for f in OrderFault}
                if (
                    not isinstance(value, list | tuple)
                    or len(value) > _MAX_NEXT
                    or not all(isinstance(v, str) and v in allowed for v in value)
                ):
                    raise ValueError(f"next must be a list of at most {_MAX_NEXT} of {', '.join(sorted(allowed))}")
                merged[name] = tuple(value)
        rates = sum(merged[name] for name in _ORDER_RATES)
        if rates > 1:
            raise ValueError(f"the order fault rates add up to {rates:g}; together they must stay within 0..1")
        return OrderFaultConfig(**merged)

    def update(self, **changes: Any) -> OrderFaultConfig:
        """Apply checked changes (see :meth:`check`); ``next`` replaces the scripted queue.

        Raises:
            ValueError: a change is refused; nothing is applied then.
        """
        with self._lock:
            self.config = self.check(changes, self.config)
            if "next" in changes:
                self._next = list(self.config.next)
            if "seed" in changes:
                self._rng = random.Random(self.config.seed)  # noqa: S311
            return self.config

    def clear(self) -> OrderFaultConfig:
        """Remove every order fault (the seed is kept)."""
        with self._lock:
            self.config = OrderFaultConfig(seed=self.config.seed)
            self._next = []
            return self.config

    def pending(self) -> list[str]:
        """Return the scripted faults not yet used."""
        with self._lock:
            return list(self._next)

    def draw(self) -> OrderFault | None:
        """Return the fault for the next placement (a scripted one first), or None."""
        with self._lock:
            if self._next:
                fault = OrderFault(self._next.pop(0))
            else:
                cfg, fault = self.config, None
                roll = self._rng.random() if cfg.drop_rate or cfg.error_rate or cfg.reject_rate else 1.0
                for kind, rate in ((OrderFault.DROP, cfg.drop_rate), (OrderFault.ERROR, cfg.error_rate),
                                   (OrderFault.REJECT, cfg.reject_rate)):  # fmt: skip
                    if roll < rate:
                        fault = kind
                        break
                    roll -= rate
            if fault is None or fault is OrderFault.NONE:
                return None
            self.injected[fault] += 1
            return fault
