"""Feed faults on demand: what the admin API may ask for, checked completely before anything changes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["MALFORMED_FRAME", "MAX_FAULT_SECONDS", "FeedFault", "FeedFaultKind", "parse_fault"]

#: The longest stall or refusal the admin API accepts: a day.
MAX_FAULT_SECONDS = 86_400.0

#: What the malformed-frame fault sends: a frame that declares a 44-byte quote packet but carries 20 bytes.
#: The SDK misreads or drops it; kitekit's decoder refuses it (TickFrameError).
MALFORMED_FRAME = b"\x00\x01\x00\x2c" + bytes(20)


class FeedFaultKind(StrEnum):
    """A fault of the WebSocket feed."""

    DROP = "drop"  # close every open connection at once, with no closing handshake
    STALL = "stall"  # open connections send nothing, not even heartbeats, for ``seconds``
    MALFORMED = "malformed"  # send one malformed binary frame on every open connection
    REFUSE = "refuse"  # refuse new connections (HTTP 503 at the upgrade) for ``seconds``


@dataclass(frozen=True)
class FeedFault:
    """One fault to inject: its kind and, for a stall or a refusal, how long it lasts."""

    kind: FeedFaultKind
    seconds: float = 0.0


_TIMED = (FeedFaultKind.STALL, FeedFaultKind.REFUSE)


def parse_fault(body: Any) -> FeedFault:
    """Return the fault ``POST /__sim/feed/faults`` asks for: ``{"fault": kind, "seconds": n}``.

    Raises:
        ValueError: not a JSON object, an unknown key, an unknown fault, ``seconds`` missing for a stall or
            a refusal, given to a fault that takes none, or not a finite number above 0 and at most a day.
            The message says what is allowed.
    """
    kinds = ", ".join(kind.value for kind in FeedFaultKind)
    if not isinstance(body, dict):
        raise ValueError(f'send a JSON object like {{"fault": "stall", "seconds": 10}}; faults: {kinds}')
    unknown = set(body) - {"fault", "seconds"}
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(sorted(map(str, unknown)))}; use fault and seconds")
    try:
        kind = FeedFaultKind(str(body.get("fault")))
    except ValueError:
        raise ValueError(f"fault must be one of {kinds}, got {body.get('fault')!r}") from None
    if kind not in _TIMED:
        if "seconds" in body:
            raise ValueError(f"{kind.value} happens at once and takes no seconds")
        return FeedFault(kind)
    seconds = body.get("seconds")
    if seconds is None:
        raise ValueError(f"{kind.value} needs seconds: how long it lasts (at most {MAX_FAULT_SECONDS:g})")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise ValueError(f"seconds must be a finite number, got {seconds!r}")
    if not 0 < seconds <= MAX_FAULT_SECONDS:
        raise ValueError(f"seconds must be above 0 and at most {MAX_FAULT_SECONDS:g}, got {seconds:g}")
    return FeedFault(kind, float(seconds))
