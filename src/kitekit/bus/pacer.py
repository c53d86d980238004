"""The pacer shared by every process and host: GCRA per (api_key, endpoint class) in one Lua script on Redis.

The SQLite :class:`~kitekit.rest.pacer.Pacer` shares one machine's budget through a file and each process's
wall clock. Across hosts neither holds: clocks differ by seconds, and a file is not shared. Here the whole
reservation, ``tat = max(tat, now) + interval``, runs as one script inside Redis, with ``now`` read from the
server's ``TIME``: the only clock that counts is the server's, so clients whose clocks are skewed by seconds
cannot over-admit. The script answers how long to wait, which a client sleeps on its own monotonic time.

With no burst, requests of a class are at least ``1 / (rate * (1 - margin))`` apart on the server's clock, so
order placement at 9.8 a second never puts more than Kite's 10 into any calendar second.

It fails closed: while Redis cannot be reached no permit is given and nothing is sent; :meth:`acquire` keeps
trying for ``max_outage`` seconds, then raises :class:`~kitekit.errors.BusUnavailableError`. A bucket Redis no
longer holds (first use, or a server restarted without persistence) cannot tell when its last permit went
out. Reservations are therefore never handed out more than ``ahead`` seconds beyond the server's now (a caller
further back in the queue is told to ask again later, holding nothing), and a bucket starts ``ahead`` in the
future: every slot given out before a restart has passed before the first one after it.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from kitekit.bus.connect import redis_client, shown_url
from kitekit.errors import BusUnavailableError
from kitekit.wire.routes import DEFAULT_RATES, EndpointClass

if TYPE_CHECKING:
    import redis

__all__ = ["RedisPacer"]

log = logging.getLogger("kitekit.bus.pacer")

#: Redis key of one bucket; the value is its theoretical arrival time in microseconds of the server's clock.
KEY = "kitekit:pacer:{api_key}:{cls}"

# KEYS[1] the bucket; ARGV: interval (us), "take" or "cool", pause (us), horizon (us), idle expiry (ms), ahead (us).
# Returns the microseconds the caller waits before sending (0 for "cool"), or minus the microseconds after which
# to ask again when the next slot lies more than `ahead` away (nothing is reserved then).
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local ahead = tonumber(ARGV[6])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat - now > tonumber(ARGV[4]) then
  tat = now + ahead
end
local wait = 0
if ARGV[2] == 'take' then
  local slot = math.max(tat, now)
  if slot - now > ahead then
    return -math.max(1, math.ceil(slot - now - ahead))
  end
  tat = slot + interval
  wait = slot - now
else
  tat = math.max(tat, now + tonumber(ARGV[3]))
end
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', tonumber(ARGV[5]))
return wait
"""

#: How far ahead of now a slot may lie before it counts as damaged (as the SQLite pacer's horizon).
_HORIZON_INTERVALS = 600
#: A bucket left idle this long is dropped; its next first permit waits one interval.
_IDLE_MS = 24 * 3600 * 1000
#: Lateness always forgiven (seconds): a sleep overshoots by a fraction of a millisecond even on an idle machine.
_LATE_FLOOR = 0.002
#: Slots one call may give up for waking too late, before it sends late rather than not at all.
_MAX_MISSED = 3
#: Pauses between tries while Redis is unreachable: short at first, then once a second.
_RETRY = (0.05, 0.1, 0.2, 0.5, 1.0)


class RedisPacer:
    """Send-time reservations per (api_key, endpoint class), shared by every process on one Redis server.

    The same interface as :class:`~kitekit.rest.pacer.Pacer`, so :func:`kitekit.rest.client.default_pacer`
    returns one when ``KITEKIT_PACER`` is a ``redis://`` URL.

    Args:
        url: the Redis server, ``redis://host:port/db``.
        rates: requests per second per class; classes not given keep Kite's limits (a rate of 0: unpaced).
        margin: share of each limit kept in reserve (default 2%).
        cooldown: seconds a class pauses, for every process on the server, after a 429 got through anyway.
        max_outage: seconds :meth:`acquire` waits for an unreachable Redis before refusing.
        ahead: the furthest ahead of now a slot is handed out (seconds; at least two intervals). It is also the
            wait for the first slot of a fresh bucket (first use, or after Redis lost its memory in a restart).
        client: a Redis client to use instead of one opened from ``url`` (tests).
        sleep: how to wait, injectable for tests.
        clock: wall-clock time, used only to express :meth:`reserve`'s answer as a time.

    Raises:
        ValueError: a negative rate, cooldown or max_outage, or a margin outside [0, 1).
        ConfigError: ``url`` is not a Redis URL.
        BusUnavailableError: the ``redis`` package is not installed.
    """

    def __init__(
        self,
        url: str,
        rates: Mapping[EndpointClass, float] | None = None,
        margin: float = 0.02,
        cooldown: float = 1.0,
        max_outage: float = 30.0,
        ahead: float = 1.0,
        client: redis.Redis | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rates: dict[EndpointClass, float] = {**DEFAULT_RATES, **(rates or {})}
        if any(rate < 0 for rate in self.rates.values()):
            raise ValueError(f"rates must be >= 0 requests per second, got {self.rates}")
        if not 0 <= margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {margin}")
        if cooldown < 0 or max_outage < 0:
            raise ValueError(f"cooldown and max_outage must be >= 0 seconds, got {cooldown} and {max_outage}")
        self.url = url
        self.margin = margin
        self.cooldown = cooldown
        self.max_outage = max_outage
        self.ahead = ahead
        self.sleep = sleep
        self.clock = clock
        self._client = client if client is not None else redis_client(url)
        self._script = self._client.register_script(_SCRIPT)
        self._down_since: float | None = None  # monotonic time Redis was first found unreachable
        self._lock = threading.Lock()
        #: Permits taken, slots given up because this process woke too late for them, and tries that found
        #: Redis unreachable (for tests and benchmarks).
        self.permits = 0
        self.missed = 0
        self.outage_tries = 0

    # -- the Pacer interface -------------------------------------------------------------------------
    def interval(self, cls: EndpointClass) -> float:
        """Return the seconds between two requests of ``cls`` (0 when the class is unpaced)."""
        rate = self.rates.get(cls, 0.0)
        return 0.0 if rate <= 0 else 1.0 / (rate * (1.0 - self.margin))

    def reserve(self, api_key: str, cls: EndpointClass) -> float:
        """Take the next free slot of (api_key, cls) without waiting.

        Returns:
            This host's wall-clock time the request may be sent at.

        Raises:
            BusUnavailableError: Redis stayed unreachable for ``max_outage`` seconds (nothing may be sent).
        """
        return self.clock() + self._take(api_key, cls)

    def acquire(self, api_key: str, cls: EndpointClass) -> float:
        """Reserve a slot of (api_key, cls) and sleep until it comes.

        A slot this process wakes up for later than ``margin`` of an interval (descheduled on a loaded machine)
        is given up and the next one taken, so no two requests of the class leave closer than ``1 / rate``.

        Returns:
            The seconds this call waited for its slot (not counting a wait for an unreachable Redis).

        Raises:
            BusUnavailableError: Redis stayed unreachable for ``max_outage`` seconds (nothing may be sent).
        """
        waited = 0.0
        for tries in itertools.count(1):
            wait = self._take(api_key, cls)
            slot = time.monotonic() + wait
            if wait > 0:
                self.sleep(wait)
                waited += wait
            # A slot missed by more than the margin (this process was descheduled, a loaded machine) would
            # leave less than 1/rate before the next process's slot: give it up and take the next one.
            # At most a few, so a machine that stays overloaded still gets its calls out.
            late = time.monotonic() - slot
            if late <= max(self.margin * self.interval(cls), _LATE_FLOOR) or tries > _MAX_MISSED:
                return waited
            with self._lock:
                self.missed += 1
            log.debug("missed a %s slot by %.3fs; taking the next one", cls, late)
        raise AssertionError("unreachable: itertools.count() never ends")

    def cool_down(self, api_key: str, cls: EndpointClass, seconds: float | None = None) -> None:
        """Push the next slot of (api_key, cls) at least ``seconds`` (default ``cooldown``) past now, for everyone.

        When Redis cannot be reached the pause is only logged: the next :meth:`acquire` waits for Redis anyway.
        """
        pause = self.cooldown if seconds is None else seconds
        interval = self.interval(cls) or 1.0
        try:
            self._run(api_key, cls, "cool", interval, pause)
        except BusUnavailableError as exc:
            log.warning("could not pause %s calls of %s for every process: %s", cls, api_key, exc)

    def observe(self, api_key: str, date: str | None, sent: float, received: float) -> None:
        """Learn nothing from Kite's ``Date`` header: requests of a class leave at least ``1 / rate`` apart on
        Redis's clock with no burst, so no more than the per-second cap can reach Kite in any of its seconds."""

    def close(self) -> None:
        """Close the connection pool (it reopens on the next use)."""
        self._client.close()

    def __enter__(self) -> RedisPacer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        rates = ", ".join(f"{cls}={rate:g}/s" for cls, rate in self.rates.items())
        return f"RedisPacer({self._where()}, {rates}, margin={self.margin:g})"

    # -- the script ------------------------------------------------------------------------------------
    def _take(self, api_key: str, cls: EndpointClass) -> float:
        interval = self.interval(cls)
        if not interval:
            return 0.0
        started = time.monotonic()
        slept = 0.0  # counted too, so an injected sleep (tests) ends the outage wait as a real one does
        for attempt in itertools.count():
            try:
                wait = self._run(api_key, cls, "take", interval, 0.0)
                if wait < 0:  # the queue is full as far as `ahead` reaches: ask again when it has moved on
                    self.sleep(-wait)
                    continue
            except BusUnavailableError:
                waited = max(slept, time.monotonic() - started)
                if waited >= self.max_outage:
                    raise
                pause = min(_RETRY[min(attempt, len(_RETRY) - 1)], self.max_outage - waited)
                self.sleep(pause)
                slept += pause
                continue
            with self._lock:
                self.permits += 1
            return wait
        raise AssertionError("unreachable: itertools.count() never ends")

    def _run(self, api_key: str, cls: EndpointClass, op: str, interval: float, pause: float) -> float:
        """Run the script once; return the wait in seconds. Raises BusUnavailableError when Redis is unreachable."""
        import redis

        key = KEY.format(api_key=api_key, cls=cls.value)
        horizon = (_HORIZON_INTERVALS * interval + self.cooldown + pause) * 1e6
        ahead = max(self.ahead, 2 * interval)
        args: list[int | str] = [
            round(interval * 1e6),
            op,
            round(pause * 1e6),
            round(horizon),
            _IDLE_MS,
            round(ahead * 1e6),
        ]
        try:
            answer = self._script(keys=[key], args=args)
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError) as exc:
            with self._lock:
                self.outage_tries += 1
                first = self._down_since is None
                if first:
                    self._down_since = time.monotonic()
            if first:
                log.warning(
                    "The shared pacer at %s cannot be reached (%s): no Kite call is sent until it answers "
                    "(or %gs pass, then calls fail).",
                    self._where(),
                    type(exc).__name__,
                    self.max_outage,
                )
            raise BusUnavailableError(
                f"the shared pacer at {self._where()} cannot be reached ({type(exc).__name__}); nothing was sent. "
                "Start Redis again, or unset KITEKIT_PACER to pace on this machine only."
            ) from exc
        with self._lock:
            down, self._down_since = self._down_since, None
        if down is not None:
            log.warning("The shared pacer at %s answers again after %.1fs.", self._where(), time.monotonic() - down)
        return int(answer) / 1e6

    def _where(self) -> str:
        return shown_url(self.url)
