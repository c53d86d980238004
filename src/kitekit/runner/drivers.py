"""The drivers of the run loop, one per source of events: stored candles, recorded ticks, a live ticker.

Each brings the market to :class:`~kitekit.runner.core.RunCore` in time order and sets the run's clock; the core
does the rest, the same way in every mode. Bars from ticks are cut by :class:`TickBars` in a backtest of a
recording and live alike, by the ticks' own timestamps, so the same ticks make the same bars (and the same
orders) in both.
"""

from __future__ import annotations

import logging
import queue
import time as _time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.clock import IST
from kitekit.errors import RunError
from kitekit.orders import Order
from kitekit.runner.model import Bar
from kitekit.wire.history import Interval

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.runner.core import RunCore
    from kitekit.runner.market import TickQuotes
    from kitekit.runner.simbroker import BacktestBroker
    from kitekit.wire.recording import RecordingSource

__all__ = [
    "BarData",
    "LiveSource",
    "SimulatedClock",
    "TickBars",
    "interval_span",
    "load_recording",
    "merge_bars",
    "recording_of",
    "run_bars",
    "run_live",
    "run_ticks",
]

log = logging.getLogger("kitekit.runner")

_MINUTES = {
    "minute": 1,
    "3minute": 3,
    "5minute": 5,
    "10minute": 10,
    "15minute": 15,
    "30minute": 30,
    "60minute": 60,
}


def interval_span(interval: str) -> timedelta:
    """Return the length of one bar of a Kite interval (``day`` is a day).

    Raises:
        RunError: not one of Kite's intervals.
    """
    try:
        value = Interval(interval)
    except ValueError:
        raise RunError(f"{interval!r} is not an interval; use one of {', '.join(i.value for i in Interval)}") from None
    if value is Interval.DAY:
        return timedelta(days=1)
    return timedelta(minutes=_MINUTES[value.value])


class SimulatedClock:
    """A backtest's clock: the time of the event being handled, set by the driver (no lock: one thread)."""

    __slots__ = ("at",)

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        """Return the time of the event being handled."""
        return self.at


# -- bars ---------------------------------------------------------------------------------------------
@dataclass
class BarData:
    """Bars of several instruments merged in time order, as plain lists (a backtest walks them by index)."""

    starts: list[datetime]
    keys: list[str]
    tokens: list[int]
    opens: list[float]
    highs: list[float]
    lows: list[float]
    closes: list[float]
    volumes: list[int]

    def __len__(self) -> int:
        return len(self.starts)

    def tail(self, after: datetime) -> BarData:
        """Return the bars that start after ``after``."""
        import bisect

        i = bisect.bisect_right(self.starts, after)
        return BarData(*(column[i:] for column in self._columns()))

    def _columns(self) -> tuple[list[Any], ...]:
        return (self.starts, self.keys, self.tokens, self.opens, self.highs, self.lows, self.closes, self.volumes)


def merge_bars(frames: Mapping[str, pd.DataFrame], tokens: Mapping[str, int]) -> BarData:
    """Return the bars of every instrument's frame (``History.candles`` shape) in time order.

    At the same time instruments go in the order ``frames`` gives them.
    """
    import numpy as np
    import pandas as pd

    keys = [key for key, frame in frames.items() if len(frame)]
    if not keys:
        return BarData([], [], [], [], [], [], [], [])
    if len(keys) == 1:  # one instrument: already in time order
        key = keys[0]
        frame = frames[key]
        n = len(frame)
        o, h, lo, c = (frame[name].to_numpy(dtype=float).tolist() for name in ("open", "high", "low", "close"))
        volume = frame["volume"].to_numpy(dtype=np.int64).tolist()
        stamps = pd.DatetimeIndex(frame.index).as_unit("ns").asi8
        return BarData(_moments(stamps), [key] * n, [tokens[key]] * n, o, h, lo, c, volume)
    stamps = np.concatenate([pd.DatetimeIndex(frames[k].index).as_unit("ns").asi8 for k in keys])
    codes = np.concatenate([np.full(len(frames[k]), i, dtype=np.int64) for i, k in enumerate(keys)])
    order = np.lexsort((codes, stamps))

    def column(name: str) -> list[Any]:
        return np.concatenate([frames[k][name].to_numpy() for k in keys])[order].tolist()  # type: ignore[no-any-return]

    picked = codes[order].tolist()
    return BarData(
        _moments(stamps[order]),
        [keys[c] for c in picked],
        [tokens[keys[c]] for c in picked],
        column("open"),
        column("high"),
        column("low"),
        column("close"),
        [int(v) for v in column("volume")],
    )


def _moments(stamps: Any) -> list[datetime]:
    """Return sorted epoch nanoseconds as aware IST datetimes, fast: the first one, then a running sum of the gaps.

    ``DatetimeIndex.to_pydatetime`` asks the time zone for every element (~0.6 µs each). IST keeps one offset all
    year, so adding the gap between two bars to the previous datetime gives the same moment; the gaps take few
    values (a minute, a night, a weekend), each made into a timedelta once, and the sum runs in C.
    """
    import itertools
    import operator

    import numpy as np

    if not len(stamps):
        return []
    first = datetime.fromtimestamp(int(stamps[0]) // 10**9, IST) + timedelta(
        microseconds=int(stamps[0]) % 10**9 // 1000
    )
    gaps = np.diff(stamps) // 1000  # microseconds
    spans = {g: timedelta(microseconds=g) for g in np.unique(gaps).tolist()}
    return list(itertools.accumulate(map(spans.__getitem__, gaps.tolist()), operator.add, initial=first))


def run_bars(
    core: RunCore,
    broker: BacktestBroker,
    clock: SimulatedClock,
    data: BarData,
    span: timedelta,
    more: Callable[[datetime], BarData | None] | None = None,
    begin: int = 0,
    stop: int | None = None,
) -> int:
    """Drive a backtest through ``data[begin:stop]``; return how many bars it handled.

    Each bar is handled at its last second (a minute bar of 10:00 at 10:00:59): the broker's engine sees it
    first, then the book is marked and the strategy gets it, then the equity curve takes a point (once per moment
    when several instruments share it). ``more(now)`` returns the remaining bars again when the strategy added
    instruments (None when nothing changed).

    The loop is the backtest's hot path (hundreds of thousands of bars a second): what the core and the broker do
    for every bar is inlined here, and the rest is only reached when something is there to do (an order, a
    position, a timer, a session event). The equity curve is worked out again only after something that can
    move it (a mark of a position, an order, a session event), and kept where it changes.
    """
    import itertools

    last = span - timedelta(seconds=1)
    book = core.book
    by_token = book.by_token
    add_time = core.samples.times.append
    first_point = point = len(core.samples.times)
    changed_at: list[int] = []
    changed_to: list[tuple[float, bool]] = []
    capital = core.capital
    previous: tuple[float, bool] | None = None
    moved = True  # the equity may have moved since the last point
    make = tuple.__new__
    on_bar = core.strategy.on_bar
    last_bars, watched = broker.last_bars, broker.watched
    n = 0
    pending: datetime | None = None  # the moment whose point is still to be taken (its last bar may be next)
    while True:
        stop_at = len(data) if stop is None else min(stop, len(data))
        rows = itertools.islice(
            zip(data.starts, data.keys, data.tokens, data.opens, data.highs, data.lows, data.closes, data.volumes,
                strict=True),
            begin, stop_at,
        )  # fmt: skip
        restart: BarData | None = None
        for start, key, token, o, h, lo, c, v in rows:
            now = start + last
            if pending is not None and now != pending:
                add_time(pending)
                if moved:
                    current = (capital + book.realised + book.unrealised - book.charges, book.held > 0)
                    if current != previous:
                        changed_at.append(point)
                        changed_to.append(current)
                        previous = current
                    moved = False
                point += 1
            pending = now
            clock.at = now
            if now >= core.next_check:
                core.advance(now)
                moved = True
                if core.stopping:
                    break
            bar = make(Bar, (key, token, start, o, h, lo, c, v, span))
            if now >= broker.next_event or token in watched:
                broker.on_bar(bar, now)
                watched = broker.watched
                moved = True
                if broker.touched:
                    core.touched()
                    core.after()
            else:
                last_bars[token] = bar
            if token in by_token:
                book.mark(token, c)
                moved = True
                if core.checks_loss:
                    core.check_loss()
            if core.active:
                try:
                    on_bar(bar)
                except Exception as exc:
                    core.refused(exc)
                if core.dirty:
                    core.after()
                    watched = broker.watched
                    moved = True
                    if core.subscribed and more is not None:
                        core.subscribed = False
                        restart = more(now)
                        if restart is not None:
                            n += 1
                            break
            n += 1
        if restart is None or core.stopping:
            break
        data, begin, stop = restart, 0, None
    if pending is not None:
        add_time(pending)
        current = (capital + book.realised + book.unrealised - book.charges, book.held > 0)
        if current != previous:
            changed_at.append(point)
            changed_to.append(current)
        point += 1
    _fill_curve(core, first_point, point, changed_at, changed_to)
    return n


def _fill_curve(
    core: RunCore, first: int, end: int, changed_at: list[int], changed_to: list[tuple[float, bool]]
) -> None:
    """Write the equity curve's points ``first``…``end`` from where it changed (each value holds until the next)."""
    import numpy as np

    samples = core.samples
    if end <= first:
        return
    bounds = [*changed_at, end]
    counts = [bounds[k + 1] - bounds[k] for k in range(len(changed_at))]
    values = np.repeat(np.array([v for v, _ in changed_to], dtype=float), counts)
    held = np.repeat(np.array([h for _, h in changed_to], dtype=bool), counts)
    samples.equity.extend(values.tolist())
    samples.exposed.extend(held.tolist())


# -- ticks --------------------------------------------------------------------------------------------
class TickBars:
    """Bars cut from ticks by their exchange timestamps, closed by the data's own clock.

    A bar closes when a tick of a later bar of its instrument arrives, or once any instrument's ticks show the
    market ``grace`` past its end. Partial bars (the first of each instrument, begun before the first tick seen)
    are left out: they would differ with the moment the run started.
    """

    def __init__(self, minutes: int, keys: Mapping[int, str], span: timedelta, grace: timedelta = timedelta(seconds=2)):
        from kitekit.ticker import CandleBuilder

        self.builder = CandleBuilder(minutes=minutes)
        self.keys = keys
        self.span = span
        self.grace = grace
        self.seen: datetime | None = None

    def update(self, ticks: Sequence[Mapping[str, Any]], now: datetime) -> list[Bar]:
        """Fold a frame of ticks in; return the bars it closed, oldest first."""
        latest = _frame_time(ticks)
        if latest is not None and (self.seen is None or latest > self.seen):
            self.seen = latest
        closed = self.builder.update(list(ticks), received_at=self.seen or now)  # type: ignore[arg-type]
        if self.seen is not None:
            closed += self.builder.close_until(self.seen - self.grace)
        return self._bars(closed)

    def close(self) -> list[Bar]:
        """Close every bar still forming (the end of the data)."""
        if self.seen is None:
            return []
        return self._bars(self.builder.close_until(self.seen + self.span))

    def _bars(self, candles: Iterable[Any]) -> list[Bar]:
        out = []
        for c in candles:
            key = self.keys.get(c.instrument_token)
            if key is None or c.partial:
                continue
            out.append(Bar(key, c.instrument_token, c.start, c.open, c.high, c.low, c.close, c.volume, self.span))
        return out


def _frame_time(ticks: Iterable[Mapping[str, Any]]) -> datetime | None:
    """Return the latest exchange time among ticks (IST), None when none carries one."""
    latest = None
    for tick in ticks:
        stamp = tick.get("exchange_timestamp")
        if isinstance(stamp, datetime):
            # The SDK's tick times are naive local times of this machine (§15.6): astimezone() reads them so.
            moment = stamp.astimezone(IST)
            if latest is None or moment > latest:
                latest = moment
    return latest


def load_recording(
    folder: Path,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    broker: str = "kite",
    token: Callable[[str], int | None] | None = None,
) -> list[tuple[datetime, list[dict[str, Any]]]]:
    """Return a tick recording's frames as (time, ticks), oldest first: each frame decoded as ``KiteTicker`` would.

    A frame's time is the latest exchange timestamp of its ticks (the time it was received when none has one).
    Kite's recordings are decoded from their frames; another broker's (``kitekit --broker upstox record``) are
    read from their typed columns into the same dicts a live run on that broker's feed gets
    (:class:`~kitekit.runner.brokered.FeedTicker`), each tick under ``token(key)``, the run's token of its
    ``EXCHANGE:SYMBOL`` (a tick of an instrument the run does not know, None, is left out, as live).

    Args:
        folder: the recording folder.
        start: the first moment kept.
        end: the last moment kept.
        broker: the run's data broker: the recording must be of its feed (tokens are never guessed across).
        token: the run's token of a neutral key (needed for another broker's recording).

    Raises:
        RunError: the folder holds no recording, or no ticks between the dates.
        BrokerFeatureError: it is a recording of another broker's feed than ``broker``'s (names both).
    """
    source = recording_of(folder, broker)
    try:
        frames = _kite_frames(folder) if source.kite else _feed_frames(folder, token)
    except Exception as exc:  # pyarrow's errors: a damaged or foreign file
        raise RunError(f"{folder} holds a file that is not a tick recording ({exc})") from None
    out = []
    for received, ticks in frames:
        moment = _frame_time(ticks) or datetime.fromtimestamp(received / 1e9, UTC).astimezone(IST)
        if (start is not None and moment < start) or (end is not None and moment > end):
            continue
        out.append((moment, ticks))
    if not out:
        raise RunError(f"{folder} holds no ticks between the dates asked for")
    return out


def recording_of(folder: Path, broker: str) -> RecordingSource:
    """Return whose feed a tick recording holds, checked to be ``broker``'s (from its files' metadata alone).

    Raises:
        RunError: the folder holds no recording, a file that is not one, or several brokers' recordings.
        BrokerFeatureError: it is a recording of another broker's feed (the message names both).
    """
    from kitekit.brokers.registry import entry
    from kitekit.errors import BrokerFeatureError, TickerError
    from kitekit.wire.recording import recording_source

    try:
        source = recording_source(folder)
    except (FileNotFoundError, NotADirectoryError):
        raise RunError(f"{folder} is not a tick recording folder (written by `kitekit record`)") from None
    except TickerError as exc:
        raise RunError(str(exc)) from None
    except Exception as exc:  # pyarrow's errors: a damaged or foreign file
        raise RunError(f"{folder} holds a file that is not a tick recording ({exc})") from None
    if source.broker == broker:
        return source
    theirs, ours = entry(source.broker).label, entry(broker).label
    raise BrokerFeatureError(
        f"{folder} is a recording of {theirs}'s feed, and this backtest's data comes from {ours}: its tokens are "
        f"{theirs}'s. Backtest it with --broker {source.broker} (or record {ours}'s feed)."
    )


def _kite_frames(folder: Path) -> list[tuple[int, list[dict[str, Any]]]]:
    from kitekit.errors import TickerError
    from kitekit.wire.recording import frames_of, read_recording
    from kitekit.wire.ticks import decode_ticks

    out = []
    for received, frame in frames_of(read_recording(folder)):
        try:
            out.append((received, decode_ticks(frame)))
        except TickerError:
            continue
    return out


def _feed_frames(folder: Path, token: Callable[[str], int | None] | None) -> list[tuple[int, list[dict[str, Any]]]]:
    from kitekit.brokers.recording import read_feed_recording
    from kitekit.runner.brokered import kite_tick

    if token is None:
        raise RunError(f"{folder} is another broker's recording: the run's tokens of its instruments are needed")
    out = []
    for received, ticks in read_feed_recording(folder).frames:
        shaped = [kite_tick(t, n) for t in ticks if (n := token(t.key)) is not None]
        if shaped:
            out.append((received, shaped))
    return out


def run_ticks(
    core: RunCore,
    broker: BacktestBroker,
    clock: SimulatedClock,
    frames: Sequence[tuple[datetime, list[dict[str, Any]]]],
    bars: TickBars,
) -> int:
    """Drive a backtest through recorded frames; return how many frames it handled.

    Per frame, as live: the broker judges the ticks, the run books what changed, then closed bars and the frame
    go to the strategy.
    """
    n = 0
    for now, ticks in frames:
        if clock.at > now:
            now = clock.at  # a late frame never moves the run's time back
        clock.at = now
        if now >= core.next_check:
            core.advance(now)
            if core.stopping:
                break
        broker.on_ticks(ticks, now)
        if broker.touched:
            core.touched()
            core.after()
        for bar in bars.update(ticks, now):
            core.deliver_bar(bar)
        core.deliver_ticks(ticks)
        core.sample(now)
        n += 1
    for bar in bars.close():
        core.deliver_bar(bar)
    return n


# -- live ---------------------------------------------------------------------------------------------
def _stop_on_signals(asked: list[str]) -> Callable[[], None]:
    """Make Ctrl-C and SIGTERM ask the live loop to stop (a second Ctrl-C interrupts); return how to undo it.

    Only the main thread may install handlers: elsewhere (a library calling from a thread) nothing changes.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        if asked and signum == signal.SIGINT:
            raise KeyboardInterrupt
        asked.append("interrupted (Ctrl-C)" if signum == signal.SIGINT else "terminated (SIGTERM)")

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


@dataclass
class LiveSource:
    """What a paper or live run listens to: the ticker, the quotes it keeps, and the paper broker (paper only)."""

    ticker: Any
    quotes: TickQuotes
    paper: Any = None
    poll_every: float = 2.0


def run_live(
    core: RunCore,
    source: LiveSource,
    bars: TickBars,
    *,
    until: datetime | None = None,
    status: Callable[[RunCore], None] | None = None,
    status_every: float = 0.5,
    sample_every: timedelta = timedelta(minutes=1),
    cancel_on_stop: bool = True,
    flatten_on_stop: bool = False,
) -> str:
    """Run on the live ticker until ``until`` (the run's time), a kill, Ctrl-C or SIGTERM; return why it ended.

    Ticks and order updates arrive on the ticker's thread and are handled here, on the caller's, one at a time.
    Ctrl-C (and SIGTERM) ask the loop to stop between two events, so no order call is cut in the middle; a second
    Ctrl-C interrupts at once. Either way the run stops cleanly: its open orders cancelled, its state saved.

    Raises:
        SessionExpiredError: the ticker stopped on a dead session (the run is stopped first).
    """
    asked: list[str] = []
    restore = _stop_on_signals(asked)
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    ticker = source.ticker
    ticker.on_ticks = lambda ticks: events.put(("ticks", ticks))
    ticker.on_order_update = lambda payload: events.put(("order", payload))
    tokens = [core.token_of(k) for k in core.symbols]
    ticker.subscribe(tokens, mode="full")
    ticker.start()
    reason = "the run was stopped"
    next_poll = next_status = 0.0
    last_sample = core.clock.now()
    try:
        while True:
            try:
                kind, payload = events.get(timeout=0.1)
            except queue.Empty:
                kind, payload = "", None
            if asked:
                reason = asked[0]
                break
            now = core.clock.now()
            core.advance(now)
            if core.stopping:
                reason = core.stopping
                break
            if kind == "ticks":
                source.quotes.update(payload)
                if source.paper is not None:
                    source.paper.on_ticks(payload)
                    if core.working:
                        core.touched()
                core.after()
                for bar in bars.update(payload, now):
                    core.deliver_bar(bar)
                    core.sample(now)
                    last_sample = now
                core.deliver_ticks(payload)
            elif kind == "order":
                core.process(Order.from_kite(payload))
                core.after()
            wall = _time.monotonic()
            if wall >= next_poll:
                next_poll = wall + source.poll_every
                if core.working:
                    core.touched()
                    core.after()
                if now - last_sample >= sample_every:
                    core.sample(now)
                    last_sample = now
            if status is not None and wall >= next_status:
                next_status = wall + status_every
                status(core)
            if ticker.error is not None:
                raise ticker.error
            if until is not None and now >= until:
                reason = "the run's time is up"
                break
            for name in core.subscribed_keys():
                ticker.subscribe([core.token_of(name)], mode="full")
    except KeyboardInterrupt:
        reason = "interrupted (Ctrl-C)"
        raise
    finally:
        restore()
        ticker.stop()
        core.stop(reason, cancel_orders=cancel_on_stop, flatten=flatten_on_stop)
        if status is not None:
            status(core)
    return reason
