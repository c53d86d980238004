"""Order postbacks: each order update POSTed as Kite posts it, from a background sender, with faults on demand.

The exchange publishes every order update to :class:`~kitekit.sim.updates.OrderUpdates`; the sender taps them
all, keeps those Kite posts (:data:`~kitekit.wire.postbacks.POSTBACK_STATUSES`: COMPLETE, CANCELLED, REJECTED,
UPDATE) and POSTs each one's raw JSON (already signed by the exchange) to ``config.url`` from its own thread.
Taking an update only schedules it, so a slow or dead receiver never holds the exchange up. Faults
(:class:`~kitekit.sim.config.PostbackConfig`, ``PUT /__sim/postbacks``) drop, duplicate, hold back (reorder),
delay and forge posts, as an unreliable network and a hostile one would; Kite itself never retries a post.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import math
import random
import threading
import time
from collections import Counter
from dataclasses import asdict, fields
from typing import Any
from urllib.parse import urlsplit

import requests

from kitekit.sim.config import PostbackConfig
from kitekit.wire.postbacks import POSTBACK_STATUSES, postback_checksum

__all__ = ["MAX_PENDING", "PostbackSender", "checked_setting"]

log = logging.getLogger("kitekit.sim.postbacks")

#: Posts waiting to go out at most; beyond, an update is dropped and counted (``overflow``) rather than queued.
MAX_PENDING = 100_000
_RATES = ("drop_rate", "duplicate_rate", "reorder_rate", "forge_rate")
_DELAYS = ("delay_ms", "jitter_ms", "reorder_hold_ms")
#: What a forged post claims instead (a forger's favourite: an order done that is not).
_FORGED_STATUS = {"COMPLETE": "CANCELLED", "CANCELLED": "COMPLETE", "REJECTED": "COMPLETE", "UPDATE": "COMPLETE"}


class PostbackSender:
    """Posts order updates to ``config.url`` in the background; thread-safe, reconfigurable at runtime.

    Counters (``counts``): ``offered`` updates Kite would post, and of those ``dropped``, ``duplicated``,
    ``reordered``, ``forged``, ``overflow``; genuine posts ``sent`` (answered 2xx) and ``refused`` (answered
    otherwise); forged ones ``forgeries_refused`` and ``forgeries_taken``; ``failed`` posts got no answer.
    ``answers`` counts every post by HTTP status.
    """

    def __init__(self, config: PostbackConfig | None = None) -> None:
        self.config = config or PostbackConfig()
        self._rng = random.Random(self.config.seed)  # noqa: S311 - fault dice, not cryptography
        self._lock = threading.Condition()
        self._pending: list[tuple[float, int, bytes, bool]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._busy = 0
        self._http = requests.Session()
        self.counts: Counter[str] = Counter()
        self.answers: Counter[int] = Counter()

    # -- configuration ------------------------------------------------------------------------------
    def update(self, **changes: Any) -> PostbackConfig:
        """Replace some settings (by :class:`PostbackConfig` field name) and return the new config.

        Every value is checked before any is applied, so a refused change leaves the settings as they were.

        Raises:
            ValueError: an unknown setting, or a value of the wrong type or range; the message says what is allowed.
        """
        known = {f.name for f in fields(PostbackConfig)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(
                f"unknown postback setting(s): {', '.join(sorted(unknown))}; use {', '.join(sorted(known))}"
            )
        merged = {**asdict(self.config), **{name: checked_setting(name, value) for name, value in changes.items()}}
        with self._lock:
            self.config = PostbackConfig(**merged)
            if "seed" in changes:
                self._rng = random.Random(self.config.seed)  # noqa: S311
            return self.config

    def clear_faults(self) -> PostbackConfig:
        """Remove every fault; the URL, the timeout and the seed are kept."""
        return self.update(**dict.fromkeys((*_RATES, "delay_ms", "jitter_ms"), 0.0))

    def pending(self) -> int:
        """Return how many posts wait to go out, or are going out now."""
        with self._lock:
            return len(self._pending) + self._busy

    # -- taking updates -----------------------------------------------------------------------------
    def offer(self, user_id: str, update: dict[str, Any]) -> None:
        """Schedule the post of one order update (an :attr:`OrderUpdates.taps` callable); return at once."""
        cfg = self.config
        if cfg.url is None or update.get("status") not in POSTBACK_STATUSES:
            return
        body = json.dumps(update, separators=(",", ":")).encode()
        with self._lock:
            self.counts["offered"] += 1
            rng = self._rng
            if rng.random() < cfg.drop_rate:
                self.counts["dropped"] += 1
                return
            hold = cfg.reorder_hold_ms / 1000 if rng.random() < cfg.reorder_rate else 0.0
            self.counts["reordered"] += int(hold > 0)
            copies = 2 if rng.random() < cfg.duplicate_rate else 1
            self.counts["duplicated"] += copies - 1
            for _ in range(copies):
                self._schedule(body, hold + self._delay(), genuine=True)
            if rng.random() < cfg.forge_rate:
                self.counts["forged"] += 1
                self._schedule(_forged(update), self._delay(), genuine=False)
            self._ensure_thread()

    def _delay(self) -> float:
        cfg = self.config
        return (cfg.delay_ms + (self._rng.uniform(0, cfg.jitter_ms) if cfg.jitter_ms else 0.0)) / 1000

    def _schedule(self, body: bytes, after: float, genuine: bool) -> None:
        if len(self._pending) >= MAX_PENDING:
            self.counts["overflow"] += 1
            return
        heapq.heappush(self._pending, (time.monotonic() + after, next(self._seq), body, genuine))
        self._lock.notify()

    # -- the sender thread --------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="kitekit-sim-postbacks", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the sender; posts still waiting are abandoned (as a crash of Kite's sender would)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._http.close()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (not self._pending or self._pending[0][0] > time.monotonic()):
                    wait = self._pending[0][0] - time.monotonic() if self._pending else None
                    self._lock.wait(wait)
                if self._closed:
                    return
                _, _, body, genuine = heapq.heappop(self._pending)
                url, timeout = self.config.url, self.config.timeout_s
                self._busy += 1
            try:
                self._post(url, body, timeout, genuine)
            finally:
                with self._lock:
                    self._busy -= 1

    def _post(self, url: str | None, body: bytes, timeout: float, genuine: bool) -> None:
        if url is None:
            return
        try:
            answer = self._http.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout)
        except requests.RequestException as exc:
            with self._lock:
                self.counts["failed"] += 1
            log.info("postback to %s failed: %s", url, type(exc).__name__)
            return
        with self._lock:
            self.answers[answer.status_code] += 1
            if genuine:
                self.counts["sent" if answer.ok else "refused"] += 1
            else:
                self.counts["forgeries_taken" if answer.ok else "forgeries_refused"] += 1


def _forged(update: dict[str, Any]) -> bytes:
    """Return a forged copy of ``update``: another status, and a checksum that is not the app's."""
    status = _FORGED_STATUS.get(str(update.get("status")), "COMPLETE")
    fake = {**update, "status": status}
    if status == "COMPLETE":
        fake.update(filled_quantity=update.get("quantity", 0), pending_quantity=0, unfilled_quantity=0)
    # Signed with a secret that is not the app's: only the app's api_secret makes a checksum the receiver takes.
    fake["checksum"] = postback_checksum(str(update.get("order_id")), str(update.get("order_timestamp")), "forger")
    return json.dumps(fake, separators=(",", ":")).encode()


def checked_setting(name: str, value: Any) -> Any:
    """Return a postback setting's value checked (as ``PUT /__sim/postbacks`` checks it).

    Raises:
        ValueError: the value's type or range is wrong for ``name``.
    """
    if name == "url":
        if value is None:
            return None
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an absolute http(s) URL, or null to stop posting")
        return value
    if name == "seed":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError("seed must be a whole number or null")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    number = float(value)
    if name in _RATES and not 0 <= number <= 1:
        raise ValueError(f"{name} must be a share between 0 and 1, got {number:g}")
    if name in _DELAYS and not 0 <= number <= 60_000:
        raise ValueError(f"{name} must be between 0 and 60000 ms, got {number:g}")
    if name == "timeout_s" and not 0 < number <= 60:
        raise ValueError(f"timeout_s must be above 0 and at most 60 seconds, got {number:g}")
    return number
